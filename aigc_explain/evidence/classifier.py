"""How well do file cues alone predict the label? A cross-validated cue classifier and per-cue AUCs.

If the container, JPEG quality or file size predict real vs fake, a detector can reach a high score by
learning the storage instead of the generator. Labels are 0 = real, 1 = fake. Rows are ``FileCues`` or
their ``as_dict()`` rows; keys that are not in ``CUES`` (a path, a label) are ignored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from aigc_explain.analysis.stats import check_confidence, check_count, percentile_interval
from aigc_explain.evidence.cues import CUES, NOT_APPLICABLE
from aigc_explain.runs.audit_summary import CueAuc
from aigc_explain.runs.records import Record

Row = Mapping[str, Any]
CONFIDENCE = 0.95
MODEL_NAME = "HistGradientBoostingClassifier"
PARALLEL_MIN_ROWS = 20_000  # below this many images the classifier runs on one thread
# A tree node's histograms hold columns x bins cells: above WIDE columns (the content kind's 970 thumbnail
# pixels) each column gets WIDE_BINS quantile bins instead of 255: about a third of the fit's time there, the
# same AUC (CIFAKE content 0.900 vs 0.901, the framing known answer 0.988 vs 0.984).
WIDE = 256
WIDE_BINS = 32
# Verdict thresholds on the cue AUC's 95% interval.
STRONG_LEAK_LOWER = 0.8  # lower bound above this: the cues alone separate the classes
CHANCE = 0.5  # lower bound above this: better than chance, a moderate leak
WIDE_UPPER = 0.7  # lower bound at chance but upper bound above this: too few images to rule a leak out
SIZE_CUES = ("width", "height", "aspect_ratio")
REENCODE_ADVICE = "re-encode both classes identically (--reencode jpeg:95)"
RESIZE_ADVICE = "resize both classes to one size"


def _as_rows(rows: Sequence[Any]) -> list[Row]:
    if len(rows) == 0:
        raise ValueError("rows is empty; pass one cue row per image (read_cues(path).as_dict())")
    return [r.as_dict() if hasattr(r, "as_dict") else r for r in rows]


def _cue_names(rows: list[Row], cues: Sequence[str] | None) -> list[str]:
    if isinstance(cues, str):
        raise ValueError(f"cues must be a list of cue names, got the string {cues!r}; e.g. cues=[{cues!r}]")
    if cues is not None:
        unknown = [c for c in cues if c not in CUES]
        if unknown:
            raise ValueError(f"cues: unknown cue(s) {unknown}; choose from {list(CUES)}")
    wanted = list(CUES) if cues is None else [c for c in CUES if c in cues]
    names = [c for c in wanted if c in rows[0]]
    if not names:
        raise ValueError(f"rows hold none of the cues {wanted}; pass rows from read_cues(...).as_dict()")
    for i, row in enumerate(rows):
        missing = [c for c in names if c not in row]
        if missing:
            raise ValueError(f"rows[{i}] lacks cue(s) {missing} that rows[0] has; "
                             "give every row the same cues")
    return names


_BOOL_TEXT = {"true": 1.0, "false": 0.0, "": math.nan, "none": math.nan, "nan": math.nan}


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _numeric(rows: list[Row], name: str) -> np.ndarray:
    out = np.empty(len(rows))
    for i, row in enumerate(rows):
        value = row[name]
        if isinstance(value, str) and value.lower() in _BOOL_TEXT:  # a boolean read back from a CSV
            value = _BOOL_TEXT[value.lower()]
        try:
            out[i] = math.nan if _is_missing(value) else float(value)
        except (TypeError, ValueError):
            raise ValueError(f"rows[{i}][{name!r}] = {value!r} is not a number; {name} is a "
                             f"{CUES[name].kind} cue") from None
    return out


def _levels(rows: list[Row], name: str) -> np.ndarray:
    return np.array([NOT_APPLICABLE if _is_missing(r[name]) else str(r[name]) for r in rows], dtype=object)


def cue_matrix(rows: Sequence[Any], *, cues: Sequence[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """(X, feature_names): a float matrix, one row per image, ready for a classifier.

    Numeric cues are one column; booleans are 0/1. A numeric or boolean cue with missing values
    (None/NaN: a JPEG-only cue on a PNG) is filled with 0 and gets an extra ``name=missing`` 0/1
    column, so "not applicable" is a level of its own. Categorical cues are one-hot, one column per
    level seen, named ``name=level`` (e.g. ``format=PNG``). ``cues`` restricts the cues used.
    """
    rows = _as_rows(rows)
    columns: list[np.ndarray] = []
    names: list[str] = []
    for name in _cue_names(rows, cues):
        if CUES[name].kind == "categorical":
            levels = _levels(rows, name)
            for level in sorted(set(levels)):
                columns.append((levels == level).astype(float))
                names.append(f"{name}={level}")
            continue
        values = _numeric(rows, name)
        missing = np.isnan(values)
        columns.append(np.where(missing, 0.0, values))
        names.append(name)
        if missing.any():
            columns.append(missing.astype(float))
            names.append(f"{name}=missing")
    return np.column_stack(columns), names


def check_labels(labels: Any, n: int) -> np.ndarray:
    """Labels as an int array of 0 (real) / 1 (fake), one per row, with at least 2 of each class."""
    y = np.asarray(labels)
    if y.ndim != 1 or y.size != n:
        raise ValueError(f"labels must be 1-D with one label per row ({n}), got shape {y.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"labels must be 0 (real) or 1 (fake), got values {sorted(set(y.tolist()))[:5]}")
    y = y.astype(int)
    n_real, n_fake = int((y == 0).sum()), int((y == 1).sum())
    if min(n_real, n_fake) < 2:
        raise ValueError(f"labels: need at least 2 images of each class, got {n_real} real and {n_fake} "
                         "fake; add images of the smaller class")
    return y


def auc(scores: Any, labels: Any) -> float:
    """ROC AUC of ``scores`` for label 1 (scikit-learn); constant scores give 0.5."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores))


def bootstrap_auc_interval(
    scores: Any, labels: Any, *, n_boot: int = 2000, seed: int = 0, confidence: float = CONFIDENCE
) -> tuple[float, float]:
    """Percentile interval of the AUC over resamples of the images (reals and fakes resampled apart).

    Resampling within each class keeps both classes present in every resample. Each resample's AUC is
    computed from multiplicities over the sorted real scores, O(n) per resample, ties counting half.
    """
    check_count("n_boot", n_boot)
    check_confidence(confidence)
    s, y = np.asarray(scores, dtype=float), np.asarray(labels)
    reals, fakes = np.sort(s[y == 0]), s[y == 1]
    below = np.searchsorted(reals, fakes, "left")
    up_to = np.searchsorted(reals, fakes, "right")
    rng = np.random.default_rng(seed)
    n0, n1 = reals.size, fakes.size
    samples = np.empty(n_boot)
    for b in range(n_boot):
        counts = np.concatenate(([0], np.cumsum(np.bincount(rng.integers(0, n0, n0), minlength=n0))))
        weights = np.bincount(rng.integers(0, n1, n1), minlength=n1)
        wins = counts[below] + 0.5 * (counts[up_to] - counts[below])
        samples[b] = weights @ wins / (n0 * n1)
    return percentile_interval(samples, confidence=confidence)


def _model(n_train: int, seed: int, n_features: int = 0) -> Any:
    # Gradient-boosted trees over histograms: mixed numeric and one-hot cues need no scaling, threshold
    # cues (quality >= 90, size == 512) and their interactions are learnt, and it is fast on 2 cores.
    # A linear model would miss non-monotone cues; a random forest is slower for the same answer.
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        max_iter=100, learning_rate=0.1, max_leaf_nodes=15, l2_regularization=1.0,
        max_bins=WIDE_BINS if n_features > WIDE else 255,
        # sklearn's default leaf of 20, smaller for small audits so that they can still split; a
        # leaf of n/5 kept null (random-label) audits of 80-160 images centred on AUC 0.5.
        min_samples_leaf=max(2, min(20, n_train // 5)),
        early_stopping=False, random_state=seed)


def out_of_fold_scores(X: np.ndarray, y: np.ndarray, *, folds: int, seed: int) -> np.ndarray:
    """P(fake) for each image from a model that never saw it (stratified, shuffled k-fold)."""
    from sklearn.model_selection import StratifiedKFold
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    scores = np.full(len(y), 0.5)
    if np.all(X == X[0]):  # nothing to learn; fold priors would otherwise fake a signal
        return scores
    # Small fits are many tiny OpenMP regions: on busy shared cores, threads waiting for each other
    # made a 60-image audit ~100x slower. One thread is as fast there; large audits keep all cores.
    threads = 1 if len(y) < PARALLEL_MIN_ROWS else None
    with threadpool_limits(limits=threads, user_api="openmp"):
        for train, test in StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(X, y):
            model = _model(len(train), seed, X.shape[1]).fit(X[train], y[train])
            scores[test] = model.predict_proba(X[test])[:, 1]
    return scores


@dataclass(frozen=True)
class CueFit(Record):
    """``cue_auc``'s result: the AUC with its interval, the folds used, and the out-of-fold ``scores``
    (P(fake) per image, in row order) over the one-hot ``features``."""
    auc: float
    ci_low: float
    ci_high: float
    confidence: float
    folds: int
    n_real: int
    n_fake: int
    model: str
    features: list[str]
    scores: list[float]


def cue_auc(
    rows: Sequence[Any], labels: Any, *, folds: int = 5, seed: int = 0, n_boot: int = 2000,
    cues: Sequence[str] | None = None,
) -> CueFit:
    """Cross-validated AUC of a classifier that sees only the file cues, with a bootstrap 95% interval.

    ``folds`` is lowered to the size of the smaller class when needed (at least 2).
    """
    if isinstance(folds, bool) or not isinstance(folds, (int, np.integer)) or folds < 2:
        raise ValueError(f"folds must be an int >= 2, got {folds!r}; e.g. folds=5")
    X, names = cue_matrix(rows, cues=cues)
    y = check_labels(labels, len(X))
    n_real, n_fake = int((y == 0).sum()), int((y == 1).sum())
    k = min(int(folds), n_real, n_fake)
    scores = out_of_fold_scores(X, y, folds=k, seed=seed)
    lo, hi = bootstrap_auc_interval(scores, y, n_boot=n_boot, seed=seed)
    return CueFit(auc=auc(scores, y), ci_low=lo, ci_high=hi, confidence=CONFIDENCE, folds=k, n_real=n_real,
                  n_fake=n_fake, model=MODEL_NAME, features=names, scores=[float(s) for s in scores])


def _level_scores(levels: np.ndarray, y: np.ndarray) -> np.ndarray:
    _, index = np.unique(levels, return_inverse=True)
    rate = np.bincount(index, weights=y) / np.bincount(index)
    return rate[index]


def _numeric_auc(values: np.ndarray, y: np.ndarray) -> float:
    """Orientation-free AUC; missing values are placed below, then above, all others (best kept)."""
    missing = np.isnan(values)
    if missing.all():
        return 0.5
    lo, hi = np.min(values[~missing]), np.max(values[~missing])
    placements = (lo - 1.0, hi + 1.0) if missing.any() else (0.0,)
    best = 0.5
    for fill in placements:
        a = auc(np.where(missing, fill, values), y)
        best = max(best, a, 1.0 - a)
    return best


def single_cue_aucs(
    rows: Sequence[Any], labels: Any, *, cues: Sequence[str] | None = None
) -> list[CueAuc]:
    """Each cue's own AUC, orientation-free (max(AUC, 1 - AUC)), highest first; a constant cue gives 0.5.

    Categorical and boolean cues score each image by the fake rate of its level: the best ordering of
    the levels, hence slightly optimistic when a cue has many rare levels (each fits its own images).
    With two levels this is exactly max(AUC, 1 - AUC). Not cross-validated: a screen, not a test.
    """
    rows = _as_rows(rows)
    names = _cue_names(rows, cues)
    y = check_labels(labels, len(rows))
    out = []
    for name in names:
        kind = CUES[name].kind
        if kind == "numeric":
            value = _numeric_auc(_numeric(rows, name), y)
        else:
            a = auc(_level_scores(_levels(rows, name), y), y)
            value = max(a, 1.0 - a)
        out.append(CueAuc(name, kind, float(value)))
    return sorted(out, key=lambda d: -d.auc)  # stable: ties keep the CUES order


def shortcut_verdict(cue_auc: float, ci: tuple[float, float], single: Sequence[CueAuc] = ()) -> str:
    """One plain sentence on whether the file cues give the label away, from ``cue_auc``'s result.

    ``single`` is ``single_cue_aucs``'s list (highest first); its top cue is named as the strongest.
    """
    lo, hi = (float(v) for v in ci)
    if not all(math.isfinite(v) for v in (cue_auc, lo, hi)) or not lo <= hi:
        raise ValueError(f"ci must be a finite (low, high) pair with low <= high, got {ci!r}")
    band = f"AUC {cue_auc:.2f} [{lo:.2f}, {hi:.2f}]"
    top = single[0] if single else None
    strongest = f"; strongest: {top.name}, AUC {top.auc:.2f}" if top else ""
    advice = RESIZE_ADVICE if top and top.name in SIZE_CUES else REENCODE_ADVICE
    if lo > STRONG_LEAK_LOWER:
        return (f"the file cues alone separate the classes ({band}{strongest}): a detector can learn "
                f"the storage instead of the generator; {advice} and audit again")
    if lo > CHANCE:
        return (f"the file cues predict the label better than chance ({band}{strongest}): a detector "
                f"may partly learn the storage; {advice} and audit again")
    if hi > WIDE_UPPER:
        return (f"no file cue separates the classes clearly, but the interval is wide ({band}): "
                "audit more images to rule a leak out")
    if hi < CHANCE:  # out-of-fold scores of a model fitting noise can rank below chance
        return f"no file cue separates the classes ({band}; below chance, as when the classifier fits noise)"
    return f"no file cue separates the classes ({band})"
