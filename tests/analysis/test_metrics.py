"""Known-answer tests for aigc_explain.analysis.metrics (label 0 = real, 1 = fake)."""

import json
import warnings

import numpy as np
import pytest

from aigc_explain.analysis.metrics import binary_metrics, confusion

# 4 real, 4 fake. At threshold 0.5 the real 0.6 and the fake 0.4 are wrong: 6/8 correct.
LABELS = [0, 0, 0, 0, 1, 1, 1, 1]
PROBS = [0.1, 0.2, 0.3, 0.6, 0.4, 0.7, 0.8, 0.9]


def _json(*args, **kwargs) -> dict:
    """binary_metrics as metrics.json holds it."""
    return binary_metrics(*args, **kwargs).to_json()


def test_hand_computed_example():
    m = _json(LABELS, PROBS)
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["real_acc"] == pytest.approx(3 / 4)
    assert m["fake_acc"] == pytest.approx(3 / 4)
    # AUC: of the 16 (fake, real) pairs only (0.4, 0.6) is mis-ordered -> 15/16.
    assert m["roc_auc"] == pytest.approx(15 / 16)
    # AP: ranked 0.9F 0.8F 0.7F 0.6R 0.4F ...; precision at each fake = 1, 1, 1, 4/5 -> mean 0.95.
    assert m["average_precision"] == pytest.approx(0.95)
    assert (m["n_real"], m["n_fake"], m["threshold"]) == (4, 4, 0.5)
    typed = binary_metrics(LABELS, PROBS)
    assert (typed.accuracy, typed.ci95.roc_auc) == (m["accuracy"], tuple(m["ci95"]["roc_auc"]))


def test_exact_keys_and_json_safe():
    m = _json(LABELS, PROBS, n_boot=200)
    assert set(m) == {"accuracy", "real_acc", "fake_acc", "average_precision", "roc_auc",
                      "n_real", "n_fake", "threshold", "ci95", "reencode", "warnings"}
    assert set(m["ci95"]) == {"accuracy", "real_acc", "fake_acc", "average_precision", "roc_auc"}
    for key, (lo, hi) in m["ci95"].items():
        assert 0.0 <= lo <= m[key] <= hi <= 1.0
    json.dumps(m, allow_nan=False)
    assert _json(LABELS, PROBS, n_boot=200) == m  # deterministic with the default seed


def test_threshold_boundary_is_fake():
    m = _json([0, 1], [0.5, 0.5], threshold=0.5)
    assert m["real_acc"] == 0.0 and m["fake_acc"] == 1.0
    m = _json([0, 1], [0.5, 0.5], threshold=0.50001)
    assert m["real_acc"] == 1.0 and m["fake_acc"] == 0.0


def test_perfect_detector_ci_is_point():
    m = _json([0, 0, 1, 1], [0.0, 0.1, 0.9, 1.0])
    assert m["ci95"] == {"accuracy": [1.0, 1.0], "real_acc": [1.0, 1.0], "fake_acc": [1.0, 1.0],
                         "average_precision": [1.0, 1.0], "roc_auc": [1.0, 1.0]}
    assert m["roc_auc"] == 1.0 and m["average_precision"] == 1.0


def test_one_class_input():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = _json([0, 0, 0], [0.2, 0.7, 0.1])
    assert m["accuracy"] == pytest.approx(2 / 3) and m["real_acc"] == pytest.approx(2 / 3)
    assert m["fake_acc"] is None and m["average_precision"] is None and m["roc_auc"] is None
    assert (m["n_real"], m["n_fake"]) == (3, 0)
    assert m["ci95"]["fake_acc"] == [None, None]
    lo, hi = m["ci95"]["accuracy"]
    assert lo <= 2 / 3 <= hi
    assert m["ci95"]["accuracy"] == m["ci95"]["real_acc"]
    only_fake = _json([1, 1], [0.9, 0.8])
    assert only_fake["real_acc"] is None and only_fake["fake_acc"] == 1.0
    json.dumps([m, only_fake], allow_nan=False)


def test_confusion():
    cm = confusion([0, 0, 0, 1, 1], [0, 1, 0, 1, 0])
    np.testing.assert_array_equal(cm, [[2, 1], [1, 1]])  # [[tn, fp], [fn, tp]]
    np.testing.assert_array_equal(confusion([1, 1], [1, 1]), [[0, 0], [0, 2]])
    with pytest.raises(ValueError, match="preds must contain only 0"):
        confusion([0, 1], [0, 2])
    with pytest.raises(ValueError, match=r"preds must have one value per label \(2\)"):
        confusion([0, 1], [0, 1, 1])


@pytest.mark.parametrize(
    ("labels", "probs", "kwargs", "match"),
    [
        ([], [], {}, "labels must be a non-empty 1-D array"),
        ([0, 2], [0.1, 0.2], {}, r"labels must contain only 0 \(real\) and 1 \(fake\); found \[2\]"),
        ([0, 1], [0.1], {}, r"probs must be 1-D with one value per label \(2\)"),
        ([0, 1], [0.1, 1.5], {}, r"probs must be finite probabilities in \[0, 1\]; apply a sigmoid"),
        ([0, 1], [0.1, np.nan], {}, "probs must be finite"),
        ([0, 1], [0.1, 0.9], {"threshold": 2.0}, r"threshold must be in \[0, 1\]"),
        ([0, 1], [0.1, 0.9], {"n_boot": 0}, "n_boot must be a positive int"),
        (["a", "b"], [0.1, 0.9], {}, "labels must be numeric"),
    ],
)
def test_validation(labels, probs, kwargs, match):
    with pytest.raises(ValueError, match=match):
        binary_metrics(labels, probs, **kwargs)


def test_weighted_ranking_scores_equal_sklearn_and_resample_sensibly():
    from sklearn.metrics import average_precision_score, roc_auc_score

    from aigc_explain.analysis.metrics import ranking_scores

    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 300)
    p = np.round(rng.random(300) * 0.6 + 0.4 * y, 2)  # rounded: many ties
    ap, auc = ranking_scores(p, y, np.ones((1, 300)))
    assert ap[0] == pytest.approx(average_precision_score(y, p), abs=1e-12)
    assert auc[0] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    counts = np.zeros((1, 300))
    counts[0, :150] = 2  # the first half twice, the rest left out: the same as scoring that half alone
    ap2, auc2 = ranking_scores(p, y, counts)
    assert ap2[0] == pytest.approx(average_precision_score(y[:150], p[:150]), abs=1e-12)
    assert auc2[0] == pytest.approx(roc_auc_score(y[:150], p[:150]), abs=1e-12)
    m = _json(y, p, n_boot=500)
    lo, hi = m["ci95"]["average_precision"]
    assert lo < m["average_precision"] < hi and hi - lo < 0.2
    lo, hi = m["ci95"]["roc_auc"]
    assert lo < m["roc_auc"] < hi
