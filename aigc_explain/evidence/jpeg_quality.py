"""JPEG quality from quantisation tables: invert the IJG (libjpeg) scaling of the Annex K tables.

libjpeg, libjpeg-turbo and Pillow build their tables at quality Q as
``clamp((base * scale + 50) // 100, 1, 255)`` with ``scale = 5000 // Q`` below 50 and ``200 - 2 Q`` from
50 on (``jpeg_quality_scaling`` / ``jpeg_add_quant_table``). Comparing a file's table with all 100
scaled tables gives Q exactly for such files, and the nearest Q for other encoders (cameras, Photoshop),
which then report ``standard=False``. Tables are in natural (row-major) order, as Pillow exposes them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# ITU-T T.81 Annex K, tables K.1 (luminance) and K.2 (chrominance), natural order.
ANNEX_K_LUMINANCE = np.array([
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
])  # fmt: skip
ANNEX_K_CHROMINANCE = np.array([
    17, 18, 24, 47, 99, 99, 99, 99,
    18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99,
    *([99] * 32),
])  # fmt: skip

QUALITIES = np.arange(1, 101)


def ijg_scale(quality: int) -> int:
    """libjpeg's ``jpeg_quality_scaling``: percentage applied to the Annex K tables at ``quality``."""
    if not 1 <= quality <= 100:
        raise ValueError(f"quality must be in 1..100, got {quality!r}")
    return 5000 // quality if quality < 50 else 200 - 2 * quality


def ijg_table(base: np.ndarray, quality: int, *, baseline: bool = True) -> np.ndarray:
    """The table libjpeg writes for ``base`` at ``quality`` (capped at 255 when ``baseline``)."""
    table = (base.astype(np.int64) * ijg_scale(quality) + 50) // 100
    return np.clip(table, 1, 255 if baseline else 32767)


def _all_tables(base: np.ndarray, baseline: bool) -> np.ndarray:
    return np.stack([ijg_table(base, int(q), baseline=baseline) for q in QUALITIES])


# (100, 64) tables for Q = 1..100, baseline (8-bit) and extended (16-bit) precision.
_LUMA = {b: _all_tables(ANNEX_K_LUMINANCE, b) for b in (True, False)}
_CHROMA = {b: _all_tables(ANNEX_K_CHROMINANCE, b) for b in (True, False)}


def _as_table(table: Sequence[int], name: str) -> np.ndarray:
    arr = np.asarray(table, dtype=np.int64).reshape(-1)
    if arr.size != 64:
        raise ValueError(f"{name} must hold 64 values (an 8x8 quantisation table), got {arr.size}")
    return arr


def _is_ijg(table: np.ndarray, tables: dict[bool, np.ndarray], quality: int) -> bool:
    return any(np.array_equal(table, tables[b][quality - 1]) for b in (True, False))


def estimate_quality(
    luminance: Sequence[int], chrominance: Sequence[int] | None = None
) -> tuple[int, bool]:
    """(quality, standard): the IJG quality whose luminance table is nearest (L1) to ``luminance``.

    ``standard`` is True when the luminance table (and the chrominance one, if given) equals the
    IJG-scaled Annex K table at that quality exactly, i.e. the file was written by libjpeg at that Q.
    """
    luma = _as_table(luminance, "luminance")
    dist = np.abs(_LUMA[False] - luma).sum(axis=1)
    dist = np.minimum(dist, np.abs(_LUMA[True] - luma).sum(axis=1))
    quality = int(QUALITIES[int(np.argmin(dist))])  # ties: the lowest Q (Q <= 25 can share tables)
    standard = _is_ijg(luma, _LUMA, quality)
    if chrominance is not None:
        standard = standard and _is_ijg(_as_table(chrominance, "chrominance"), _CHROMA, quality)
    return quality, standard
