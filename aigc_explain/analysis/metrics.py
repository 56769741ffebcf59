"""Binary detection metrics for real-vs-fake detectors, with bootstrap intervals.

Label 0 = real, 1 = fake; ``probs`` is the detector's sigmoid probability of fake. Per-class
accuracies are reported alongside overall accuracy because a detector that calls everything fake
can look good on an imbalanced test set. AP and ROC AUC come from scikit-learn.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aigc_explain.analysis.stats import bootstrap_samples, percentile_interval, to_json_float
from aigc_explain.runs.summaries import EvaluationMetrics, MetricIntervals


def _check_labels(labels: Any, name: str) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{name} must be numeric 0/1 (0 = real, 1 = fake), got dtype {arr.dtype}")
    bad = ~np.isin(arr, (0, 1))
    if bad.any():
        raise ValueError(f"{name} must contain only 0 (real) and 1 (fake); found {arr[bad][:5].tolist()}")
    return arr.astype(np.int64)


def _check_probs(probs: Any, n: int) -> np.ndarray:
    arr = np.asarray(probs, dtype=np.float64)
    if arr.ndim != 1 or arr.size != n:
        raise ValueError(f"probs must be 1-D with one value per label ({n}), got shape {arr.shape}")
    if not np.isfinite(arr).all() or (arr < 0).any() or (arr > 1).any():
        raise ValueError("probs must be finite probabilities in [0, 1]; apply a sigmoid to logits first")
    return arr


def confusion(labels: Any, preds: Any) -> np.ndarray:
    """2x2 int counts [[tn, fp], [fn, tp]]: rows are the true class (real, fake), columns the prediction."""
    from sklearn.metrics import confusion_matrix

    y = _check_labels(labels, "labels")
    p = _check_labels(preds, "preds")
    if p.size != y.size:
        raise ValueError(f"preds must have one value per label ({y.size}), got {p.size}")
    return confusion_matrix(y, p, labels=[0, 1])


def _interval(samples: np.ndarray) -> tuple[float | None, float | None]:
    lo, hi = percentile_interval(samples)
    return (to_json_float(lo), to_json_float(hi))


def _accuracy_cis(correct: np.ndarray, y: np.ndarray, *, n_boot: int, seed: int) -> dict[str, tuple]:
    """Stratified bootstrap: each class is resampled on its own, so class counts stay fixed."""
    rng = np.random.default_rng(seed)
    real = bootstrap_samples(correct[y == 0], n_boot=n_boot, seed=rng)
    fake = bootstrap_samples(correct[y == 1], n_boot=n_boot, seed=rng)
    n_real, n_fake = int((y == 0).sum()), int((y == 1).sum())
    r = real if n_real else np.zeros(n_boot)
    f = fake if n_fake else np.zeros(n_boot)
    overall = (r * n_real + f * n_fake) / (n_real + n_fake)
    return {"accuracy": _interval(overall), "real_acc": _interval(real), "fake_acc": _interval(fake)}


def ranking_scores(p: np.ndarray, y: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AP and ROC AUC of scores ``p`` with labels ``y`` where image i counts ``weights[b, i]`` times, for every
    row b at once (a bootstrap resample is such a row of counts; all ones gives scikit-learn's numbers).
    Ties share a threshold, as in scikit-learn: AP = sum of (R_k - R_k-1) P_k over distinct scores."""
    uniq, inv = np.unique(p, return_inverse=True)  # ascending
    pos = np.stack([np.bincount(inv, weights=w * (y == 1), minlength=uniq.size) for w in weights])
    neg = np.stack([np.bincount(inv, weights=w * (y == 0), minlength=uniq.size) for w in weights])
    n_pos, n_neg = pos.sum(axis=1), neg.sum(axis=1)
    tp, fp = np.cumsum(pos[:, ::-1], axis=1), np.cumsum(neg[:, ::-1], axis=1)  # thresholds from the top
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        ap = (pos[:, ::-1] / n_pos[:, None] * precision).sum(axis=1)
        below = np.cumsum(neg, axis=1) - neg
        auc = (pos * (below + 0.5 * neg)).sum(axis=1) / (n_pos * n_neg)
    return ap, auc


def _ranking_cis(p: np.ndarray, y: np.ndarray, *, n_boot: int, seed: int) -> dict[str, tuple]:
    """Stratified bootstrap intervals of AP and ROC AUC (each class resampled on its own, in chunks)."""
    rng = np.random.default_rng([seed, 1])
    n_real, n_fake = int((y == 0).sum()), int((y == 1).sum())
    aps, aucs = [], []
    for start in range(0, n_boot, 200):
        b = min(200, n_boot - start)
        weights = np.zeros((b, y.size))
        weights[:, y == 0] = rng.multinomial(n_real, np.full(n_real, 1 / n_real), size=b)
        weights[:, y == 1] = rng.multinomial(n_fake, np.full(n_fake, 1 / n_fake), size=b)
        ap, auc = ranking_scores(p, y, weights)
        aps.append(ap)
        aucs.append(auc)
    return {"average_precision": _interval(np.concatenate(aps)), "roc_auc": _interval(np.concatenate(aucs))}


def binary_metrics(
    labels: Any, probs: Any, *, threshold: float = 0.5, n_boot: int = 1000, seed: int = 0
) -> EvaluationMetrics:
    """Accuracy (overall, per class), AP and ROC AUC, each with a stratified bootstrap 95% CI.

    An image is predicted fake when ``prob >= threshold``. AP/AUC are None when only one class is
    present; real_acc/fake_acc are None when that class is absent (never NaN). ``evaluation`` adds the
    folder, the skipped files and the precision to the record (``EvaluationMetrics.replace``).
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    y = _check_labels(labels, "labels")
    p = _check_probs(probs, y.size)
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be in [0, 1], got {threshold!r}; e.g. threshold=0.5")
    correct = ((p >= threshold).astype(np.int64) == y).astype(np.float64)
    n_real, n_fake = int((y == 0).sum()), int((y == 1).sum())
    both = n_real > 0 and n_fake > 0
    return EvaluationMetrics(
        accuracy=float(correct.mean()),
        real_acc=to_json_float(correct[y == 0].mean()) if n_real else None,
        fake_acc=to_json_float(correct[y == 1].mean()) if n_fake else None,
        average_precision=to_json_float(average_precision_score(y, p)) if both else None,
        roc_auc=to_json_float(roc_auc_score(y, p)) if both else None,
        n_real=n_real,
        n_fake=n_fake,
        threshold=float(threshold),
        ci95=MetricIntervals(**_accuracy_cis(correct, y, n_boot=n_boot, seed=seed),
                             **(_ranking_cis(p, y, n_boot=n_boot, seed=seed) if both else {})),
    )
