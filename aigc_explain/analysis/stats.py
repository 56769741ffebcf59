"""Statistics for attention comparisons: bootstrap intervals, permutation and rank tests.

Used to say whether, e.g., the corner share of fake images differs from that of real images, with an
honest interval rather than a bare mean. NaN values (empty CAMs) are dropped everywhere, and every
result is a typed record (``runs.summaries``: ``Interval``, ``GroupTest``, ``PairedTest``) whose JSON is safe
(NaN becomes None).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from aigc_explain.runs.summaries import GroupTest, Interval, PairedTest

# Resampling draws at most this many values per chunk (about 32 MB of float64) to bound memory.
_CHUNK_ELEMENTS = 1 << 22
_STATISTICS: dict[str, Callable[..., np.ndarray]] = {"mean": np.mean, "median": np.median}


def to_json_float(x: Any) -> float | None:
    """Python float, or None for NaN/inf/None, so results can go straight into json.dump."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _finite(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim > 1:
        raise ValueError(f"{name} must be 1-D (one value per image), got shape {arr.shape}; flatten it first")
    arr = arr.reshape(-1)
    return arr[np.isfinite(arr)]


def _rng(seed: int | np.random.Generator) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


MAX_COUNT = 10_000_000  # resamples, permutations, sizes: beyond this, memory or time runs out (issue #21)


def check_count(name: str, value: Any, example: int | None = 2000) -> int:
    """``value`` as an int if it is a positive int (not a bool), else one clear ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= value <= MAX_COUNT:
        hint = f"; e.g. {name}={example}" if example is not None else ""
        raise ValueError(f"{name} must be a positive int of at most {MAX_COUNT:,} (what memory and time allow), "
                         f"got {value!r}{hint}")
    return int(value)


def bootstrap_samples(
    values: Any,
    *,
    statistic: Callable[..., np.ndarray] = np.mean,
    n_boot: int = 2000,
    seed: int | np.random.Generator = 0,
) -> np.ndarray:
    """``n_boot`` values of ``statistic`` over resamples (with replacement) of the finite values.

    ``statistic`` must be a numpy reduction taking ``axis=`` (np.mean, np.median, ...). Returns an
    empty array when there is no finite value.
    """
    check_count("n_boot", n_boot)
    x = _finite(values, "values")
    if x.size == 0:
        return np.empty(0)
    rng = _rng(seed)
    chunk = max(1, _CHUNK_ELEMENTS // x.size)
    out = np.empty(n_boot)
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        idx = rng.integers(0, x.size, size=(stop - start, x.size))
        out[start:stop] = statistic(x[idx], axis=1)
    return out


def check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}; e.g. confidence=0.95")


def percentile_interval(samples: Any, *, confidence: float = 0.95) -> tuple[float, float]:
    """Central ``confidence`` interval of bootstrap samples (finite ones); (nan, nan) if none."""
    check_confidence(confidence)
    samples = np.asarray(samples, dtype=np.float64).reshape(-1)
    if samples.size == 0 or not np.isfinite(samples).any():
        return (math.nan, math.nan)
    alpha = 1.0 - confidence
    lo, hi = np.quantile(samples[np.isfinite(samples)], [alpha / 2, 1 - alpha / 2])
    return (float(lo), float(hi))


def bootstrap_ci(
    values: Any,
    *,
    statistic: Callable[..., np.ndarray] = np.mean,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic``, ignoring NaN; (nan, nan) with no finite value."""
    check_confidence(confidence)  # fail before resampling
    samples = bootstrap_samples(values, statistic=statistic, n_boot=n_boot, seed=seed)
    return percentile_interval(samples, confidence=confidence)


def summarize(values: Any, *, n_boot: int = 2000, seed: int = 0) -> Interval:
    """The mean of the finite values with its bootstrap 95% interval and their count (None where undefined)."""
    x = _finite(values, "values")
    lo, hi = bootstrap_ci(x, n_boot=n_boot, seed=seed)
    mean = float(x.mean()) if x.size else None
    return Interval(mean=to_json_float(mean), ci95=(to_json_float(lo), to_json_float(hi)), n=int(x.size))


def permutation_test(
    a: Any, b: Any, *, n_perm: int = 10000, seed: int = 0, statistic: str = "mean"
) -> float:
    """Two-sided Monte-Carlo permutation p-value for a difference in ``statistic`` ("mean"/"median").

    p = (count(|perm diff| >= |observed diff|) + 1) / (n_perm + 1), NaN dropped; nan if a side is
    empty. Written by hand because scipy.stats.permutation_test switches to exact enumeration for
    small samples and doubles one-sided p, so its p-values would not follow this fixed definition.
    """
    check_count("n_perm", n_perm)
    if statistic not in _STATISTICS:
        raise ValueError(f"statistic must be one of {sorted(_STATISTICS)}, got {statistic!r}")
    stat = _STATISTICS[statistic]
    xa, xb = _finite(a, "a"), _finite(b, "b")
    if xa.size == 0 or xb.size == 0:
        return math.nan
    pooled = np.concatenate([xa, xb])
    observed = abs(float(stat(xa) - stat(xb)))
    tol = 1e-12 * max(1.0, observed)  # ties in floating point count as "as extreme"
    rng = np.random.default_rng(seed)
    chunk = max(1, _CHUNK_ELEMENTS // pooled.size)
    count = 0
    for start in range(0, n_perm, chunk):
        rows = min(chunk, n_perm - start)
        perm = rng.permuted(np.broadcast_to(pooled, (rows, pooled.size)), axis=1)
        diff = stat(perm[:, : xa.size], axis=1) - stat(perm[:, xa.size :], axis=1)
        count += int((np.abs(diff) >= observed - tol).sum())
    return (count + 1) / (n_perm + 1)


def mann_whitney(a: Any, b: Any) -> float:
    """Two-sided Mann-Whitney U p-value (scipy), NaN dropped; nan if either side is empty."""
    from scipy.stats import mannwhitneyu

    xa, xb = _finite(a, "a"), _finite(b, "b")
    if xa.size == 0 or xb.size == 0:
        return math.nan
    return float(mannwhitneyu(xa, xb, alternative="two-sided").pvalue)


def compare_groups(
    a: Any, b: Any, *, n_perm: int = 10000, n_boot: int = 2000, seed: int = 0
) -> GroupTest:
    """Compare two groups: means, diff = mean_a - mean_b with a bootstrap 95% CI, and two p-values.

    The CI resamples each group independently. Undefined values are None.
    """
    xa, xb = _finite(a, "a"), _finite(b, "b")
    mean_a = float(xa.mean()) if xa.size else math.nan
    mean_b = float(xb.mean()) if xb.size else math.nan
    rng = np.random.default_rng(seed)
    boot_a = bootstrap_samples(xa, n_boot=n_boot, seed=rng)
    boot_b = bootstrap_samples(xb, n_boot=n_boot, seed=rng)
    lo, hi = (math.nan, math.nan)
    if boot_a.size and boot_b.size:
        lo, hi = percentile_interval(boot_a - boot_b)
    return GroupTest(
        mean_a=to_json_float(mean_a),
        mean_b=to_json_float(mean_b),
        diff=to_json_float(mean_a - mean_b),
        diff_ci95=(to_json_float(lo), to_json_float(hi)),
        p_permutation=to_json_float(permutation_test(xa, xb, n_perm=n_perm, seed=seed)),
        p_mann_whitney=to_json_float(mann_whitney(xa, xb)),
        n_a=int(xa.size),
        n_b=int(xb.size),
    )


def sign_flip_test(diffs: Any, *, n_perm: int = 10000, seed: int = 0) -> float:
    """Two-sided Monte-Carlo sign-flip p-value that paired differences have mean 0 (the paired counterpart of
    ``permutation_test``, with the same definition of p and the same chunking); nan when there is none."""
    check_count("n_perm", n_perm)
    d = _finite(diffs, "diffs")
    if d.size == 0:
        return math.nan
    observed = abs(float(d.mean()))
    tol = 1e-12 * max(1.0, observed)
    rng = np.random.default_rng(seed)
    chunk = max(1, _CHUNK_ELEMENTS // d.size)
    count = 0
    for start in range(0, n_perm, chunk):
        signs = rng.choice((-1.0, 1.0), size=(min(chunk, n_perm - start), d.size))
        count += int((np.abs((signs * d).mean(axis=1)) >= observed - tol).sum())
    return (count + 1) / (n_perm + 1)


def compare_paired(a: Any, b: Any, *, n_perm: int = 10000, seed: int = 0) -> PairedTest:
    """Per-item differences a - b of aligned values (pairs with a NaN dropped): their mean, a sign-flip
    permutation p and a Wilcoxon signed-rank p (None where undefined)."""
    from scipy.stats import wilcoxon

    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return PairedTest(n_pairs=0, mean_diff=None, p_sign_flip=None, p_wilcoxon=None)
    p_w = float(wilcoxon(d).pvalue) if np.any(d != 0) else math.nan
    return PairedTest(n_pairs=int(d.size), mean_diff=to_json_float(d.mean()),
                      p_sign_flip=to_json_float(sign_flip_test(d, n_perm=n_perm, seed=seed)),
                      p_wilcoxon=to_json_float(p_w))
