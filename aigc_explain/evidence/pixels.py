"""Pixel evidence, independent of any detector: where in the image do real and fake images differ?

Grad-CAM shows where a detector looks; this shows where the data differ, on the same grid (images are
resized exactly as the detector's evaluation resizes them), so the two can be set side by side. The
signal is a high-pass noise residual — grey image minus a denoised copy — where diffusion and GAN
fingerprints live (Corvi et al. 2023). Per class and pixel we keep the running mean and variance of the
residual energy (residual²), then give the fake − real difference, a Welch t-map, corner/centre/border
masses of the difference with an online bootstrap interval, and the residual's spectral fingerprint.
Everything streams in O(H·W) memory per class. Pure numpy/scipy, except ``load_for_audit``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.ndimage import convolve1d

from aigc_explain.analysis.spectra import log_power_spectrum, to_gray
from aigc_explain.evidence.pixel_bootstrap import DIRECTIONS, PoissonBootstrap, RegionSummary

# Denoiser: the 3x3 binomial (Gaussian, sigma ~0.7) low-pass. Its gain is exactly 0 at Nyquist, so
# period-2 up-sampling patterns pass into the residual undamped, and it is linear (the mean residual is
# the residual of the mean). A 3x3 median would keep a checkerboard (5 of 9 window pixels share a sign).
_BINOMIAL = np.array([0.25, 0.5, 0.25])
# A Welch standard error below this fraction of the largest class-mean energy counts as zero.
_SE_RTOL = 1e-12


def _as_hwc(image: Any, name: str = "image") -> np.ndarray:
    """(H, W, 3) uint8 view of an (H, W, 3) uint8 array or a (3, H, W) uint8 torch tensor."""
    if hasattr(image, "detach") and hasattr(image, "permute"):  # a torch tensor, without importing torch
        arr = image.detach().cpu().numpy()
        if arr.ndim != 3 or arr.shape[0] != 3 or arr.dtype != np.uint8:
            raise ValueError(f"{name} as a torch tensor must be (3, H, W) uint8 like aigc_explain.data."
                             f"read_image gives, got shape {tuple(arr.shape)} dtype {arr.dtype}")
        return np.ascontiguousarray(arr.transpose(1, 2, 0))  # layout-independent luma rounding
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"{name} must be an (H, W, 3) uint8 RGB array (or a (3, H, W) uint8 tensor), "
                         f"got shape {arr.shape} dtype {arr.dtype}; decode with load_for_audit(path, size)")
    return arr


def noise_residual(image: Any) -> np.ndarray:
    """(H, W) float64 high-pass residual: ITU-R 601 luma minus its 3x3 binomial blur (edges reflected)."""
    gray = to_gray(_as_hwc(image))
    low = convolve1d(convolve1d(gray, _BINOMIAL, axis=0, mode="reflect"), _BINOMIAL, axis=1, mode="reflect")
    return gray - low


def residual_maps(images: Sequence[Any] | np.ndarray, *, size: int | None = None) -> np.ndarray:
    """(N, H, W) residuals of N decoded images of one size (``size``×``size`` when given)."""
    if isinstance(images, np.ndarray) and images.ndim == 4:
        images = list(images)
    if len(images) == 0:
        raise ValueError("images is empty; pass at least one decoded image")
    out = [noise_residual(img) for img in images]
    want = out[0].shape if size is None else (size, size)
    for i, res in enumerate(out):
        if res.shape != want:
            raise ValueError(f"images[{i}] is {res.shape[0]}x{res.shape[1]} but expected {want[0]}x{want[1]} "
                             "(mixed sizes); resize every image with aigc_explain.data.Resize(size) first")
    return np.stack(out)


def residual_energy(residuals: np.ndarray) -> np.ndarray:
    """Per-pixel energy residual², as float64."""
    return np.square(np.asarray(residuals, dtype=np.float64))


def load_for_audit(path: str | Path, size: int) -> np.ndarray:
    """Decode with ``data.read_image`` and resize with ``data.Resize(size)`` (the detector's evaluation
    resize, so pixel maps align with CAM maps); returns (size, size, 3) uint8."""
    from aigc_explain.core.images import Resize, read_image

    if isinstance(size, bool) or not isinstance(size, int) or size < 3:
        raise ValueError(f"size must be an int >= 3 (pixels, e.g. the detector's --image-size), got {size!r}")
    return Resize(size)(read_image(path)).permute(1, 2, 0).contiguous().numpy()


def _check_batch(maps: Any, labels: Any, shape: tuple[int, int] | None, name: str) -> tuple[np.ndarray, np.ndarray]:
    arr = np.asarray(maps, dtype=np.float64)
    if arr.ndim != 3 or min(arr.shape[1:], default=0) < 1:
        raise ValueError(f"{name} must have shape (N, H, W), got {arr.shape}; stack the maps of one size")
    if shape is not None and arr.shape[1:] != shape:
        raise ValueError(f"{name} are {arr.shape[1]}x{arr.shape[2]} but this accumulator holds "
                         f"{shape[0]}x{shape[1]}; resize the images or use one accumulator per size")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contain NaN or inf; check the images")
    lab = np.asarray(labels)
    if lab.shape != (arr.shape[0],):
        raise ValueError(f"labels must have shape ({arr.shape[0]},), one per map, got {lab.shape}")
    if lab.size and not np.isin(lab, (0, 1)).all():
        raise ValueError(f"labels must be 0 (real) or 1 (fake), got values {np.unique(lab)[:5].tolist()}")
    return arr, lab.astype(np.int64)


def _chan(n: int, mean: np.ndarray, m2: np.ndarray, x: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """Chan et al.'s update of per-pixel (n, mean, M2) with a batch x (m, H, W); returns the new triple."""
    m = x.shape[0]
    bmean = x.mean(axis=0)
    bm2 = np.square(x - bmean).sum(axis=0)
    total = n + m
    delta = bmean - mean
    return total, mean + delta * (m / total), m2 + bm2 + np.square(delta) * (n * m / total)


class PixelEvidence:
    """Streaming per-class (0 real, 1 fake) mean and variance of residual-energy maps, O(H·W) per class.

    Also keeps an online Poisson bootstrap (``n_boot`` replicates, seeded by ``seed`` and each image's
    id) on a block-pooled grid, for intervals of the region masses; see ``region_summary``. Image ids
    default to a running count from ``first_id``; give shards disjoint ids (``first_id`` or ``ids=``)
    so ``merge`` equals one pass.
    """
    def __init__(self, shape: tuple[int, int], *, n_boot: int | None = 200, seed: int = 0, block: int | None = None,
                 corner_frac: float = 0.25, center_frac: float = 0.5, border_frac: float = 0.125,
                 first_id: int = 0) -> None:
        # n_boot=None: means and variances only (the audit localises on its own pooled grid, ``localise``)
        self.boot = None if n_boot is None else PoissonBootstrap(
            tuple(shape), n_boot=n_boot, seed=seed, block=block, fracs=(corner_frac, center_frac, border_frac))
        self.shape = self.boot.shape if self.boot else (int(shape[0]), int(shape[1]))
        self.n = np.zeros(2, dtype=np.int64)
        self._mean = np.zeros((2, *self.shape))
        self._m2 = np.zeros((2, *self.shape))
        self.next_id = int(first_id)

    def add(self, energy_maps: np.ndarray, labels: np.ndarray, *, ids: np.ndarray | None = None) -> None:
        """Add (N, H, W) residual-energy maps with labels (N,) of 0/1 (and optional unique int ids)."""
        maps, lab = _check_batch(energy_maps, labels, self.shape, "energy_maps")
        if ids is None:
            ids = np.arange(self.next_id, self.next_id + len(lab))
        ids = np.asarray(ids)
        bad = ids.size and (not np.issubdtype(ids.dtype, np.integer) or ids.min() < 0)
        if ids.shape != lab.shape or bad:
            raise ValueError(f"ids must be ({len(lab)},) non-negative ints, one per map, got {ids.shape} {ids.dtype}")
        for c in (0, 1):
            sel = lab == c
            if sel.any():
                self.n[c], self._mean[c], self._m2[c] = _chan(self.n[c], self._mean[c], self._m2[c], maps[sel])
        if self.boot is not None:
            self.boot.add(maps, lab, ids)
        if ids.size:
            self.next_id = max(self.next_id, int(ids.max()) + 1)

    def merge(self, other: PixelEvidence) -> None:
        """Fold another accumulator (another shard, disjoint image ids) into this one, in place."""
        if not isinstance(other, PixelEvidence):
            raise ValueError(f"other must be a PixelEvidence, got {type(other).__name__}")
        if (self.boot is None) != (other.boot is None) or other.shape != self.shape:
            raise ValueError("other must have this accumulator's shape and bootstrap (both with or both without)")
        if self.boot is not None:
            self.boot.merge(other.boot)  # checks shape and settings first
        for c in (0, 1):
            n, m = self.n[c], other.n[c]
            if m == 0:
                continue
            total, delta = n + m, other._mean[c] - self._mean[c]
            self._mean[c] = self._mean[c] + delta * (m / total)
            self._m2[c] = self._m2[c] + other._m2[c] + np.square(delta) * (n * m / total)
            self.n[c] = total
        self.next_id = max(self.next_id, other.next_id)

    def _need(self, minimum: int, what: str) -> None:
        if (self.n < minimum).any():
            raise ValueError(f"{what} needs at least {minimum} image(s) per class, got n_real={self.n[0]}, "
                             f"n_fake={self.n[1]}; add images of both classes first")

    def mean_map(self, label: int) -> np.ndarray:
        """(H, W) mean residual energy of class ``label`` (0 real, 1 fake)."""
        if label not in (0, 1):
            raise ValueError(f"label must be 0 (real) or 1 (fake), got {label!r}")
        if self.n[label] == 0:
            raise ValueError(f"no images of class {label} added yet")
        return self._mean[label].copy()

    def variance_map(self, label: int, *, ddof: int = 1) -> np.ndarray:
        """(H, W) per-pixel variance of the energy (sample variance by default)."""
        self.mean_map(label)
        if self.n[label] - ddof <= 0:
            raise ValueError(f"ddof={ddof} needs more than {ddof} images of class {label}, got {self.n[label]}")
        return self._m2[label] / (self.n[label] - ddof)

    def difference_map(self) -> np.ndarray:
        """(H, W) fake − real mean residual energy."""
        self._need(1, "difference_map")
        return self._mean[1] - self._mean[0]

    def t_map(self) -> np.ndarray:
        """(H, W) Welch t of fake − real energy. NaN where the standard error is (numerically) zero —
        both classes without spread there, e.g. a region constant in every image — never a division by 0."""
        self._need(2, "t_map")
        se2 = self.variance_map(0) / self.n[0] + self.variance_map(1) / self.n[1]
        scale = float(np.abs(self._mean).max())
        se = np.sqrt(se2)
        ok = se > _SE_RTOL * scale
        return np.where(ok, self.difference_map() / np.where(ok, se, 1.0), np.nan)

    def region_summary(self, *, confidence: float = 0.95, direction: str = "fake") -> RegionSummary:
        """Corner/centre/border masses and corner_share with bootstrap intervals (JSON-safe: ``to_json()``).

        Measured on the positive part of the fake − real difference of mean energy maps (where fakes
        carry more residual energy than reals; ``regions.region_masses`` ReLUs it), after sum-pooling it
        over k×k blocks (k = ``block``: by default the largest k <= 8 whose grid keeps the region
        boundaries exactly; block=1 is per pixel). Each mass is an ``Interval`` (mean, ci95, n images);
        the interval is the percentile interval of the Poisson replicates. If fakes nowhere exceed reals,
        ``empty`` is True and the masses are None. ``excess_energy`` says how large the difference is.
        ``direction="real"`` measures where the reals exceed the fakes instead, ``"either"`` |fake − real|.
        """
        self._need(1, "region_summary")
        if self.boot is None:
            raise ValueError("region_summary needs the bootstrap; build PixelEvidence with n_boot (e.g. 200)")
        out = self.boot.summary(self._mean[0], self._mean[1], int(self.n.sum()), confidence, direction)
        return out.replace(n_real=int(self.n[0]), n_fake=int(self.n[1]),
                           measured_on=f"{DIRECTIONS[direction]} of the classes' mean residual energy, block-pooled")

    def state_dict(self) -> dict[str, np.ndarray]:
        """Plain numpy arrays, for ``np.savez``."""
        return {"n": self.n.copy(), "mean": self._mean.copy(), "m2": self._m2.copy(),
                "next_id": np.array(self.next_id), **(self.boot.state_dict() if self.boot else {})}

    @classmethod
    def from_state(cls, state: dict) -> PixelEvidence:
        """Rebuild from ``state_dict()`` output (or the npz loaded from it)."""
        missing = {"n", "mean", "m2", "next_id", "boot_sums", "boot_weights", "boot_settings",
                   "boot_fracs"} - set(state)
        if missing:
            raise ValueError(f"state is missing keys {sorted(missing)}; pass PixelEvidence.state_dict()")
        mean = np.asarray(state["mean"], np.float64)
        if mean.ndim != 3 or mean.shape[0] != 2:
            raise ValueError(f"state['mean'] must have shape (2, H, W), got {mean.shape}")
        ev = cls.__new__(cls)
        ev.boot = PoissonBootstrap.from_state(state, mean.shape[1:])
        ev.shape = ev.boot.shape
        ev.n = np.asarray(state["n"], np.int64).copy()
        ev._mean, ev._m2 = mean.copy(), np.asarray(state["m2"], np.float64).copy()
        ev.next_id = int(np.asarray(state["next_id"]))
        return ev


class ResidualFingerprint:
    """Per class: the mean 2-D log power spectrum of the residuals and the power of the mean residual.

    The first shows excess high-frequency power of any kind; the second only phase-aligned periodic
    patterns (an up-sampling checkerboard of period 2 peaks at (±0.5, ±0.5) cycles/pixel, index (0, 0)
    after fftshift). Spectra are fftshifted (DC at (H // 2, W // 2)); see ``frequencies``.
    """
    def __init__(self, shape: tuple[int, int]) -> None:
        if len(shape) != 2 or min(shape) < 2:
            raise ValueError(f"shape must be (H, W) of at least 2x2, got {shape!r}")
        self.shape = (int(shape[0]), int(shape[1]))
        self.n = np.zeros(2, dtype=np.int64)
        self._sum_log = np.zeros((2, *self.shape))
        self._sum_res = np.zeros((2, *self.shape))

    def add(self, residuals: np.ndarray, labels: np.ndarray) -> None:
        """Add (N, H, W) residuals (from ``residual_maps``) with 0/1 labels."""
        res, lab = _check_batch(residuals, labels, self.shape, "residuals")
        for r, c in zip(res, lab):
            self._sum_log[c] += log_power_spectrum(r)
            self._sum_res[c] += r
            self.n[c] += 1

    def merge(self, other: ResidualFingerprint) -> None:
        """Fold another shard's fingerprint into this one, in place."""
        if not isinstance(other, ResidualFingerprint) or other.shape != self.shape:
            raise ValueError(f"other must be a ResidualFingerprint of shape {self.shape}")
        self.n += other.n
        self._sum_log += other._sum_log
        self._sum_res += other._sum_res

    def _check(self, label: int) -> None:
        if label not in (0, 1) or self.n[label] == 0:
            raise ValueError(f"label must be 0 or 1 with images added, got {label!r} (n={self.n.tolist()})")

    def mean_log_power(self, label: int) -> np.ndarray:
        """Mean over images of log(|FFT2(residual)|² + 1e-10), fftshifted."""
        self._check(label)
        return self._sum_log[label] / self.n[label]

    def mean_residual_power(self, label: int) -> np.ndarray:
        """|FFT2(mean residual)|² / (H·W), fftshifted: a pattern a·(±1) over the image gives a²·H·W."""
        self._check(label)
        mean = self._sum_res[label] / self.n[label]
        return np.abs(np.fft.fftshift(np.fft.fft2(mean))) ** 2 / mean.size

    def frequencies(self) -> tuple[np.ndarray, np.ndarray]:
        """Row and column frequencies (cycles/pixel) of the fftshifted spectra."""
        h, w = self.shape
        return np.fft.fftshift(np.fft.fftfreq(h)), np.fft.fftshift(np.fft.fftfreq(w))

    def state_dict(self) -> dict[str, np.ndarray]:
        """Plain numpy arrays, for ``np.savez``."""
        return {"n": self.n.copy(), "sum_log": self._sum_log.copy(), "sum_res": self._sum_res.copy()}

    @classmethod
    def from_state(cls, state: dict) -> ResidualFingerprint:
        """Rebuild from ``state_dict()`` output (or the npz loaded from it)."""
        missing = {"n", "sum_log", "sum_res"} - set(state)
        if missing:
            raise ValueError(f"state is missing keys {sorted(missing)}; pass ResidualFingerprint.state_dict()")
        sum_log = np.asarray(state["sum_log"], np.float64)
        fp = cls(sum_log.shape[1:])
        fp.n = np.asarray(state["n"], np.int64).copy()
        fp._sum_log, fp._sum_res = sum_log.copy(), np.asarray(state["sum_res"], np.float64).copy()
        return fp
