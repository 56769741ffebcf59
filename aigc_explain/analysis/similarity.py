"""How alike two saliency maps are: Spearman rank correlation and SSIM per pair of maps (the sanity check),
Pearson and Spearman per stack of maps (robustness sweeps). NaN where a map is constant. numpy/scipy/skimage."""

from __future__ import annotations

import math
import warnings

import numpy as np

METRICS = ("spearman", "spearman_abs", "ssim", "ssim_abs")


def _pair(a: np.ndarray, b: np.ndarray, absolute: bool) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"maps must be two (H, W) arrays of one shape; got {a.shape} and {b.shape}")
    return (np.abs(a), np.abs(b)) if absolute else (a, b)


def spearman(a: np.ndarray, b: np.ndarray, *, absolute: bool = False) -> float:
    """Spearman rank correlation of two maps' pixels; nan when a map is constant."""
    from scipy.stats import spearmanr

    a, b = _pair(a, b, absolute)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(spearmanr(a.ravel(), b.ravel()).statistic)


def ssim(a: np.ndarray, b: np.ndarray, *, absolute: bool = False) -> float:
    """SSIM of the two maps each divided by its largest |value| (scale-free): data_range 2 for signed
    maps in [-1, 1], 1 for |maps| in [0, 1]. A map and its negation do not score -1 (luminance and
    structure terms are then both negative): read sign flips from Spearman."""
    from skimage.metrics import structural_similarity

    a, b = _pair(a, b, absolute)
    a, b = (m / max(float(np.abs(m).max()), 1e-12) for m in (a, b))
    return float(structural_similarity(a, b, data_range=1.0 if absolute else 2.0))


def similarities(reference: np.ndarray, maps: np.ndarray) -> dict[str, np.ndarray]:
    """Per-image values of every metric in METRICS between two (N, H, W) stacks."""
    funcs = {"spearman": (spearman, False), "spearman_abs": (spearman, True), "ssim": (ssim, False),
             "ssim_abs": (ssim, True)}
    return {m: np.array([f(r, s, absolute=ab) for r, s in zip(reference, maps)]) for m, (f, ab) in funcs.items()}


def map_correlations(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-map Pearson and Spearman correlation of two (N, h, w) stacks; NaN where a map is constant."""
    from scipy.stats import ConstantInputWarning, pearsonr, rankdata

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(f"maps must be two (N, h, w) stacks of one shape; got {a.shape} and {b.shape}")
    x, y = a.reshape(len(a), -1), b.reshape(len(b), -1)
    if x.shape[1] < 2:
        return np.full(len(x), np.nan), np.full(len(x), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConstantInputWarning)  # constant maps give NaN, dropped by summarize
        pearson = pearsonr(x, y, axis=1).statistic
        spearman = pearsonr(rankdata(x, axis=1), rankdata(y, axis=1), axis=1).statistic
    return np.asarray(pearson, dtype=np.float64), np.asarray(spearman, dtype=np.float64)
