"""Thumbnails for the run page (``reporting.browser``): a small JPEG of each image and of its CAM overlay,
written streaming — one image decoded at a time, never all in memory.

An image is opened only when it lies inside the images folder its CAM run records (summary.json
``selection.images``, symbolic links resolved); any other path is skipped and noted, never read. The overlay
is the raw map made like grad-cam's output (ReLU, bilinear upsampling, min-max to [0, 1]) over the image as
the detector saw it (resized to the input size, never cropped). Pure numpy + Pillow + matplotlib (no torch).
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from aigc_explain.reporting.figures import overlay
from aigc_explain.runs.locks import note_written
from aigc_explain.runs.summaries import CamSummary

THUMB = 72  # pixels on the longest side: what the table shows
QUALITY = 80  # JPEG quality of the thumbnails


def images_root(summary: CamSummary) -> Path | None:
    """The folder a CAM run's images must lie in (its recorded selection), or None when it records none or
    records an image list rather than a folder."""
    images = summary.selection.images if summary.selection is not None else None
    if not isinstance(images, str) or not images:
        return None
    root = Path(images)
    return root.resolve() if root.is_dir() else None


def inside(path: str, root: Path | None) -> Path | None:
    """``path`` resolved when it is a file inside ``root`` (links followed first, so none leads out); else None."""
    if root is None:
        return None
    try:
        resolved = Path(path).resolve()
    except (OSError, RuntimeError, ValueError):
        return None
    return resolved if root in resolved.parents and resolved.is_file() else None


def write_file(path: Path, data: bytes) -> None:
    """Journaled (so a run folder knows the file is its own) and renamed into place, without the fsync of
    ``atomic_write_bytes``: tens of thousands of thumbnails would otherwise take minutes, and the run's record,
    written last, checks every byte anyway."""
    note_written(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _jpeg(pixels: np.ndarray | Image.Image) -> bytes:
    img = pixels if isinstance(pixels, Image.Image) else Image.fromarray(pixels)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=QUALITY, optimize=True)
    return buf.getvalue()


def open_rgb(path: Path, *, draft: int | None = None) -> Image.Image:
    """The image as RGB; refuses decompression bombs like the toolkit's own reader."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path) as img:
            if draft:
                img.draft("RGB", (draft, draft))  # JPEG decodes at a fraction of its size: much faster
            img.load()
            return img.convert("RGB")


def thumb_size(size: tuple[int, int], longest: int = THUMB) -> tuple[int, int]:
    """(height, width) of a thumbnail with the aspect of ``size`` = (H, W)."""
    h, w = size
    scale = longest / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def unit_cam(raw: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """ReLU, bilinear upsampling to ``size`` = (H, W) and min-max scaling to [0, 1]: grad-cam's heat map. A
    map without positive mass stays zero (blank), never divided by."""
    positive = np.maximum(np.nan_to_num(np.asarray(raw, np.float32)), 0)
    up = np.asarray(Image.fromarray(positive, mode="F").resize((size[1], size[0]), Image.BILINEAR))
    up = np.maximum(up, 0)
    lo, hi = float(up.min()), float(up.max())
    return np.zeros(size, np.float32) if hi - lo <= 1e-12 else (up - lo) / (hi - lo)


def image_thumbnail(image: Image.Image) -> bytes:
    thumb = image.copy()
    thumb.thumbnail((THUMB, THUMB), Image.BILINEAR)
    return _jpeg(thumb)


def overlay_thumbnail(image: Image.Image | None, raw: np.ndarray, input_size: tuple[int, int]) -> bytes:
    """The map over the image squeezed to the detector's input aspect; the map alone (on grey) without one."""
    h, w = thumb_size(input_size)
    base = np.full((h, w, 3), 128, np.uint8) if image is None else \
        np.asarray(image.resize((w, h), Image.BILINEAR))
    return _jpeg(overlay(base, unit_cam(raw, (h, w)), alpha=0.45 if image is not None else 1.0))
