"""Report panels: training curves, confusion matrices, ROC and PR curves and the two-run comparison panel.

Every function returns a matplotlib ``Figure`` (save it with ``figures.save_figure``), sized for a
slide, with labelled axes, titles and colour bars. Inputs are plain arrays and dicts, so figures can
be redrawn from saved files alone; nothing here imports torch.
"""

from __future__ import annotations

import numpy as np

from aigc_explain.reporting.figures import CMAP, DIVERGING, SLIDE_WIDTH, map_panel, outline_regions, pyplot
from aigc_explain.analysis.comparison import PanelData
from aigc_explain.runs.comparison_summary import ClassComparison, ComparisonSummary


def curves_figure(histories: dict[str, dict[str, np.ndarray]]):
    """Loss and accuracy per epoch for each training run: train dashed, validation solid."""
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    if not histories:
        raise ValueError("curves_figure needs at least one training history")
    fig, axes = plt.subplots(1, 2, figsize=(SLIDE_WIDTH, 4.5), layout="constrained")  # room for a suptitle
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


def _share_panel(ax, values: dict[str, np.ndarray], group: ClassComparison) -> None:
    """Per-image corner shares of both runs (dots), mean with its bootstrap 95% interval (bar)."""
    rng = np.random.default_rng(0)  # horizontal jitter only
    for i, (label, v) in enumerate(values.items()):
        ax.scatter(i + rng.uniform(-0.18, 0.18, v.size), v, s=6, alpha=0.35, color=f"C{i}")
        s = group.corner_share.per_run[label]
        if s.mean is not None:
            lo, hi = s.ci95
            ax.errorbar([i + 0.32], [s.mean], yerr=[[s.mean - lo], [hi - s.mean]], fmt="D", color="black",
                        capsize=4, ms=5)
    c = group.counts
    ax.set_xticks(range(len(values)), [f"{k}\nn={c[k].n}, empty={c[k].n_empty}" for k in values], fontsize=8)
    test = group.corner_share.test
    p = "n/a" if test.p_permutation is None else f"{test.p_permutation:.3g}"
    pm = "n/a" if test.p_mann_whitney is None else f"{test.p_mann_whitney:.3g}"
    tests = "not measurable at this layer" if group.not_measurable else f"p_perm={p}, p_MW={pm}"
    ax.set_title(f"corner share per image (◆ mean, 95% CI)\n{' vs '.join(values)}: {tests}", fontsize=10)
    ax.set_ylabel("corner share = corner / (corner + centre)")
    ax.yaxis.set_label_position("right")  # clear of the difference map's colour bar on the left
    ax.yaxis.tick_right()
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlim(-0.6, len(values) - 0.3)
    ax.grid(axis="y", alpha=0.3)


def _comparison_row(fig, row, g: str, data: PanelData, comparison: ComparisonSummary, vmax: float,
                    dmax: float) -> None:
    la, lb = comparison.labels
    for ax in row[:3]:
        ax.axis("off")
    maps = data.maps.get(g)
    if maps is not None:
        counts = comparison.classes[g].counts
        for ax, label in zip(row[:2], (la, lb)):
            ax.axis("on")
            title = f"{label} / {g}\nn={counts[label].n}, empty={counts[label].n_empty}"
            im = map_panel(ax, maps[label], title, cmap=CMAP, vmin=0.0, vmax=vmax)
            outline_regions(ax, maps[label].shape, data.regions)
        fig.colorbar(im, ax=row[:2].tolist(), shrink=0.9, label="share of CAM mass per pixel")
        row[2].axis("on")
        dim = map_panel(row[2], maps[la] - maps[lb], f"{la} − {lb} / {g}", cmap=DIVERGING, vmin=-dmax, vmax=dmax)
        outline_regions(row[2], maps[la].shape, data.regions, colour="grey")
        fig.colorbar(dim, ax=row[2], shrink=0.9, label="difference of mass per pixel")
    _share_panel(row[3], data.values[g], comparison.classes[g])


def comparison_finding(comparison: ComparisonSummary, group: str = "fake") -> str:
    """The comparison's finding in one line, for a title: which run puts more attention in the corners."""
    la, lb = comparison.labels
    classes = comparison.classes
    group = group if group in classes else next(iter(classes))
    cs = classes[group].corner_share
    a, b, p = cs.per_run[la].mean, cs.per_run[lb].mean, cs.test.p_permutation
    if classes[group].not_measurable:
        return f"{group}: corner share of {la} vs {lb} is not measurable at this layer"
    if a is None or b is None:
        return f"corner share of {la} vs {lb} ({group}): undefined"
    more, less = (la, lb) if a > b else (lb, la)
    clear = p is not None and p < 0.05
    verb = "looks more at the corners than" if clear else "does not clearly differ in corner share from"
    return (f"{group}: {more if clear else la} {verb} {less if clear else lb} (corner share {a:.2f} vs {b:.2f}, "
            f"p_perm={'n/a' if p is None else f'{p:.2g}'})")


def comparison_figure(data: PanelData, comparison: ComparisonSummary):
    """Per class (rows): both runs' mean CAMs on one shared scale, A − B on a diverging scale centred
    at 0, and the per-image corner shares with mean and 95% interval. ``data`` is
    ``comparison.panel_data(...)``, ``comparison`` is ``comparison.compare_runs(...)``."""
    plt = pyplot()
    la, lb = comparison.labels
    groups = [g for g in data.values if g in comparison.classes]
    groups = [g for g in groups if g != "all"] or groups  # real and fake when the runs are labelled
    maps = {g: data.maps[g] for g in groups if g in data.maps}
    vmax = max([float(np.max(m)) for pair in maps.values() for m in pair.values()] + [1e-12])
    dmax = max([float(np.abs(pair[la] - pair[lb]).max()) for pair in maps.values()] + [1e-12])
    fig, axes = plt.subplots(len(groups), 4, figsize=(15.0, 3.6 * len(groups) + 0.6), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 1, 1, 1.25]}, layout="constrained")
    for row, g in zip(axes, groups):
        _comparison_row(fig, row, g, data, comparison, vmax, dmax)
    fig.get_layout_engine().set(wspace=0.05)
    differ = "; ".join(d.describe("differs") for d in comparison.differences)
    same = comparison.images.same
    notes = [n for n in (differ, "" if same else "different image sets") if n]
    fig.suptitle(comparison_finding(comparison) + "\n(outlines: corner squares and centre" +
                 (f"; {'; '.join(notes)})" if notes else ")"))
    return fig
