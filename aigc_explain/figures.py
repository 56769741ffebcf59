"""Matplotlib figures for CAM runs. Every function returns a ``Figure``; ``save_figure`` writes it.

Pure numpy + matplotlib (no torch): figures can be redrawn from saved ``.npy``/``.csv`` files alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

CMAP = "jet"  # the colour map grad-cam's overlays use, so our pictures read like theirs


def pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)  # headless; never opens a window
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path, *, dpi: int = 120) -> Path:
    """Write ``fig`` as PNG (atomically) and close it (figures hold memory until closed)."""
    import io

    from .runs import atomic_write_bytes

    path = Path(path)
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        pyplot().close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return path


def overlay(image: np.ndarray, cam: np.ndarray, *, alpha: float = 0.45) -> np.ndarray:
    """Blend an (H, W, 3) uint8 image with a CAM in [0, 1] coloured by ``CMAP``; uint8 result."""
    from matplotlib import colormaps

    if image.shape[:2] != cam.shape:
        raise ValueError(f"image {image.shape[:2]} and cam {cam.shape} must have the same height and width")
    heat = colormaps[CMAP](np.clip(cam, 0.0, 1.0))[..., :3]
    out = (1 - alpha) * image.astype(np.float64) / 255.0 + alpha * heat
    return np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)


def heatmap_figure(maps: dict[str, np.ndarray], *, title: str = "", shared_scale: bool = True,
                   regions: dict[str, np.ndarray] | None = None):
    """One panel per named map (e.g. mean CAM per class) with colour bars; one shared scale by default
    so that panels are comparable. ``regions`` draws the corner/centre outlines on each panel."""
    plt = pyplot()
    names = list(maps)
    if not names:
        raise ValueError("heatmap_figure needs at least one map")
    vmax = max(float(np.nanmax(m)) for m in maps.values()) if shared_scale else None
    fig, axes = plt.subplots(1, len(names), figsize=(3.8 * len(names), 3.4), squeeze=False, layout="constrained")
    for ax, name in zip(axes[0], names):
        im = ax.imshow(maps[name], cmap=CMAP, vmin=0.0, vmax=vmax)
        if regions:
            for mask in regions.values():
                ax.contour(mask.astype(float), levels=[0.5], colors="white", linewidths=0.8)
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(im, ax=ax, shrink=0.85, label="share of CAM mass per pixel")
    if title:
        fig.suptitle(title)
    return fig


def contact_sheet(tiles: Sequence[np.ndarray], captions: Sequence[str], *, ncols: int = 6, title: str = ""):
    """A grid of overlay tiles with one caption each (path stem, probability, label)."""
    plt = pyplot()
    if len(tiles) != len(captions):
        raise ValueError(f"{len(tiles)} tiles but {len(captions)} captions")
    n = max(1, len(tiles))
    ncols = max(1, min(ncols, n))
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.4 * ncols, 2.6 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, tile, caption in zip(axes.flat, tiles, captions):
        ax.imshow(tile)
        ax.set_title(caption, fontsize=7)
    if title:
        fig.suptitle(title)
    return fig
