"""Corner, centre and border attention masses of CAM maps.

The project's question is whether a detector looks at the image corners (where up-sampling and
padding artefacts live) rather than the centre (where the content is). These pure-numpy helpers
turn CAM maps, already at input resolution, into the fraction of positive attention mass that falls
in each region, and keep a streaming mean map in O(H*W) memory for datasets of any size.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

REGIONS = ("corner", "center", "border")
# A map whose positive mass is not above this (or is not finite) has nothing to share out.
_EMPTY_EPS = float(np.finfo(np.float64).tiny)


def _frac_count(frac: float, n: int) -> int:
    # floor(frac * n), forgiving float noise such as 0.29 * 100 = 28.999999999999996
    return int(math.floor(frac * n + 1e-9))


def _check_frac(name: str, value: float, upper: float) -> None:
    if isinstance(value, bool) or not (isinstance(value, numbers.Real) and 0 < value <= upper):
        raise ValueError(f"{name} must be a number in (0, {upper}], got {value!r}; pass e.g. {name}=0.25")


def check_fractions(corner_frac: float = 0.25, center_frac: float = 0.5, border_frac: float = 0.125) -> None:
    """ValueError unless the region fractions are valid (before any work is done with them)."""
    _check_frac("corner_frac", corner_frac, 0.5)
    _check_frac("center_frac", center_frac, 1.0)
    _check_frac("border_frac", border_frac, 0.5)


def region_masks(
    h: int, w: int, *, corner_frac: float = 0.25, center_frac: float = 0.5, border_frac: float = 0.125
) -> dict[str, np.ndarray]:
    """Boolean (h, w) masks "corner", "center" and "border".

    corner: four floor(corner_frac*h) x floor(corner_frac*w) squares at the image corners (rows first).
    center: the centred floor(center_frac*h) x floor(center_frac*w) rectangle; an odd leftover row or
    column goes below / right of it (top = (h - ch) // 2). border: the outer band of width
    floor(border_frac * min(h, w)). With the defaults corners and centre each cover 25% of the image.
    """
    for name, value in (("h", h), ("w", w)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int (map height/width in pixels), got {value!r}")
    check_fractions(corner_frac, center_frac, border_frac)
    h, w = int(h), int(w)
    kh, kw = _frac_count(corner_frac, h), _frac_count(corner_frac, w)
    ch, cw = _frac_count(center_frac, h), _frac_count(center_frac, w)
    b = _frac_count(border_frac, min(h, w))
    for name, value, count in (("corner_frac", corner_frac, min(kh, kw)),
                               ("center_frac", center_frac, min(ch, cw)),
                               ("border_frac", border_frac, b)):
        if count < 1:
            raise ValueError(f"{name}={value} gives an empty region on a {h}x{w} map; "
                             f"use a larger {name} or upsample the map to input resolution first")

    rows, cols = np.arange(h)[:, None], np.arange(w)[None, :]
    corner = ((rows < kh) | (rows >= h - kh)) & ((cols < kw) | (cols >= w - kw))
    top, left = (h - ch) // 2, (w - cw) // 2
    center = (rows >= top) & (rows < top + ch) & (cols >= left) & (cols < left + cw)
    border = (rows < b) | (rows >= h - b) | (cols < b) | (cols >= w - b)
    return {"corner": corner, "center": center, "border": border}


def _as_stack(maps: np.ndarray, name: str = "maps") -> np.ndarray:
    arr = np.asarray(maps)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[1] < 1 or arr.shape[2] < 1:
        raise ValueError(f"{name} must have shape (N, H, W) or (H, W), got {np.shape(maps)}")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    return arr


def _positive_part(maps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ReLU'd float64 stack, per-map positive mass, and the empty flag (non-finite maps zeroed)."""
    stack = _as_stack(maps).astype(np.float64, copy=False)
    finite = np.isfinite(stack).all(axis=(1, 2))
    pos = np.where(finite[:, None, None], np.maximum(stack, 0.0), 0.0)
    total = pos.sum(axis=(1, 2))
    empty = ~finite | ~np.isfinite(total) | (total <= _EMPTY_EPS)
    if (~np.isfinite(total)).any():  # overflowed sums count as empty; zero them so nothing divides inf
        pos[~np.isfinite(total)] = 0.0
        total = np.where(np.isfinite(total), total, 0.0)
    return pos, total, empty


@dataclass(frozen=True)
class RegionMasses:
    """Per-map fractions of positive CAM mass; NaN where the map is empty."""
    corner_mass: np.ndarray
    center_mass: np.ndarray
    border_mass: np.ndarray
    corner_share: np.ndarray  # corner / (corner + center): 1 = only corners, 0 = only centre
    empty: np.ndarray  # True where the map had no finite positive mass


def region_masses(
    maps: np.ndarray, *, corner_frac: float = 0.25, center_frac: float = 0.5, border_frac: float = 0.125
) -> RegionMasses:
    """Fraction of each map's positive mass (after ReLU) inside the corner, centre and border masks.

    maps: (N, H, W) or (H, W) CAMs at input resolution. Maps with no positive mass or with non-finite
    values are flagged ``empty`` and get NaN masses; nothing is divided by zero.
    """
    pos, total, empty = _positive_part(maps)
    n, h, w = pos.shape
    masks = region_masks(h, w, corner_frac=corner_frac, center_frac=center_frac, border_frac=border_frac)
    weights = np.stack([masks[r].ravel() for r in REGIONS], axis=1).astype(np.float64)  # (H*W, 3)
    sums = pos.reshape(n, h * w) @ weights  # (N, 3)
    safe_total = np.where(empty, 1.0, total)
    frac = np.where(empty[:, None], np.nan, sums / safe_total[:, None])
    corner, center, border = frac[:, 0], frac[:, 1], frac[:, 2]
    pair = sums[:, 0] + sums[:, 1]
    has_pair = ~empty & (pair > 0)
    share = np.where(has_pair, sums[:, 0] / np.where(has_pair, pair, 1.0), np.nan)
    return RegionMasses(corner_mass=corner, center_mass=center, border_mass=border,
                        corner_share=share, empty=empty)


class MeanMapAccumulator:
    """Streaming mean of unit-mass maps at one fixed (H, W), in O(H*W) memory.

    Empty maps are counted in ``n_empty`` but left out of the mean; ``n`` counts the maps averaged.
    Shards can be combined with ``merge`` and saved with ``state_dict`` (e.g. into an npz).
    """
    def __init__(self, shape: tuple[int, int] | None = None) -> None:
        self.shape: tuple[int, int] | None = None if shape is None else self._check_shape(shape)
        self._sum = None if self.shape is None else np.zeros(self.shape, dtype=np.float64)
        self.n = 0
        self.n_empty = 0

    @staticmethod
    def _check_shape(shape: tuple[int, int]) -> tuple[int, int]:
        if len(shape) != 2 or any(int(s) < 1 for s in shape):
            raise ValueError(f"shape must be (H, W) with positive sizes, got {shape!r}")
        return int(shape[0]), int(shape[1])

    def _ensure_shape(self, shape: tuple[int, int], what: str) -> None:
        if self.shape is None:
            self.shape = self._check_shape(shape)
            self._sum = np.zeros(self.shape, dtype=np.float64)
        elif tuple(shape) != self.shape:
            raise ValueError(f"{what} has maps of shape {tuple(shape)} but this accumulator holds "
                             f"{self.shape}; resize the maps or use one accumulator per size")

    def add(self, maps: np.ndarray) -> None:
        """Add raw CAMs ((N, H, W) or (H, W)); they are ReLU'd and normalised to unit mass here."""
        stack = _as_stack(maps)
        self._ensure_shape(stack.shape[1:], "maps")
        pos, total, empty = _positive_part(stack)
        keep = ~empty
        if keep.any():
            self._sum += np.einsum("nhw,n->hw", pos[keep], 1.0 / total[keep])
        self.n += int(keep.sum())
        self.n_empty += int(empty.sum())

    def mean(self) -> np.ndarray:
        """(H, W) float64 mean of the non-empty unit-mass maps; all zeros when none were added."""
        if self.shape is None:
            raise ValueError("accumulator has no shape yet; add maps first or pass shape=(H, W)")
        return self._sum / self.n if self.n else np.zeros(self.shape, dtype=np.float64)

    def merge(self, other: MeanMapAccumulator) -> None:
        """Fold another accumulator (e.g. another shard) into this one, in place."""
        if not isinstance(other, MeanMapAccumulator):
            raise ValueError(f"other must be a MeanMapAccumulator, got {type(other).__name__}")
        if other.shape is not None:
            self._ensure_shape(other.shape, "other")
            self._sum += other._sum
        self.n += other.n
        self.n_empty += other.n_empty

    def state_dict(self) -> dict[str, np.ndarray | int]:
        """Plain arrays and ints, suitable for ``np.savez``; a shapeless accumulator saves a (0, 0) sum."""
        total = np.zeros((0, 0)) if self._sum is None else self._sum.copy()
        return {"sum": total, "n": self.n, "n_empty": self.n_empty}

    @classmethod
    def from_state(cls, state: dict) -> MeanMapAccumulator:
        """Rebuild from ``state_dict()`` output (also accepts the 0-d arrays an npz gives back)."""
        missing = {"sum", "n", "n_empty"} - set(state)
        if missing:
            raise ValueError(f"state is missing keys {sorted(missing)}; pass MeanMapAccumulator.state_dict()")
        total = np.asarray(state["sum"], dtype=np.float64)
        if total.ndim != 2:
            raise ValueError(f"state['sum'] must be 2-D, got shape {total.shape}")
        acc = cls(None if total.size == 0 else total.shape)
        if total.size:
            acc._sum = total.copy()
        acc.n, acc.n_empty = int(np.asarray(state["n"])), int(np.asarray(state["n_empty"]))
        return acc
