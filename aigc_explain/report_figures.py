"""Report figures: training curves, confusion matrices, ROC and PR curves, the results table, the
two-run comparison panel and frequency spectra.

Every function returns a matplotlib ``Figure`` (save it with ``figures.save_figure``), sized for a
slide, with labelled axes, titles and colour bars. Inputs are plain arrays and dicts, so figures can
be redrawn from saved files alone; nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .figures import CMAP, pyplot
from .regions import region_masks

DIVERGING = "RdBu_r"  # differences: red where A (or the first class) is higher, blue where lower, white at 0
_SLIDE_W = 12.0


def curves_figure(histories: dict[str, dict[str, np.ndarray]]):
    """Loss and accuracy per epoch for each training run: train dashed, validation solid."""
    from matplotlib.ticker import MaxNLocator

    plt = pyplot()
    if not histories:
        raise ValueError("curves_figure needs at least one training history")
    fig, axes = plt.subplots(1, 2, figsize=(_SLIDE_W, 4.5))
    for i, (name, h) in enumerate(histories.items()):
        colour = f"C{i % 10}"
        for ax, metric in zip(axes, ("loss", "acc")):
            ax.plot(h["epoch"], h[f"train_{metric}"], "--o", color=colour, label=f"{name} train", ms=4)
            ax.plot(h["epoch"], h[f"val_{metric}"], "-o", color=colour, label=f"{name} val", ms=4)
    for ax, ylabel in zip(axes, ("loss", "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{ylabel} per epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def confusion_figure(matrices: dict[str, np.ndarray]):
    """One 2x2 panel per prediction source: colour = share of the true class, text = count and share."""
    plt = pyplot()
    if not matrices:
        raise ValueError("confusion_figure needs at least one confusion matrix")
    fig, axes = plt.subplots(1, len(matrices), figsize=(4.2 * len(matrices) + 0.8, 4.0), squeeze=False)
    for ax, (name, cm) in zip(axes[0], matrices.items()):
        cm = np.asarray(cm)
        rates = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
        im = ax.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0)
        for (r, c), count in np.ndenumerate(cm):
            ax.text(c, r, f"{count}\n({rates[r, c]:.1%})", ha="center", va="center",
                    color="white" if rates[r, c] > 0.5 else "black", fontsize=11)
        ax.set_xticks([0, 1], ["real", "fake"])
        ax.set_yticks([0, 1], ["real", "fake"])
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{name}\naccuracy {np.trace(cm) / max(cm.sum(), 1):.3f} (n={cm.sum()})")
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    fig.tight_layout()
    return fig


def _curve_figure(sources: dict[str, tuple[np.ndarray, np.ndarray]], kind: str):
    from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_curve

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    for i, (name, (labels, probs)) in enumerate(sources.items()):
        if kind == "roc":
            fpr, tpr, _ = roc_curve(labels, probs)
            ax.plot(fpr, tpr, color=f"C{i % 10}", label=f"{name} (AUC {auc(fpr, tpr):.3f})")
        else:
            precision, recall, _ = precision_recall_curve(labels, probs)
            ap = average_precision_score(labels, probs)
            ax.step(recall, precision, where="post", color=f"C{i % 10}", label=f"{name} (AP {ap:.3f})")
            ax.axhline(np.mean(labels), color=f"C{i % 10}", ls=":", lw=1)
    if kind == "roc":
        ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="chance")
    names = {"roc": ("false positive rate (real called fake)", "true positive rate (fakes caught)", "ROC curve"),
             "pr": ("recall (fakes caught)", "precision (of images called fake)", "precision-recall (dotted: chance)")}
    xlabel, ylabel, title = names[kind]
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right" if kind == "roc" else "lower left")
    fig.tight_layout()
    return fig


def roc_figure(sources: dict[str, tuple[np.ndarray, np.ndarray]]):
    """ROC curves, one per prediction source (labels 0/1, probability of fake), AUC in the legend."""
    return _curve_figure(_labelled(sources), "roc")


def pr_figure(sources: dict[str, tuple[np.ndarray, np.ndarray]]):
    """Precision-recall curves with AP in the legend; a dotted line marks each source's prevalence."""
    return _curve_figure(_labelled(sources), "pr")


def _labelled(sources: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    kept = {k: (np.asarray(y), np.asarray(p)) for k, (y, p) in sources.items()
            if (np.asarray(y) == 0).any() and (np.asarray(y) == 1).any()}
    if not kept:
        raise ValueError("ROC/PR curves need predictions with both real and fake labels")
    return kept


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def table_figure(header: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str = "results"):
    """The results table as a picture for slides (the same cells as ``markdown_table``)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(_SLIDE_W, 0.6 + 0.35 * (len(rows) + 1)))
    ax.axis("off")
    table = ax.table(cellText=[[str(v) for v in r] for r in rows] or [["—"] * len(header)], colLabels=list(header),
                     loc="center", cellLoc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(10)
    table.auto_set_column_width(list(range(len(header))))
    table.scale(1.0, 1.6)
    for (r, _), cell in table.get_celld().items():
        if r == 0:
            cell.set_text_props(weight="bold")
            cell.set_facecolor("#dde6f0")
    ax.set_title(title)
    return fig


def _outline(ax, shape: tuple[int, int], regions: dict[str, float], colour: str = "white") -> None:
    masks = region_masks(*shape, corner_frac=regions["corner_frac"], center_frac=regions["center_frac"])
    for name in ("corner", "center"):
        ax.contour(masks[name].astype(float), levels=[0.5], colors=colour, linewidths=0.8)


def _map_panel(ax, image: np.ndarray, title: str, **imshow: Any):
    im = ax.imshow(image, **imshow)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    return im


def _share_panel(ax, values: dict[str, np.ndarray], group: dict[str, Any]) -> None:
    """Per-image corner shares of both runs (dots), mean with its bootstrap 95% interval (bar)."""
    rng = np.random.default_rng(0)  # horizontal jitter only
    for i, (label, v) in enumerate(values.items()):
        ax.scatter(i + rng.uniform(-0.18, 0.18, v.size), v, s=6, alpha=0.35, color=f"C{i}")
        s = group["corner_share"][label]
        if s["mean"] is not None:
            lo, hi = s["ci95"]
            ax.errorbar([i + 0.32], [s["mean"]], yerr=[[s["mean"] - lo], [hi - s["mean"]]], fmt="D", color="black",
                        capsize=4, ms=5)
    c = group["counts"]
    ax.set_xticks(range(len(values)), [f"{k}\nn={c[k]['n']}, empty={c[k]['n_empty']}" for k in values], fontsize=8)
    test = group["corner_share"]["test"]
    p = "n/a" if test["p_permutation"] is None else f"{test['p_permutation']:.3g}"
    pm = "n/a" if test["p_mann_whitney"] is None else f"{test['p_mann_whitney']:.3g}"
    ax.set_title(f"corner share per image (◆ mean, 95% CI)\n{' vs '.join(values)}: p_perm={p}, p_MW={pm}", fontsize=10)
    ax.set_ylabel("corner / (corner + centre)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlim(-0.6, len(values) - 0.3)
    ax.grid(axis="y", alpha=0.3)


def mean_cam_figure(maps: dict[str, np.ndarray], regions: dict[str, float], *, title: str = ""):
    """One run's per-class mean CAMs side by side on one colour scale with one colour bar; corner
    squares and centre outlined (``regions``: the run's corner_frac and center_frac)."""
    plt = pyplot()
    if not maps:
        raise ValueError("mean_cam_figure needs at least one map")
    vmax = max(max(float(np.max(m)) for m in maps.values()), 1e-12)
    fig, axes = plt.subplots(1, len(maps), figsize=(3.8 * len(maps) + 1.2, 4.0), squeeze=False, layout="constrained")
    for ax, (name, m) in zip(axes[0], maps.items()):
        im = _map_panel(ax, m, name, cmap=CMAP, vmin=0.0, vmax=vmax)
        _outline(ax, m.shape, regions)
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.9, label="share of CAM mass per pixel")
    if title:
        fig.suptitle(title)
    return fig


def _comparison_row(fig, row, g: str, data: dict[str, Any], comparison: dict[str, Any], vmax: float,
                    dmax: float) -> None:
    la, lb = comparison["labels"]
    for ax in row[:3]:
        ax.axis("off")
    maps = data["maps"].get(g)
    if maps is not None:
        counts = comparison["classes"][g]["counts"]
        for ax, label in zip(row[:2], (la, lb)):
            ax.axis("on")
            title = f"{label} / {g}\nn={counts[label]['n']}, empty={counts[label]['n_empty']}"
            im = _map_panel(ax, maps[label], title, cmap=CMAP, vmin=0.0, vmax=vmax)
            _outline(ax, maps[label].shape, data["regions"])
        fig.colorbar(im, ax=row[:2].tolist(), shrink=0.9, label="share of CAM mass per pixel")
        row[2].axis("on")
        dim = _map_panel(row[2], maps[la] - maps[lb], f"{la} − {lb} / {g}", cmap=DIVERGING, vmin=-dmax, vmax=dmax)
        _outline(row[2], maps[la].shape, data["regions"], colour="grey")
        fig.colorbar(dim, ax=row[2], shrink=0.9, label="difference of mass per pixel")
    _share_panel(row[3], data["values"][g], comparison["classes"][g])


def comparison_figure(data: dict[str, Any], comparison: dict[str, Any]):
    """Per class (rows): both runs' mean CAMs on one shared scale, A − B on a diverging scale centred
    at 0, and the per-image corner shares with mean and 95% interval. ``data`` is
    ``comparison.panel_data(...)``, ``comparison`` is ``comparison.compare_runs(...)``."""
    plt = pyplot()
    la, lb = comparison["labels"]
    groups = [g for g in data["values"] if g in comparison["classes"]]
    groups = [g for g in groups if g != "all"] or groups  # real and fake when the runs are labelled
    maps = {g: data["maps"][g] for g in groups if g in data["maps"]}
    vmax = max([float(np.max(m)) for pair in maps.values() for m in pair.values()] + [1e-12])
    dmax = max([float(np.abs(pair[la] - pair[lb]).max()) for pair in maps.values()] + [1e-12])
    fig, axes = plt.subplots(len(groups), 4, figsize=(15.0, 3.6 * len(groups) + 0.6), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 1, 1, 1.25]}, layout="constrained")
    for row, g in zip(axes, groups):
        _comparison_row(fig, row, g, data, comparison, vmax, dmax)
    fig.suptitle(f"mean CAMs and corner share: {la} vs {lb} (outlines: corner squares and centre)")
    return fig


def spectrum_1d_figure(spectra: dict[str, dict[str, np.ndarray]]):
    """Mean ± std azimuthal log power spectrum per class; below, each class minus the first one.
    ``spectra[name]`` holds ``freq`` (cycles/pixel), ``mean``, ``std`` and ``n``."""
    plt = pyplot()
    if not spectra:
        raise ValueError("spectrum_1d_figure needs at least one class")
    names = list(spectra)
    rows = 2 if len(names) > 1 else 1
    fig, axes = plt.subplots(rows, 1, figsize=(10.0, 4.0 * rows), squeeze=False, sharex=True)
    ax = axes[0, 0]
    for i, name in enumerate(names):
        s = spectra[name]
        ax.plot(s["freq"], s["mean"], color=f"C{i}", label=f"{name} (n={int(s['n'])})")
        ax.fill_between(s["freq"], s["mean"] - s["std"], s["mean"] + s["std"], color=f"C{i}", alpha=0.2)
    ax.set(ylabel="log power (mean ± std)", title="azimuthally averaged log power spectrum")
    ax.legend()
    ax.grid(alpha=0.3)
    base = spectra[names[0]]
    for i, name in enumerate(names[1:], start=1):
        s = spectra[name]
        if s["freq"].shape == base["freq"].shape and np.allclose(s["freq"], base["freq"]):
            axes[1, 0].plot(s["freq"], s["mean"] - base["mean"], color=f"C{i}", label=f"{name} − {names[0]}")
    if rows == 2:
        axes[1, 0].axhline(0.0, color="grey", lw=1)
        axes[1, 0].set(ylabel="difference of mean log power", title=f"difference to {names[0]}")
        axes[1, 0].legend()
        axes[1, 0].grid(alpha=0.3)
    axes[-1, 0].set_xlabel("spatial frequency (cycles per pixel; 0.5 = Nyquist)")
    fig.tight_layout()
    return fig


def _freq_extent(shape: tuple[int, int]) -> tuple[float, float, float, float]:
    """imshow extent in cycles/pixel of an fftshifted spectrum (pixel (i, j) is at ((i-h//2)/h, (j-w//2)/w))."""
    h, w = shape
    return ((-(w // 2) - 0.5) / w, (w - 1 - w // 2 + 0.5) / w, (h - 1 - h // 2 + 0.5) / h, (-(h // 2) - 0.5) / h)


def spectrum_2d_figure(maps: dict[str, np.ndarray], counts: dict[str, int]):
    """Mean 2-D log power spectrum per class on one scale; plus the second class minus the first
    (diverging, centred at 0) when two classes share a size."""
    plt = pyplot()
    names = list(maps)
    if not names:
        raise ValueError("spectrum_2d_figure needs at least one class")
    diff = len(names) == 2 and maps[names[0]].shape == maps[names[1]].shape
    n_panels = len(names) + int(diff)
    fig, axes = plt.subplots(1, n_panels, figsize=(4.6 * n_panels, 4.2), squeeze=False)
    lo = min(float(m.min()) for m in maps.values())
    hi = max(float(m.max()) for m in maps.values())
    for ax, name in zip(axes[0], names):
        extent = _freq_extent(maps[name].shape)
        im = ax.imshow(maps[name], cmap="magma", vmin=lo, vmax=hi, extent=extent)
        ax.set(title=f"{name} (n={counts[name]})", xlabel="horizontal frequency (cycles/pixel)",
               ylabel="vertical frequency (cycles/pixel)")
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="mean log power")
    if diff:
        d = maps[names[1]] - maps[names[0]]
        m = max(float(np.abs(d).max()), 1e-12)
        im = axes[0, -1].imshow(d, cmap=DIVERGING, vmin=-m, vmax=m, extent=extent)
        axes[0, -1].set(title=f"{names[1]} − {names[0]}", xlabel="horizontal frequency (cycles/pixel)")
        fig.colorbar(im, ax=axes[0, -1], fraction=0.046, pad=0.04, label="difference of mean log power")
    fig.suptitle("mean 2-D log power spectrum (DC at the centre)")
    fig.tight_layout()
    return fig
