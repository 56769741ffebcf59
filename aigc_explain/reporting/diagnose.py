"""Figures of ``diagnose``: the frequency-band curves, patch shuffling and re-encoding, and the per-patch map
beside the Grad-CAM. Drawn from diagnose.json's entries and plain arrays (no torch)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

import numpy as np

from aigc_explain.reporting.figures import overlay, pyplot
from aigc_explain.runs.diagnose_summary import BandEffect, CleanEffect, Effect, ReencodeEffect, ShuffleEffect

COLOURS = {"fake": "tab:red", "real": "tab:blue"}


def _title(fig, title: str) -> None:
    if title:
        fig.suptitle("\n".join(textwrap.wrap(title, 110)), fontsize=10)


def _value(x: Any) -> float:
    return np.nan if x is None else float(x)


def bands_figure(bands: Sequence[BandEffect], clean: CleanEffect, *, title: str = ""):
    """Per band (x), for "remove" and "keep": each class's accuracy, and the mean change of p(fake) with its
    95% interval when the band is removed; dotted lines: the clean accuracies."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, mode in zip(axes[:2], ("remove", "keep")):
        rows = [b for b in bands if b.mode == mode]
        x = np.arange(len(rows))
        for cls, colour in COLOURS.items():
            ax.plot(x, [_value(b.part(cls).accuracy) for b in rows], "o-", color=colour, label=f"{cls} accuracy")
            ax.axhline(_value(clean.part(cls).accuracy), color=colour, ls=":", lw=1)
        ax.set_xticks(x, [f"{b.lo:.3g}–{b.hi:.3g}" for b in rows], fontsize=8)
        ax.set_ylim(-0.05, 1.05)
        ax.set_xlabel("band (cycles/pixel)")
        ax.set_title(f"{mode} one band" if mode == "remove" else "keep only one band")
        ax.legend(fontsize=8)
    rows = [b for b in bands if b.mode == "remove"]
    x = np.arange(len(rows))
    for k, (cls, colour) in enumerate(COLOURS.items()):
        mean = np.array([_value(b.part(cls).prob_change.mean) for b in rows])
        lo = np.array([_value(b.part(cls).prob_change.ci95[0]) for b in rows])
        hi = np.array([_value(b.part(cls).prob_change.ci95[1]) for b in rows])
        axes[2].errorbar(x + (k - 0.5) * 0.15, mean, yerr=np.abs(np.vstack([mean - lo, hi - mean])), fmt="o",
                         color=colour, capsize=3, label=cls)
    axes[2].axhline(0, color="grey", lw=1)
    axes[2].set_xticks(x, [f"{b.lo:.3g}–{b.hi:.3g}" for b in rows], fontsize=8)
    axes[2].set_ylim(-1.05, 1.05)
    axes[2].set_title("Δ p(fake) when the band is removed (95% CI)")
    axes[2].legend(fontsize=8)
    _title(fig, title)
    fig.tight_layout()
    return fig


def _grouped_bars(ax, names: list[str], entries: Sequence[Effect]) -> None:
    x = np.arange(len(names))
    for k, (cls, colour) in enumerate(COLOURS.items()):
        ax.bar(x + (k - 0.5) * 0.38, [_value(e.part(cls).accuracy) for e in entries], 0.38, color=colour,
               label=f"{cls} accuracy")
    ax.axhline(0.5, color="grey", lw=1, ls=":")
    ax.set_xticks(x, names, fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)


def shuffle_figure(shuffle: Sequence[ShuffleEffect], reencode: Sequence[ReencodeEffect], clean: CleanEffect, *,
                   title: str = ""):
    """Each class's accuracy clean and under each patch shuffle; a second panel for the re-encodings."""
    plt = pyplot()
    panels = 1 + bool(reencode)
    fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 3.6), squeeze=False)
    _grouped_bars(axes[0, 0], ["clean"] + [f"{s.patch} px" for s in shuffle], [clean, *shuffle])
    axes[0, 0].set_title("patch shuffling")
    if reencode:
        _grouped_bars(axes[0, 1], ["clean"] + [r.variant for r in reencode], [clean, *reencode])
        axes[0, 1].set_title("re-encoded in memory")
    _title(fig, title)
    fig.tight_layout()
    return fig


def patch_map_figure(images: np.ndarray, scores: np.ndarray, labels: np.ndarray, cams: np.ndarray | None, *,
                     patch: int, max_rows: int = 6):
    """One row per image: the image, p(fake) with only each tile sharp (the rest blurred), its Grad-CAM."""
    plt = pyplot()
    order = [i for label in (1, 0) for i in np.flatnonzero(labels == label)[: max(1, max_rows // 2)]]
    cols = 3 if cams is not None else 2
    fig, axes = plt.subplots(len(order), cols, figsize=(2.6 * cols, 2.5 * len(order)), squeeze=False)
    for row, i in enumerate(order):
        name = {0: "real", 1: "fake"}.get(int(labels[i]), "image")
        axes[row, 0].imshow(images[i])
        axes[row, 0].set_title(name, fontsize=9)
        im = axes[row, 1].imshow(scores[i], vmin=0, vmax=1, cmap="magma")
        axes[row, 1].set_title(f"p(fake), only a {patch}px tile sharp", fontsize=8)
        fig.colorbar(im, ax=axes[row, 1], fraction=0.046)
        if cams is not None:
            peak = float(cams[i].max())
            axes[row, 2].imshow(overlay(images[i], cams[i] / peak if peak > 0 else cams[i]))
            axes[row, 2].set_title("Grad-CAM (target fake)", fontsize=8)
        for ax in axes[row]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    return fig
