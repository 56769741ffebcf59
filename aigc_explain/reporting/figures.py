"""Figure primitives shared by every panel: headless pyplot, atomic PNG saving, heat maps with region outlines,
overlays, contact sheets and tables. Every function returns a ``Figure``; ``save_figure`` writes it.

Pure numpy + matplotlib (no torch): figures can be redrawn from saved ``.npy``/``.csv`` files alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aigc_explain.analysis.regions import region_masks
from aigc_explain.runs.files import atomic_write_bytes
from aigc_explain.runs.summaries import Regions

CMAP = "inferno"  # perceptually uniform: equal steps look equal, and it prints in grey
DIVERGING = "RdBu_r"  # differences: red where A (or the first class) is higher, blue where lower, white at 0
SLIDE_WIDTH = 12.0


def pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)  # headless; never opens a window
    import matplotlib.pyplot as plt

    return plt


def figure_png(fig, *, dpi: int = 120) -> bytes:
    """``fig`` as PNG bytes; the figure is closed (figures hold memory until closed)."""
    import io

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        pyplot().close(fig)
    return buf.getvalue()


def save_figure(fig, path: str | Path, *, dpi: int = 120) -> Path:
    """Write ``fig`` as PNG (atomically) and close it."""
    path = Path(path)
    atomic_write_bytes(path, figure_png(fig, dpi=dpi))
    return path


def overlay(image: np.ndarray, cam: np.ndarray, *, alpha: float = 0.45) -> np.ndarray:
    """Blend an (H, W, 3) uint8 image with a CAM in [0, 1] coloured by ``CMAP``; uint8 result."""
    from matplotlib import colormaps

    if image.shape[:2] != cam.shape:
        raise ValueError(f"image {image.shape[:2]} and cam {cam.shape} must have the same height and width")
    heat = colormaps[CMAP](np.clip(cam, 0.0, 1.0))[..., :3]
    out = (1 - alpha) * image.astype(np.float64) / 255.0 + alpha * heat
    return np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)


OVERLAY_LEGEND = ("most / least: the images of each class the detector is most and least sure of; "
                  "wrong: misclassified")
CAM_SCALE = "CAM, scaled to [0, 1] per image"


def _cam_colorbar(fig, ax, label: str, shrink: float) -> None:
    """The colour bar of an overlaid map (``CMAP`` over [0, 1])."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    fig.colorbar(ScalarMappable(Normalize(0, 1), CMAP), ax=ax, shrink=shrink, label=label)


def contact_sheet(tiles: Sequence[np.ndarray], captions: Sequence[str], *, ncols: int = 6, title: str = "",
                  colorbar: str | None = CAM_SCALE, legend: str | None = OVERLAY_LEGEND):
    """A grid of overlay tiles with one caption each (path stem, probability, label), a colour bar for the
    overlaid map and a legend line for the kinds of tile."""
    plt = pyplot()
    if len(tiles) != len(captions):
        raise ValueError(f"{len(tiles)} tiles but {len(captions)} captions")
    n = max(1, len(tiles))
    ncols = max(1, min(ncols, n))
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.4 * ncols + 0.8, 2.6 * nrows + 0.6), squeeze=False,
                             layout="constrained")
    for ax in axes.flat:
        ax.axis("off")
    for ax, tile, caption in zip(axes.flat, tiles, captions):
        ax.imshow(tile)
        ax.set_title(caption, fontsize=7)
    if colorbar:
        _cam_colorbar(fig, axes, colorbar, 0.6)
    if title or legend:
        fig.suptitle("\n".join(t for t in (title, legend) if t), fontsize=10)
    return fig


def overlay_figure(tile: np.ndarray, *, title: str, legend: str | None = None, colorbar: str = CAM_SCALE):
    """One image's overlay as a figure of its own: the tile, the map's colour bar, and a title (the image, its
    score, the run, method and layer) over a legend line."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 4.8), layout="constrained")
    ax.imshow(tile)
    ax.axis("off")
    _cam_colorbar(fig, ax, colorbar, 0.85)
    fig.suptitle("\n".join(t for t in (title, legend) if t), fontsize=10)
    return fig


def outline_regions(ax, shape: tuple[int, int], regions: Regions, colour: str = "white") -> None:
    masks = region_masks(*shape, corner_frac=regions.corner_frac, center_frac=regions.center_frac)
    for name in ("corner", "center"):
        ax.contour(masks[name].astype(float), levels=[0.5], colors=colour, linewidths=0.8)


def map_panel(ax, image: np.ndarray, title: str, **imshow: Any):
    im = ax.imshow(image, **imshow)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    return im


def heatmap_figure(maps: dict[str, np.ndarray], *, regions: Regions | None = None, title: str = "",
                   label: str = "share of CAM mass per pixel", cmap: str = CMAP):
    """Named maps side by side on one colour scale (from 0) with one colour bar, so panels compare; with
    ``regions`` (corner_frac, center_frac) the corner squares and the centre are outlined."""
    plt = pyplot()
    if not maps:
        raise ValueError("heatmap_figure needs at least one map")
    vmax = max(max(float(np.nanmax(m)) for m in maps.values()), 1e-12)
    fig, axes = plt.subplots(1, len(maps), figsize=(3.8 * len(maps) + 1.2, 4.0), squeeze=False, layout="constrained")
    for ax, (name, m) in zip(axes[0], maps.items()):
        im = map_panel(ax, m, name, cmap=cmap, vmin=0.0, vmax=vmax)
        if regions:
            outline_regions(ax, m.shape, regions)
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.9, label=label)
    if title:
        fig.suptitle(title)
    return fig


def format_cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table; floats get 4 decimals, None/NaN a dash (the same cells as ``table_figure``)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(format_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def table_figure(header: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str = "results"):
    """The results table as a picture for slides (the same cells as ``markdown_table``)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(SLIDE_WIDTH, 0.6 + 0.35 * (len(rows) + 1)))
    ax.axis("off")
    table = ax.table(cellText=[[format_cell(v) for v in r] for r in rows] or [["—"] * len(header)], colLabels=list(header),
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
