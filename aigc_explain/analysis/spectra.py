"""Frequency view of images, for the up-convolution artefacts of generators (Durall et al. 2020).

Generators that up-sample with transposed convolutions leave periodic traces that show up as excess
high-frequency power in the azimuthally averaged log power spectrum. These pure-numpy helpers compute
that 1-D spectrum and keep per-group running means (one accumulator per group, e.g. real and fake),
so a spectral explanation can sit next to the Grad-CAM one.
"""

from __future__ import annotations

import functools

import numpy as np

# ITU-R BT.601 luma weights for R, G, B.
_LUMA = np.array([0.299, 0.587, 0.114])
_LOG_EPS = 1e-10


def to_gray(img: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma of an (H, W, 3) image, or an (H, W) / (H, W, 1) image as is, in float64.

    The input's scale is kept (uint8 gives 0-255, floats stay as they are): no range is guessed, so
    feed one group's images in one convention.
    """
    arr = np.asarray(img)
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"img must be a numeric image array, got dtype {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 2:
        return arr.astype(np.float64)
    if arr.ndim == 3 and arr.shape[2] == 3:
        return arr.astype(np.float64) @ _LUMA
    raise ValueError(f"img must have shape (H, W), (H, W, 1) or (H, W, 3) (RGB), got {arr.shape}; "
                     "drop an alpha channel with img[..., :3]")


def _check_gray(gray: np.ndarray, name: str = "gray") -> np.ndarray:
    arr = np.asarray(gray, dtype=np.float64)
    if arr.ndim != 2 or min(arr.shape) < 2:
        raise ValueError(f"{name} must be a 2-D image of at least 2x2, got shape {arr.shape}; "
                         "use to_gray() for colour images")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or inf; clean the image before taking its spectrum")
    return arr


def log_power_spectrum(gray: np.ndarray, *, eps: float = _LOG_EPS) -> np.ndarray:
    """log(|FFT2(gray)|^2 + eps), fftshifted so that DC sits at (H // 2, W // 2).

    ``eps`` (default 1e-10) only keeps log finite where the power is exactly zero; it is far below
    the power of any natural image's non-zero coefficient.
    """
    arr = _check_gray(gray)
    if not eps > 0:
        raise ValueError(f"eps must be > 0 so that log stays finite, got {eps!r}")
    spec = np.fft.fftshift(np.fft.fft2(arr))
    return np.log(np.abs(spec) ** 2 + eps)


@functools.lru_cache(maxsize=8)
def _rings(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Each pixel's ring (its rounded distance from the fftshift centre (H // 2, W // 2)), flattened, and
    the pixel count of every ring; one computation per image size (accumulators call this per image)."""
    rows = np.arange(h)[:, None] - h // 2
    cols = np.arange(w)[None, :] - w // 2
    radius = np.rint(np.hypot(rows, cols)).astype(np.int64).ravel()
    radius.setflags(write=False)
    counts = np.bincount(radius)
    counts.setflags(write=False)
    return radius, counts


def azimuthal_average(spec2d: np.ndarray, *, full: bool = False) -> np.ndarray:
    """Mean of a centred 2-D spectrum over rings of integer radius around (H // 2, W // 2).

    A pixel at distance d from the centre belongs to ring round(d). By default the result has
    min(H // 2, W // 2) + 1 values: radius 0 (DC) up to the Nyquist frequency of the shorter axis,
    the rings every direction reaches. ``full=True`` keeps rings out to the corners (diagonal
    frequencies up to the 2-D Nyquist corner), which are only partly covered.
    """
    spec = np.asarray(spec2d, dtype=np.float64)
    if spec.ndim != 2 or min(spec.shape) < 2:
        raise ValueError(f"spec2d must be a 2-D spectrum of at least 2x2, got shape {spec.shape}")
    h, w = spec.shape
    radius, counts = _rings(h, w)
    sums = np.bincount(radius, weights=spec.ravel())
    out = sums / np.maximum(counts, 1)  # every ring up to the corner is non-empty; guard anyway
    return out if full else out[: min(h // 2, w // 2) + 1]


class SpectrumAccumulator:
    """Streaming mean and std of 1-D azimuthal log spectra and mean of 2-D log spectra, one image size.

    Uses Chan et al.'s batched Welford update in float64, so the std stays accurate over many images.
    """
    def __init__(self, shape: tuple[int, int] | None = None, *, full: bool = False) -> None:
        self.shape = None if shape is None else (int(shape[0]), int(shape[1]))
        self.full = full
        self.n = 0
        self._mean_1d: np.ndarray | None = None
        self._m2_1d: np.ndarray | None = None
        self._sum_2d: np.ndarray | None = None

    def add(self, gray: np.ndarray) -> None:
        """Add one grey image (H, W) or a stack (N, H, W); colour images go through to_gray first."""
        stack = np.asarray(gray, dtype=np.float64)
        if stack.ndim == 2:
            stack = stack[None]
        if stack.ndim != 3:
            raise ValueError(f"gray must have shape (H, W) or (N, H, W), got {stack.shape}; "
                             "use to_gray() for colour images")
        if self.shape is None:
            self.shape = stack.shape[1:]
        elif stack.shape[1:] != self.shape:
            raise ValueError(f"gray has size {stack.shape[1:]} but this accumulator holds {self.shape}; "
                             "resize the images or use one accumulator per size")
        if stack.shape[0] == 0:
            return
        spec2d = np.stack([log_power_spectrum(g) for g in stack])
        spec1d = np.stack([azimuthal_average(s, full=self.full) for s in spec2d])
        self._combine(stack.shape[0], spec1d.mean(0), ((spec1d - spec1d.mean(0)) ** 2).sum(0),
                      spec2d.sum(0))

    def _combine(self, n: int, mean: np.ndarray, m2: np.ndarray, sum_2d: np.ndarray) -> None:
        if self.n == 0:
            self._mean_1d, self._m2_1d, self._sum_2d = mean.copy(), m2.copy(), sum_2d.copy()
        else:
            total = self.n + n
            delta = mean - self._mean_1d
            self._mean_1d = self._mean_1d + delta * (n / total)
            self._m2_1d = self._m2_1d + m2 + delta**2 * (self.n * n / total)
            self._sum_2d = self._sum_2d + sum_2d
        self.n += n

    def merge(self, other: SpectrumAccumulator) -> None:
        """Fold another accumulator of the same image size (e.g. another shard) into this one."""
        if other.n == 0:
            return
        if (self.shape is not None and other.shape != self.shape) or other.full != self.full:
            raise ValueError(f"other holds size {other.shape} (full={other.full}) but this accumulator "
                             f"holds {self.shape} (full={self.full}); merge like with like")
        self.shape = other.shape
        self._combine(other.n, other._mean_1d, other._m2_1d, other._sum_2d)

    def _require(self) -> None:
        if self.n == 0:
            raise ValueError("no images added yet; call add() before asking for a mean")

    def mean_1d(self) -> np.ndarray:
        """Mean azimuthal log spectrum over the images added."""
        self._require()
        return self._mean_1d.copy()

    def std_1d(self, *, ddof: int = 0) -> np.ndarray:
        """Per-radius standard deviation (ddof=0 like np.std; ddof=1 for the sample std)."""
        self._require()
        if self.n - ddof <= 0:
            raise ValueError(f"ddof={ddof} needs more than {ddof} images, got {self.n}")
        return np.sqrt(self._m2_1d / (self.n - ddof))

    def mean_2d(self) -> np.ndarray:
        """Mean 2-D (fftshifted) log power spectrum over the images added."""
        self._require()
        return self._sum_2d / self.n
