"""Figures of the data audit: per-cue AUCs with the top cues' per-class distributions, the pixel evidence
(per-class mean residual energy, their difference and t-map, corner and centre outlined, in the look of the
CAM panels) and the residual fingerprint; and the model-vs-data panel that sets a detector's mean CAM beside
the pixel evidence of the same images."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from aigc_explain.reporting.figures import CMAP, DIVERGING, map_panel, outline_regions, pyplot
from aigc_explain.runs.audit_summary import Budget, CueAuc
from aigc_explain.runs.comparison_summary import MapCorrelation
from aigc_explain.runs.summaries import Regions

TOP_CUES = 3  # cues whose per-class distributions are drawn
T_CLIP = 6.0  # the t-map's colour scale: |t| above this is drawn as 6


def _distribution(ax, name: str, kind: str, values: Sequence[Any], labels: np.ndarray) -> None:
    """Per-class histogram (numeric) or share of each level (categorical, boolean)."""
    vals = np.array([np.nan if v is None else v for v in values], dtype=object)
    if kind == "numeric":
        x = np.array([float(v) for v in vals], dtype=float)
        finite = x[np.isfinite(x)]
        bins = np.histogram_bin_edges(finite, bins=20) if finite.size and np.ptp(finite) > 0 else 10
        for label, colour in ((0, "C0"), (1, "C3")):
            part = x[(labels == label) & np.isfinite(x)]
            ax.hist(part, bins=bins, alpha=0.55, color=colour, label=f"{('real', 'fake')[label]} (n={part.size})")
        ax.set_xlabel(name)
        ax.set_ylabel("images")
    else:
        levels = sorted({str(v) for v in vals})[:12]
        xs = np.arange(len(levels))
        for k, (label, colour) in enumerate(((0, "C0"), (1, "C3"))):
            group = [str(v) for v, y in zip(vals, labels) if y == label]
            shares = [group.count(level) / max(len(group), 1) for level in levels]
            ax.bar(xs + (k - 0.5) * 0.4, shares, width=0.4, color=colour, label=("real", "fake")[label])
        ax.set_xticks(xs, levels, rotation=30, fontsize=7)
        ax.set_ylabel("share of the class")
    ax.set_title(name, fontsize=9)
    ax.legend(fontsize=7)


def cues_figure(cues: Sequence[CueAuc], rows: list[dict[str, Any]], labels: Sequence[int], *,
                cue_auc: float | None = None, ci: Sequence[float | None] = (None, None)):
    """Left: each cue's own AUC (0.5 = no information, 1 = separates the classes). Right: the top cues'
    distributions per class."""
    plt = pyplot()
    labels = np.asarray(labels)
    fig = plt.figure(figsize=(13.0, 4.6), layout="constrained")
    grid = fig.add_gridspec(1, 1 + TOP_CUES, width_ratios=[1.6] + [1] * TOP_CUES)
    ax = fig.add_subplot(grid[0])
    names = [c.name for c in cues][::-1]
    aucs = [c.auc for c in cues][::-1]
    ax.barh(names, [a - 0.5 for a in aucs], left=0.5, color=["C3" if a >= 0.8 else "C7" for a in aucs])
    ax.axvline(0.5, color="black", lw=0.8, ls="--")
    ax.set_xlim(0.48, 1.0)
    ax.set_xlabel("single-cue AUC (0.5 = tells nothing, 1 = separates the classes)")
    ax.tick_params(axis="y", labelsize=7)
    band = "" if cue_auc is None else f"\nall cues, cross-validated: AUC {cue_auc:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]"
    ax.set_title(f"what the files say about the label{band}", fontsize=9)
    for k, cue in enumerate(cues[:TOP_CUES]):
        _distribution(fig.add_subplot(grid[1 + k]), cue.name, cue.kind, [r.get(cue.name) for r in rows], labels)
    return fig


def pixel_evidence_figure(maps: dict[str, np.ndarray], regions: Regions, *, title: str = ""):
    """``maps``: mean_real, mean_fake (residual energy), difference (fake − real), and ``t_local``: the Welch t
    of block log energy (each image's mean over the grid taken out) that the localisation measures."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(16.0, 4.2), layout="constrained")
    vmax = max(float(np.nanmax(maps["mean_real"])), float(np.nanmax(maps["mean_fake"])), 1e-12)
    for ax, key, name in zip(axes[:2], ("mean_real", "mean_fake"), ("real", "fake")):
        im = map_panel(ax, maps[key], f"{name}: mean residual energy", cmap=CMAP, vmin=0.0, vmax=vmax)
        outline_regions(ax, maps[key].shape, regions)
    fig.colorbar(im, ax=axes[:2].tolist(), shrink=0.85, label="residual² (grey levels²)")
    d = maps["difference"]
    dmax = max(float(np.nanmax(np.abs(d))), 1e-12)
    im = map_panel(axes[2], d, "fake − real", cmap=DIVERGING, vmin=-dmax, vmax=dmax)
    outline_regions(axes[2], d.shape, regions, colour="grey")
    fig.colorbar(im, ax=axes[2], shrink=0.85, label="difference of mean residual²")
    t = maps.get("t_local", maps.get("t"))
    im = map_panel(axes[3], np.clip(np.nan_to_num(t), -T_CLIP, T_CLIP), "Welch t of block log energy (fake − real)",
                   cmap=DIVERGING, vmin=-T_CLIP, vmax=T_CLIP)
    outline_regions(axes[3], t.shape, regions, colour="grey")
    fig.colorbar(im, ax=axes[3], shrink=0.85, label=f"t per cell (clipped at ±{T_CLIP:g})")
    if title:
        fig.suptitle(title)
    return fig


def mean_image_figure(real: np.ndarray, fake: np.ndarray, regions: Regions, *, title: str = ""):
    """Per-class mean images (RGB, 0-255) and the difference of the means (luma, and |difference| in colour)."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(16.0, 4.2), layout="constrained")
    for ax, m, name in zip(axes[:2], (real, fake), ("real", "fake")):
        map_panel(ax, np.clip(m / 255.0, 0, 1), f"{name}: mean image")
    diff = fake - real
    luma = diff @ np.array([0.299, 0.587, 0.114])
    lim = max(float(np.abs(luma).max()), 1e-6)
    im = map_panel(axes[2], luma, "fake − real (luma)", cmap=DIVERGING, vmin=-lim, vmax=lim)
    outline_regions(axes[2], luma.shape, regions, colour="grey")
    fig.colorbar(im, ax=axes[2], shrink=0.85, label="grey levels")
    mag = np.abs(diff)
    map_panel(axes[3], mag / max(float(mag.max()), 1e-6), f"|fake − real| per channel (max {mag.max():.1f})")
    if title:
        fig.suptitle(title)
    return fig


def budget_figure(budget: Budget, *, title: str = "what gives the label away"):
    """The cross-validated AUC of each kind of evidence with its 95% interval and strongest feature."""
    plt = pyplot()
    rows = sorted(((k, v) for k, v in budget.rows().items() if v is not None and v.auc is not None),
                  key=lambda kv: kv[1].auc)
    fig, ax = plt.subplots(figsize=(9.0, 0.6 * len(rows) + 1.6), layout="constrained")
    for i, (kind, b) in enumerate(rows):
        lo, hi = (b.auc if v is None else v for v in b.ci95)
        ax.barh(i, b.auc - 0.5, left=0.5, color="C3" if lo > 0.8 else "C1" if lo > 0.5 else "C7")
        ax.plot([lo, hi], [i, i], color="black", lw=1.5)
        ax.text(1.01, i, f"{b.auc:.2f}  ({b.top})", va="center", fontsize=8)
    ax.set_yticks(range(len(rows)), [k for k, _ in rows])
    ax.axvline(0.5, color="black", lw=0.8, ls="--")
    ax.set_xlim(0.4, 1.0)
    ax.set_xlabel("cross-validated AUC of a classifier on that evidence alone (0.5 = tells nothing), 95% CI")
    ax.set_title(title, fontsize=10)
    return fig


def fingerprint_figure(spectra: dict[str, np.ndarray], freqs: tuple[np.ndarray, np.ndarray], *, title: str = ""):
    """Mean log power of the residuals per class, their difference, and the fakes' mean-residual power."""
    plt = pyplot()
    fy, fx = freqs
    extent = (fx[0], fx[-1], fy[-1], fy[0])
    fig, axes = plt.subplots(1, 4, figsize=(16.0, 4.2), layout="constrained")
    both = np.concatenate([spectra["log_real"].ravel(), spectra["log_fake"].ravel()])
    lo, hi = (float(v) for v in np.percentile(both, [1, 99.5]))  # DC's near-zero residual power would swamp it
    for ax, key, name in zip(axes[:2], ("log_real", "log_fake"), ("real", "fake")):
        im = ax.imshow(spectra[key], cmap=CMAP, vmin=lo, vmax=hi, extent=extent)
        ax.set(title=f"{name}: mean log power of the residual", xlabel="cycles/pixel (horizontal)",
               ylabel="cycles/pixel (vertical)")
    fig.colorbar(im, ax=axes[:2].tolist(), shrink=0.85, label="mean log power")
    diff = spectra["log_fake"] - spectra["log_real"]
    m = max(float(np.percentile(np.abs(diff), 99.5)), 1e-12)
    im = axes[2].imshow(diff, cmap=DIVERGING, vmin=-m, vmax=m, extent=extent)
    axes[2].set(title="fake − real", xlabel="cycles/pixel (horizontal)")
    fig.colorbar(im, ax=axes[2], shrink=0.85, label="difference of mean log power")
    power = np.log10(spectra["mean_fake"] + 1e-12)
    im = axes[3].imshow(power, cmap=CMAP, extent=extent, vmin=float(np.percentile(power, 1)))
    axes[3].set(title="fake: power of the mean residual", xlabel="cycles/pixel (horizontal)")
    fig.colorbar(im, ax=axes[3], shrink=0.85, label="log10 power (fixed patterns show as lines)")
    if title:
        fig.suptitle(title)
    return fig


def model_vs_data_figure(cam_map: np.ndarray, evidence: np.ndarray, regions: Regions, *,
                         correlation: MapCorrelation, labels: tuple[str, str] = ("detector", "data")):
    """The detector's mean CAM of the fakes beside where the fakes exceed the reals in the pixels, one grid."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9.0, 4.4), layout="constrained")
    for ax, m, name, label in zip(axes, (cam_map, evidence), labels,
                                  ("share of CAM mass per pixel", "share of the difference per pixel")):
        im = map_panel(ax, m, name, cmap=CMAP, vmin=0.0, vmax=max(float(np.max(m)), 1e-12))
        outline_regions(ax, m.shape, regions)
        fig.colorbar(im, ax=ax, shrink=0.85, label=label)
    r, rho = correlation.pearson, correlation.spearman
    text = "n/a" if r is None else f"Pearson r = {r:.2f}, Spearman ρ = {rho:.2f}"
    fig.suptitle(f"does the detector look where the data differ? {text}")
    return fig
