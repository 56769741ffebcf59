"""Figures of the trust checks: the sanity check's similarity curves and example maps, deletion/insertion
curves, robustness sweeps and cross-domain matrices. Drawn from the checks' json files alone (no torch)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from aigc_explain.reporting.figures import format_cell, pyplot
from aigc_explain.runs.check_summaries import FaithfulnessSummary, PlantedRow, SanitySummary
from aigc_explain.runs.robustness_summary import RobustnessRow

_AXIS = {"jpeg": "JPEG quality", "blur": "Gaussian blur sigma (px)", "resize": "downscale factor"}
_WEAKER_IS_LARGER = {"jpeg", "resize"}  # a larger quality / factor is a weaker perturbation
MAX_ROWS_PER_MODE = 24  # the sanity examples figure thins longer schedules evenly (first and last step kept)


def _values(parts: Sequence[Any], key: str) -> np.ndarray:
    """The field ``key`` of each record (a row's metrics or its CAM shift), NaN where it is None."""
    return np.array([np.nan if getattr(p, key) is None else float(getattr(p, key)) for p in parts])


def _errorbar(ax, x, parts: Sequence[Any], key: str, label: str, fmt: str) -> None:
    y, lo, hi = _values(parts, key), _values(parts, f"{key}_lo"), _values(parts, f"{key}_hi")
    ax.errorbar(x, y, yerr=np.abs(np.vstack([y - lo, hi - y])), fmt=fmt, capsize=3, label=label)


def _by_strength(rows: list[RobustnessRow], kind: str) -> list[RobustnessRow]:
    """Clean first, then this kind's settings from weakest to strongest."""
    part = sorted((r for r in rows if r.kind == kind), key=lambda r: r.value, reverse=kind in _WEAKER_IS_LARGER)
    return [r for r in rows if r.kind == "clean"] + part


def robustness_figure(rows: list[RobustnessRow]):
    """One column per kind, x = clean then weakest to strongest setting: accuracy (with CI), AP and
    real/fake accuracy; rows with CAM columns add a second row: map correlations and Δ corner share."""
    plt = pyplot()
    kinds = list(dict.fromkeys(r.kind for r in rows if r.kind != "clean")) or ["clean"]
    has_cam = rows[0].cam is not None
    fig, axes = plt.subplots(2 if has_cam else 1, len(kinds), figsize=(4.2 * len(kinds), 3.6 * (1 + has_cam)),
                             squeeze=False)
    for col, kind in enumerate(kinds):
        part = _by_strength(rows, kind) if kind != "clean" else rows[:1]
        x = np.arange(len(part))
        ax, metrics = axes[0, col], [r.metrics for r in part]
        _errorbar(ax, x, metrics, "accuracy", "accuracy", "o-")
        for key, style in (("average_precision", "s-"), ("real_acc", "^:"), ("fake_acc", "v:")):
            ax.plot(x, _values(metrics, key), style, label=key)
        ax.set(ylim=(0, 1.02), title=kind, ylabel="metric")
        if has_cam:
            cax, shifts = axes[1, col], [r.cam for r in part]
            _errorbar(cax, x, shifts, "cam_pearson", "CAM Pearson r", "o-")
            _errorbar(cax, x, shifts, "cam_spearman", "CAM Spearman ρ", "s-")
            _errorbar(cax, x, shifts, "corner_share_delta", "Δ corner share", "^-")
            cax.axhline(0, color="grey", linewidth=1)
            cax.set(ylim=(-1.02, 1.02), ylabel="clean vs perturbed CAM")
        labels = ["clean"] + [f"{r.value:g}" for r in part[1:]]
        for a in axes[:, col]:
            a.set_xticks(x, labels)
            a.set_xlabel(_AXIS.get(kind, ""))
    for a in axes[:, 0]:
        a.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


def cross_domain_figure(accuracy: list[list[float | None]], rows: list[str], cols: list[str], *,
                        ap: list[list[float | None]] | None = None, title: str = "accuracy (train × test domain)"):
    """Heatmap of accuracy, rows = checkpoints, columns = test data, each cell annotated (and with AP)."""
    plt = pyplot()
    acc = np.array([[np.nan if v is None else v for v in row] for row in accuracy], dtype=np.float64)
    fig, ax = plt.subplots(figsize=(1.8 + 1.7 * len(cols), 1.2 + 1.0 * len(rows)))
    im = ax.imshow(acc, cmap="RdYlGn", vmin=0.0, vmax=1.0)
    for i in range(acc.shape[0]):
        for j in range(acc.shape[1]):
            text = format_cell(accuracy[i][j])
            if ap is not None:
                text += f"\nAP {format_cell(ap[i][j])}"
            ax.text(j, i, text, ha="center", va="center", fontsize=9)
    ax.set_xticks(range(len(cols)), cols, rotation=20, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    ax.set(xlabel="test data", ylabel="checkpoint (train domain)", title=title)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="accuracy")
    fig.tight_layout()
    return fig


def sanity_curve_figure(summary: SanitySummary):
    """Mean similarity (95% bootstrap band) per randomisation step, one line per metric, one panel per
    schedule; x tick labels name the block randomised at that step. Drawn from sanity.json alone."""
    plt = pyplot()
    original = summary.steps[0]
    modes = [m for m in ("cascading", "independent") if summary.schedule(m)]
    fig, axes = plt.subplots(1, max(1, len(modes)), squeeze=False, layout="constrained",
                             figsize=(max(6.0, 0.32 * len(summary.blocks) + 3) * max(1, len(modes)) / 1.4, 4.2))
    for ax, mode in zip(axes[0], modes):
        steps = [original] + summary.schedule(mode)
        xs = np.arange(len(steps))
        for metric in summary.metrics:
            mean = np.array([_num(s.similarity[metric].mean) for s in steps])
            lo, hi = (np.array([_num(s.similarity[metric].ci95[k]) for s in steps]) for k in (0, 1))
            ax.plot(xs, mean, marker="o", markersize=3, label=metric)
            ax.fill_between(xs, lo, hi, alpha=0.15)
        ax.axhline(summary.threshold, color="grey", linestyle="--", linewidth=0.8)
        ax.set_xticks(xs, ["original"] + [s.block for s in steps[1:]], rotation=90, fontsize=7)
        ax.set_ylim(-1.05, 1.05)
        if ax is axes[0, 0]:
            ax.set_ylabel("similarity to the trained detector's map")
        ax.set_title(f"{mode} randomisation ({summary.method}, layer {summary.layer})", fontsize=9)
        ax.legend(fontsize=7)
    return fig


def _num(value: float | None) -> float:
    return np.nan if value is None else float(value)


def _thin(indices: list[int]) -> list[int]:
    if len(indices) <= MAX_ROWS_PER_MODE:
        return indices
    keep = np.unique(np.linspace(0, len(indices) - 1, MAX_ROWS_PER_MODE).round().astype(int))
    return [indices[i] for i in keep]


def sanity_examples_figure(images: np.ndarray, maps: Sequence[np.ndarray], labels: Sequence[str], modes: Sequence[str]):
    """Top row: the inputs; then one row per step: signed maps / max|map| (red +, blue -)."""
    plt = pyplot()
    rows = [i for i, m in enumerate(modes) if m == "original"]
    for mode in ("cascading", "independent"):
        rows += _thin([i for i, m in enumerate(modes) if m == mode])
    ncols = max(1, len(images))
    fig, axes = plt.subplots(len(rows) + 1, ncols, figsize=(1.5 * ncols + 1.2, 1.5 * (len(rows) + 1)), squeeze=False,
                             layout="constrained")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for j, img in enumerate(images):
        axes[0, j].imshow(img)
    axes[0, 0].set_ylabel("input", fontsize=7)
    for r, i in enumerate(rows, start=1):
        for j, m in enumerate(maps[i][:ncols]):
            axes[r, j].imshow(m / max(float(np.abs(m).max()), 1e-12), cmap="RdBu_r", vmin=-1, vmax=1)
        axes[r, 0].set_ylabel(labels[i], fontsize=6, rotation=0, ha="right", va="center")
    fig.suptitle("signed maps after each randomisation step", fontsize=9)
    return fig


def deletion_insertion_figure(summary: FaithfulnessSummary):
    """Mean deletion (top) and insertion (bottom) curves, one panel per baseline image, one line per map
    kind with its mean AUC in the legend. Drawn from faithfulness.json alone."""
    plt = pyplot()
    baselines, kinds, fr = summary.baselines, summary.map_kinds, np.array(summary.fractions)
    fig, axes = plt.subplots(2, len(baselines), figsize=(4.2 * len(baselines), 7.0), squeeze=False,
                             layout="constrained")
    for col, b in enumerate(baselines):
        for row, curve in enumerate(("deletion", "insertion")):
            ax = axes[row, col]
            for k, kind in enumerate(kinds):
                area = summary.row(kind, b).auc(curve)
                ax.plot(fr, summary.mean_curve(kind, b, curve), linewidth=2.2 if k == 0 else 1.1,
                        label=f"{kind} (AUC {area:.3f})")
            ax.set_title(f"{curve}, baseline {b}", fontsize=9)
            ax.set_xlabel(f"fraction of pixels {'removed' if curve == 'deletion' else 'revealed'}")
            if col == 0:
                ax.set_ylabel("probability of the explained class")
            ax.set_ylim(-0.02, 1.02)
            ax.legend(fontsize=7)
    fig.suptitle(f"{summary.method} vs trivial maps, {summary.n_images} images (layer {summary.layer})", fontsize=10)
    return fig


def planted_figure(rows: Sequence[PlantedRow], *, region: str, val_acc: float, learned: bool = True):
    """The known-answer benchmark: the fakes' mean corner share (95% CI) per method × layer against the side of
    0.5 the plant predicts (green: the row passes). ``learned``: whether the detector learned the plant at
    all (the benchmark's accuracy bar); if not, no row can pass and the title says so."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(rows) + 2), 4.2), layout="constrained")
    for i, r in enumerate(rows):
        share = r.masses["corner_share"]
        if share.mean is None:
            continue
        lo, hi = share.ci95
        colour = "C2" if r.passes else "C3"
        ax.bar(i, share.mean, color=colour, alpha=0.8)
        ax.errorbar([i], [share.mean], yerr=[[share.mean - lo], [hi - share.mean]], color="black", capsize=4)
    ax.axhline(0.5, color="black", lw=0.8, ls="--")
    ax.set_xticks(range(len(rows)), [f"{r.method}\n{r.layer_name} ({r.map_size[0]}x{r.map_size[1]})" for r in rows],
                  fontsize=8)
    ax.set(ylim=(0, 1), ylabel="fakes' corner share (0.5 = no preference)")
    expected = "above" if region == "corner" else "below"
    passed = sum(r.passes for r in rows)
    if learned:
        title = (f"artifact planted in the {region}: {passed} of {len(rows)} rows find it ({expected} 0.5); "
                 f"detector val accuracy {val_acc:.2f}")
    else:
        title = (f"inconclusive: the detector did not learn the {region} plant (val accuracy {val_acc:.2f}), "
                 f"so no row can pass")
    ax.set_title(title, fontsize=10)
    return fig
