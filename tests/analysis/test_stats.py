"""Known-answer tests for aigc_explain.analysis.stats."""

import json
import math

import numpy as np
import pytest

from aigc_explain.analysis.stats import (bootstrap_ci, bootstrap_samples, compare_groups, mann_whitney,
                                         permutation_test, summarize, to_json_float)
from aigc_explain.runs.summaries import Interval


def test_ci_of_constant_is_point():
    assert bootstrap_ci(np.full(50, 3.0)) == (3.0, 3.0)


def test_ci_of_normal_sample_covers_mean_with_expected_width():
    rng = np.random.default_rng(123)
    n, sigma = 400, 2.0
    x = rng.normal(5.0, sigma, size=n)
    lo, hi = bootstrap_ci(x, n_boot=4000)
    assert lo < 5.0 < hi
    assert hi - lo == pytest.approx(2 * 1.96 * sigma / math.sqrt(n), rel=0.2)


def test_ci_median_and_confidence():
    x = np.arange(101.0)
    lo90, hi90 = bootstrap_ci(x, statistic=np.median, confidence=0.9)
    lo99, hi99 = bootstrap_ci(x, statistic=np.median, confidence=0.99)
    assert lo99 <= lo90 < 50 < hi90 <= hi99


def test_ci_nan_handling_and_determinism():
    x = np.array([1.0, np.nan, 2.0, 3.0, np.nan, 10.0])
    assert bootstrap_ci(x, seed=7) == bootstrap_ci(x[np.isfinite(x)], seed=7)
    assert not np.array_equal(bootstrap_samples(x, seed=7), bootstrap_samples(x, seed=8))
    assert all(math.isnan(v) for v in bootstrap_ci([np.nan, np.nan]))
    assert all(math.isnan(v) for v in bootstrap_ci([]))


def test_bootstrap_chunking_matches_bounds():
    x = np.random.default_rng(0).random(5000)  # forces several chunks
    s = bootstrap_samples(x, n_boot=2000)
    assert s.shape == (2000,) and x.min() <= s.min() and s.max() <= x.max()
    # the bootstrap distribution of the mean: centred on it, spread = standard error (2000 draws: ~3%)
    assert s.mean() == pytest.approx(x.mean(), abs=0.001)
    assert s.std() == pytest.approx(x.std() / np.sqrt(x.size), rel=0.1)


def test_summarize_json_safe():
    out = summarize([1.0, np.nan, 3.0])
    assert out.mean == 2.0 and out.n == 2 and out.lo <= 2.0 <= out.hi
    empty = summarize([np.nan])
    assert empty == Interval(mean=None, ci95=(None, None), n=0) and not empty.defined
    assert empty.to_json() == {"mean": None, "ci95": [None, None], "n": 0}
    json.dumps([out.to_json(), empty.to_json()], allow_nan=False)


def test_permutation_identical_distributions_large_p():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=60), rng.normal(size=60)
    assert permutation_test(a, b, n_perm=2000) > 0.05


def test_permutation_shifted_tiny_example():
    # a: five 0s, b: five 1s. |diff| = 1 only when the groups are exactly swapped back or forth:
    # 2 of C(10, 5) = 252 splits, so the exact two-sided p is 2/252 ~ 0.0079.
    p = permutation_test([0, 0, 0, 0, 0], [1, 1, 1, 1, 1], n_perm=20000)
    assert p == pytest.approx(2 / 252, abs=0.002)


def test_permutation_plus_one_correction_exact():
    # One value per side: every permutation has |diff| = 1, so p = (n + 1) / (n + 1) = 1.
    assert permutation_test([0.0], [1.0], n_perm=99) == 1.0
    # Minimum possible p with the +1 correction: 1 / (n_perm + 1).
    a, b = np.zeros(30), np.ones(30)
    assert permutation_test(a, b, n_perm=999) == pytest.approx(1 / 1000)


def test_permutation_nan_seed_and_validation():
    a, b = [0.1, np.nan, 0.3, 0.2], [0.5, 0.6, np.nan, 0.7]
    assert permutation_test(a, b, seed=3) == permutation_test([0.1, 0.3, 0.2], [0.5, 0.6, 0.7], seed=3)
    assert math.isnan(permutation_test([np.nan], [1.0]))
    # exact answer: 4 of the 20 ways to split the six values have a median gap >= the observed 0.4
    assert permutation_test(a, b, statistic="median") == pytest.approx(4 / 20, abs=0.015)
    with pytest.raises(ValueError, match="statistic must be one of"):
        permutation_test(a, b, statistic="mode")
    with pytest.raises(ValueError, match="n_perm must be a positive int"):
        permutation_test(a, b, n_perm=0)
    with pytest.raises(ValueError, match="n_boot must be a positive int"):
        bootstrap_ci(a, n_boot=0)
    with pytest.raises(ValueError, match=r"confidence must be in \(0, 1\)"):
        bootstrap_ci(a, confidence=95)
    with pytest.raises(ValueError, match="values must be 1-D"):
        bootstrap_ci(np.ones((2, 2)))


def test_mann_whitney_known_answer():
    # Complete separation of 3 vs 3: exact two-sided p = 2 / C(6, 3) = 0.1
    assert mann_whitney([1, 2, 3], [4, 5, 6]) == pytest.approx(0.1)
    assert mann_whitney([1, np.nan, 2, 3], [4, 5, 6, np.nan]) == pytest.approx(0.1)
    assert math.isnan(mann_whitney([], [1.0]))


def test_compare_groups_json_safe():
    rng = np.random.default_rng(0)
    a, b = rng.normal(1.0, 0.1, 50), rng.normal(0.0, 0.1, 40)
    out = compare_groups(a, b, n_perm=999, n_boot=500)
    assert list(out.to_json()) == ["mean_a", "mean_b", "diff", "diff_ci95", "p_permutation", "p_mann_whitney",
                                   "n_a", "n_b"]
    assert out.diff == pytest.approx(a.mean() - b.mean())
    assert out.diff_ci95[0] < out.diff < out.diff_ci95[1]
    assert out.p_permutation == pytest.approx(1 / 1000) and out.p_mann_whitney < 1e-6
    assert (out.n_a, out.n_b) == (50, 40)
    assert compare_groups(a, b, n_perm=999, n_boot=500) == out
    empty = compare_groups([np.nan], b, n_perm=99, n_boot=50)
    assert empty.mean_a is None and empty.diff_ci95 == (None, None) and empty.p_permutation is None
    json.dumps([out.to_json(), empty.to_json()], allow_nan=False)


def test_to_json_float():
    assert to_json_float(np.float32(0.5)) == 0.5 and type(to_json_float(np.int64(2))) is float
    assert to_json_float(np.nan) is None and to_json_float(np.inf) is None and to_json_float(None) is None
