"""Per-image features of three kinds of evidence, each a plain float vector with named columns, for the
cross-validated classifiers of the budget (``evidence.budget``):

* content — what the picture shows and how it is framed, never its high frequencies: colour thumbnails
  (8×8 and 16×16, box-averaged) and global colour statistics. An aligned-face template or a colour cast
  shows here.
* history — what happened to the file before its last save, read from the pixels at native size: a
  double-compression cue (the periodicity of the 8×8 block-DCT coefficient histograms: a first JPEG at a
  coarser quality leaves combs and gaps that the last one keeps, ``dct_comb``), a resampling cue (the spectrum
  of the mean |second derivative| along rows and columns: interpolation leaves a periodic correlation), and the
  double-compression cue once more after undoing a resize between the two saves, at the factor the audit's
  label-free scan found (``resampling``; constant columns when it found none).
* residual — the high-pass noise residual at audit size (``pixels.noise_residual``): its energy
  statistics, its log power in bands of a coarse 2-D frequency grid, and its energy per region.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from aigc_explain.analysis.regions import region_masks
from aigc_explain.analysis.spectra import to_gray
from aigc_explain.evidence.dct_comb import (block_coefficients, comb_features, comb_names,
                                            undone_coefficients)

THUMBS = (8, 16)
STATS_SIDE = 32
_Q = np.array([5, 50, 95])
RESAMPLING_BANDS = 15  # over 0.05-0.5 cycles/pixel: below that lies the content's layout, not a period
RESAMPLING_LOW = 0.05
FREQ_BANDS = 6  # |fy| x |fx| bands of the residual's 2-D spectrum
RESAMPLED = "resampled_"  # the combs read after undoing a resize between two saves
RESAMPLED_SIDE = 256  # ... on a centred region of at most this side (enlarged px): a few ms a picture


def content_names() -> list[str]:
    names = [f"thumb{s}[{r},{c}].{ch}" for s in THUMBS for r in range(s) for c in range(s) for ch in "rgb"]
    names += [f"colour_mean.{ch}" for ch in "rgb"] + [f"colour_std.{ch}" for ch in "rgb"]
    return names + ["saturation_mean"] + [f"luma_p{q}" for q in _Q]


def content_features(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> thumbnails and colour statistics (0-255 scale) of its 32x32 box-average."""
    im = Image.fromarray(rgb)
    # statistics of a 32x32 box-average: the coarse picture, and 50x cheaper than per pixel at 224 px
    small = im.resize((STATS_SIDE, STATS_SIDE), Image.Resampling.BOX) if max(rgb.shape[:2]) > STATS_SIDE else im
    thumbs = [np.asarray(small.resize((s, s), Image.Resampling.BOX), np.float32).ravel() for s in THUMBS]
    arr = np.asarray(small)
    x = arr.reshape(-1, 3).astype(np.float32)
    sat = x.max(axis=1) - x.min(axis=1)
    stats = [x.mean(axis=0), x.std(axis=0), [sat.mean()], np.percentile(to_gray(arr), _Q)]
    return np.concatenate(thumbs + [np.asarray(s, np.float32) for s in stats])


def history_names(*, resampled: bool = False) -> list[str]:
    """The history columns; ``resampled``: with the combs read on the grid before a resize between two saves."""
    resampling = [f"resampling_{axis}_band{b}" for axis in "xy" for b in range(RESAMPLING_BANDS)]
    return comb_names() + resampling + ["resampling_peak"] + (comb_names(RESAMPLED) if resampled else [])


def _resampling(gray: np.ndarray) -> np.ndarray:
    """Band maxima of the normalised power spectrum of mean |d²| along x and along y, and the peak."""
    bands, peaks = [], []
    for axis in (1, 0):
        d2 = np.abs(np.diff(gray, n=2, axis=axis)).mean(axis=1 - axis)
        if d2.size < 2 * RESAMPLING_BANDS:
            bands.append(np.zeros(RESAMPLING_BANDS))
            peaks.append(0.0)
            continue
        power = np.abs(np.fft.rfft(d2 - d2.mean())) ** 2
        power = power / (np.median(power[1:]) + 1e-12)
        freq = np.fft.rfftfreq(d2.size)
        keep = freq >= RESAMPLING_LOW
        edges = np.linspace(RESAMPLING_LOW, 0.5 + 1e-9, RESAMPLING_BANDS + 1)
        idx = np.clip(np.searchsorted(edges, freq[keep], side="right") - 1, 0, RESAMPLING_BANDS - 1)
        b = np.zeros(RESAMPLING_BANDS)
        np.maximum.at(b, idx, power[keep])
        bands.append(np.log1p(b))
        peaks.append(float(np.log1p(power[keep].max())))
    return np.concatenate(bands + [[max(peaks)]])


def history_features(rgb: np.ndarray, *, resampled: float | None = None) -> np.ndarray:
    """(H, W, 3) uint8 at NATIVE size (the JPEG grid and any resampling period live there). ``resampled``: the
    factor of a resize between two saves (``resampling.scan_resampling``), whose combs are then also read on
    the grid before it (``RESAMPLED`` columns, only then)."""
    gray = to_gray(rgb)
    undone = [] if resampled is None else [comb_features(undone_coefficients(gray, resampled, side=RESAMPLED_SIDE))]
    return np.concatenate([comb_features(block_coefficients(gray)), _resampling(gray), *undone]).astype(np.float32)


def residual_names(shape: tuple[int, int]) -> list[str]:
    stats = ["residual_log_energy", "residual_log_p50", "residual_log_p90", "residual_log_p99", "residual_kurtosis"]
    bands = [f"residual_power[fy{i},fx{j}]" for i in range(FREQ_BANDS) for j in range(FREQ_BANDS)]
    return stats + bands + [f"residual_log_energy.{r}" for r in ("corner", "center", "border")]


class ResidualFeatures:
    """Residual features at one audit size; frequency bands and region masks computed once."""

    def __init__(self, shape: tuple[int, int], fracs: tuple[float, float, float]) -> None:
        h, w = shape
        fy, fx = np.abs(np.fft.fftfreq(h))[:, None], np.abs(np.fft.rfftfreq(w))[None, :]
        by = np.minimum((fy * 2 * FREQ_BANDS).astype(int), FREQ_BANDS - 1)
        bx = np.minimum((fx * 2 * FREQ_BANDS).astype(int), FREQ_BANDS - 1)
        self.band = (by * FREQ_BANDS + bx).ravel()
        self.count = np.maximum(np.bincount(self.band, minlength=FREQ_BANDS ** 2), 1)
        m = region_masks(h, w, **dict(zip(("corner_frac", "center_frac", "border_frac"), fracs)))
        self.masks = np.stack([m[r].ravel() for r in ("corner", "center", "border")], axis=1).astype(np.float64)
        self.masks /= self.masks.sum(axis=0)

    def __call__(self, residuals: np.ndarray, energy: np.ndarray) -> np.ndarray:
        """(N, H, W) residuals and their energy -> (N, features) float32."""
        n = len(residuals)
        e = energy.reshape(n, -1)
        logs = np.log(e + 1.0)
        pct = np.percentile(logs, [50, 90, 99], axis=1).T
        var = e.mean(axis=1)
        kurt = (np.square(e).mean(axis=1) / np.maximum(var ** 2, 1e-12))
        power = np.abs(np.fft.rfft2(residuals)).reshape(n, -1) ** 2
        bands = np.stack([np.bincount(self.band, weights=p, minlength=FREQ_BANDS ** 2) for p in power]) / self.count
        regions = np.log(e @ self.masks + 1.0)
        return np.column_stack([np.log(var + 1.0), pct, kurt, np.log(bands + 1e-6), regions]).astype(np.float32)


class MeanImages:
    """Per class the running sum of the RGB images at audit size: the mean image of each class and the
    difference of the means (an aligned template or a colour cast shows at a glance)."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.shape = tuple(shape)
        self.n = np.zeros(2, dtype=np.int64)
        self._sum = np.zeros((2, *self.shape, 3))

    def add(self, images: np.ndarray, labels: np.ndarray) -> None:
        for c in (0, 1):
            sel = labels == c
            if sel.any():
                self._sum[c] += images[sel].sum(axis=0, dtype=np.float64)
                self.n[c] += int(sel.sum())

    def merge(self, other: MeanImages) -> None:
        if other.shape != self.shape:
            raise ValueError(f"other holds {other.shape} images but this one {self.shape}; merge like with like")
        self.n += other.n
        self._sum += other._sum

    def mean(self, label: int) -> np.ndarray:
        """(H, W, 3) float mean image of class ``label`` in 0-255."""
        if self.n[label] == 0:
            raise ValueError(f"no images of class {label} added yet")
        return self._sum[label] / self.n[label]

    def state_dict(self) -> dict[str, np.ndarray]:
        """Plain numpy arrays, for ``np.savez``: the per-class counts and image sums."""
        return {"n": self.n.copy(), "sum": self._sum.copy()}
