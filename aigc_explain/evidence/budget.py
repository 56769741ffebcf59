"""One table of what gives the label away: ``audit.json["budget"]`` (a ``runs.audit_summary.Budget``) =
{storage, history, content, residual}, each {"auc", "ci95", "top"} (a ``BudgetEntry``) — the cross-validated
AUC of a classifier that sees only that kind of evidence, its bootstrap interval, and the strongest single
feature (orientation-free AUC). Storage is the cue
classifier of ``evidence.classifier``; the three others are the same model over ``evidence.features``."""

from __future__ import annotations

import math

import numpy as np

from aigc_explain.analysis.stats import to_json_float
from aigc_explain.evidence.classifier import auc, bootstrap_auc_interval, out_of_fold_scores
from aigc_explain.runs.audit_summary import Budget, BudgetEntry, CuePart

KINDS = ("storage", "history", "content", "residual")
STRONG = 0.8  # lower bound of the interval above this: the kind separates the classes
CHANCE = 0.5
WHAT = {"storage": "the file itself (format, quality tables, size, metadata)",
        "history": "the processing history (double JPEG compression, resampling)",
        "content": "the framing, composition and colour (coarse thumbnails, colour statistics)",
        "residual": "the high-frequency noise residual (its energy and spectrum)"}
REMOVE = {"storage": "re-encode both classes identically (--reencode jpeg:95) and audit again",
          "history": "resize both classes by one non-integer factor and re-encode them once, identically "
                     "(this overwrites the JPEG grid and gives every image the same resampling trace)",
          "content": "crop or re-frame both classes alike, or build a matched dataset (same sources, framing and "
                     "colour handling): a detector would otherwise learn the composition",
          "residual": "a common resize and re-encode blurs it in both classes; what survives that is the "
                      "generator's own trace, the one thing a detector should learn"}


def top_feature(X: np.ndarray, y: np.ndarray, names: list[str]) -> tuple[str, float]:
    """The column with the highest orientation-free AUC (Mann-Whitney from ranks, ties averaged)."""
    from scipy.stats import rankdata

    ranks = rankdata(X, axis=0)
    n1, n0 = int((y == 1).sum()), int((y == 0).sum())
    a = (ranks[y == 1].sum(axis=0) - n1 * (n1 + 1) / 2) / (n0 * n1)
    a = np.maximum(a, 1.0 - a)
    i = int(np.nanargmax(a))
    return names[i], float(a[i])


def kind_budget(X: np.ndarray, y: np.ndarray, names: list[str], *, folds: int, seed: int,
                n_boot: int) -> BudgetEntry:
    """Cross-validated AUC of one kind's features with its interval and strongest feature."""
    X = np.nan_to_num(np.asarray(X, np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    k = min(folds, int((y == 0).sum()), int((y == 1).sum()))
    scores = out_of_fold_scores(X, y, folds=k, seed=seed)
    lo, hi = bootstrap_auc_interval(scores, y, n_boot=n_boot, seed=seed)
    name, single = top_feature(X, y, names)
    return BudgetEntry(auc(scores, y), (lo, hi), name, single, len(names))


SIZE_ONLY = ("file_size", "bytes_per_pixel")  # what a JPEG of the same settings still varies in: its content's detail


def storage_budget(cue: CuePart) -> BudgetEntry | None:
    """The cue classifier's result as a budget row; ``size_only`` when no cue but the file size tells anything
    (then it is the content's detail that differs, and re-encoding would not remove it)."""
    if cue.auc is None:
        return None
    top = cue.cues[0] if cue.cues else None
    others = [c.auc for c in cue.cues if c.name not in SIZE_ONLY]
    return BudgetEntry(cue.auc, tuple(cue.ci95), top and top.name, top and top.auc, len(cue.cues),
                       size_only=bool(others) and max(others) <= 0.5 + 1e-9)


def ordered(budget: Budget | None) -> list[tuple[str, BudgetEntry]]:
    """The kinds that could be measured, largest AUC first."""
    rows = [(k, v) for k, v in (budget.rows() if budget else {}).items() if v is not None and v.auc is not None]
    return sorted(rows, key=lambda kv: -kv[1].auc)


def resampling_note(b: BudgetEntry) -> str:
    """What the history's scan found, in words ("" when it found no resize between two saves)."""
    r = b.resampling
    if r is None or not r.found or r.factor is None:
        return ""
    return (f"a resize by {r.factor:.3f} between two JPEG saves, found by a label-free scan of {r.n_images} images "
            f"(z = {r.z:.1f}); its combs are read after undoing it")


def _strength(b: BudgetEntry) -> str:
    lo = b.ci95[0]
    if lo is not None and math.isfinite(lo) and lo > STRONG:
        return "separates the classes"
    if lo is not None and math.isfinite(lo) and lo > CHANCE:
        return "tells the label better than chance"
    return "tells nothing beyond chance"


def budget_sentence(budget: Budget | None) -> str:
    """What gives the label away, largest first, and for each kind that does what would remove it (a kind
    without words in ``WHAT`` and ``REMOVE`` is named by its key)."""
    rows = ordered(budget)
    if not rows:
        return ""
    parts, advice = [], []
    for kind, b in rows:
        lo, hi = (to_json_float(v) for v in b.ci95)
        band = f"AUC {b.auc:.2f}" + ("" if lo is None else f" [{lo:.2f}, {hi:.2f}]")
        note = resampling_note(b)
        parts.append(f"{kind} {band} ({_strength(b)}; strongest: {b.top}{'; ' + note if note else ''})")
        if kind == "storage" and b.size_only:
            parts[-1] = parts[-1][:-1] + ", the file size only: the content's detail, not the storage)"
        elif _strength(b) != "tells nothing beyond chance":
            what, remove = WHAT.get(kind, f"the {kind} features"), REMOVE.get(kind, "make the classes alike there")
            advice.append(f"{what} — to remove it, {remove}")
    text = "what gives the label away, largest first: " + "; ".join(parts) + "."
    if advice:
        text += " " + " ".join(f"{a[0].upper()}{a[1:]}." for a in advice)
    return text
