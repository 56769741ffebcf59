"""``diagnose``'s numbers and verdict: per variant and class, the change of p(fake) with a bootstrap 95% interval,
the accuracy, the share of decisions that flip; then plain sentences saying what the decision rests on.
Pure numpy/scipy (the measurements come from ``checks.reliance.measure``)."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit

from aigc_explain.analysis.stats import summarize, to_json_float
from aigc_explain.reporting.figures import format_cell, markdown_table
from aigc_explain.runs.diagnose_summary import (BandEffect, ClassChange, CleanEffect, Effect, MeanChange, PeakEffect,
                                                PeaksFound, ReencodeEffect, RelianceMeasures, ShuffleEffect)

CLASS_LABELS = {"real": 0, "fake": 1}
KEEPS = 0.8  # a variant "keeps" a class when its accuracy stays at least this share of the clean accuracy
CHANCE_AUC = 0.65  # at or below: the detector no longer separates the classes


def _auc(labels: np.ndarray, probs: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    known = labels >= 0
    if len(set(labels[known].tolist())) < 2:
        return None
    return to_json_float(roc_auc_score(labels[known], probs[known]))


def class_change(clean: np.ndarray, probs: np.ndarray, labels: np.ndarray, label: int, *, threshold: float,
                 n_boot: int = 2000, seed: int = 0) -> ClassChange:
    """One class under one variant: the change of p(fake) with its 95% interval, flips and accuracies."""
    sel = labels == label
    if not sel.any():
        return ClassChange(n=0, prob_change=MeanChange(None, (None, None)), flipped=None, accuracy=None,
                           clean_accuracy=None)
    change = summarize(probs[sel] - clean[sel], n_boot=n_boot, seed=seed)
    before, after = clean[sel] >= threshold, probs[sel] >= threshold
    return ClassChange(n=int(sel.sum()), prob_change=MeanChange(change.mean, change.ci95),
                       flipped=float(np.mean(before != after)), accuracy=float(np.mean(after == bool(label))),
                       clean_accuracy=float(np.mean(before == bool(label))))


def _effect(clean: np.ndarray, probs: np.ndarray, labels: np.ndarray, threshold: float, n_boot: int) -> dict[str, Any]:
    """The fields every variant's record shares: each class's change, the accuracy and ROC AUC."""
    known = labels >= 0
    out: dict[str, Any] = {name: class_change(clean, probs, labels, value, threshold=threshold, n_boot=n_boot)
                           for name, value in CLASS_LABELS.items()}
    out["accuracy"] = float(np.mean((probs[known] >= threshold) == (labels[known] == 1))) if known.any() else None
    out["auc"] = _auc(labels, probs)
    return out


_EFFECTS = {"band": BandEffect, "peaks": PeakEffect, "shuffle": ShuffleEffect, "reencode": ReencodeEffect}


def summarize_measured(measured: Any, *, threshold: float = 0.5, n_boot: int = 2000) -> RelianceMeasures:
    """``diagnose.json``'s measurements (``checks.reliance.Measured``): clean, bands, peaks, shuffle, reencode."""
    labels, clean = measured.labels, expit(measured.clean)
    found: dict[str, list[Effect]] = {kind: [] for kind in _EFFECTS}
    for v in measured.variants:
        parts = _effect(clean, expit(measured.logits[v.name]), labels, threshold, n_boot)
        found[v.kind].append(_EFFECTS[v.kind](**v.spec, name=v.name, **parts))
    return RelianceMeasures(clean=CleanEffect(**_effect(clean, clean, labels, threshold, 1)), bands=found["band"],
                            peaks=found["peaks"][-1] if found["peaks"] else None, shuffle=found["shuffle"],
                            reencode=found["reencode"])


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"


def _band(entry: BandEffect) -> str:
    return f"{entry.lo:.3g}–{entry.hi:.3g} cycles/pixel"


def _keeps(entry: Effect, name: str) -> bool:
    part = entry.part(name)
    return part.accuracy is not None and part.accuracy >= KEEPS * max(part.clean_accuracy, 1e-9)


def _blind(entry: Effect) -> bool:
    return entry.auc is not None and entry.auc <= CHANCE_AUC


def key_band(measures: RelianceMeasures) -> BandEffect | None:
    """The removed band the decision rests on: of those whose removal takes ROC AUC to chance or flips most
    fakes, the one that does more (chance first, then the share of all decisions flipped); None if no band does."""
    hits = [b for b in measures.removed_bands() if _blind(b) or b.fake.flipped >= 0.5]
    if not hits:
        return None
    return max(hits, key=lambda b: (_blind(b), sum(b.part(c).flipped * b.part(c).n for c in CLASS_LABELS
                                                   if b.part(c).n) / max(b.n_images(), 1)))


def band_sentences(measures: RelianceMeasures) -> list[str]:
    removed = measures.removed_bands()
    if not removed:
        return []
    key, lowest = key_band(measures), removed[0]
    if key is None:
        most = max(removed, key=lambda b: b.fake.flipped)
        return [f"No single frequency band carries the decision: removing any one flips at most "
                f"{_pct(most.fake.flipped)} of the fakes ({_band(most)}) and leaves ROC AUC at "
                f"{format_cell(min((b.auc for b in removed if b.auc is not None), default=None))} or above."]
    change = key.fake.prob_change
    lo, hi = (format_cell(v) for v in change.ci95)
    if key.fake.flipped >= 0.5:
        text = (f"The detector's decision on fakes rests on {_band(key)}: removing that band flips "
                f"{_pct(key.fake.flipped)} of them to real (p(fake) changes by {format_cell(change.mean)} "
                f"[{lo}, {hi}]; ROC AUC {format_cell(key.auc)})")
    else:
        text = (f"The detector's decision rests on {_band(key)}: without that band it no longer separates the "
                f"classes (ROC AUC {format_cell(key.auc)}; it flips {_pct(key.fake.flipped)} of the "
                f"fakes and {_pct(key.real.flipped)} of the reals)")
    if key is not lowest:
        text += f"; removing the lowest band ({_band(lowest)}) flips {_pct(lowest.fake.flipped)} of the fakes"
    return [text + "."]


def peak_sentence(measures: RelianceMeasures, peaks: PeaksFound | None) -> list[str]:
    if peaks is None:
        return []
    if not peaks.found:
        return ["The fakes' spectra show no periodic peak (the audit's fingerprint rule), so none was removed."]
    p = measures.peaks
    return [f"Removing the fakes' {len(peaks.bins)} periodic spectral peak bin(s) (e.g. "
            f"({peaks.freqs[0][0]:+.3g}, {peaks.freqs[0][1]:+.3g}) cycles/pixel) flips "
            f"{_pct(p.fake.flipped)} of the fakes (fake accuracy {_pct(p.fake.accuracy)})."]


def _shuffle_reading(s: ShuffleEffect, clean_auc: float | None) -> str:
    auc = format_cell(s.auc)
    if s.auc is not None and s.auc <= CHANCE_AUC < (clean_auc or 0):
        return f"the detector no longer separates the classes (ROC AUC {auc}): the decision needs the image's layout"
    if _keeps(s, "fake") and (not s.real.n or _keeps(s, "real")):
        return "the decision does not need the layout (where things are in the image)"
    if _keeps(s, "fake"):
        return (f"fakes need no layout to look fake, but reals turn fake while the ranking survives (ROC AUC {auc}): "
                "what shuffling adds, sharp edges at the tile seams, reads as fake, or the reals' layout is what "
                "looks real")
    return f"part of the fakes' evidence needs the layout (ROC AUC {auc})"


def shuffle_sentences(measures: RelianceMeasures) -> list[str]:
    out = []
    for s in measures.shuffle:
        if not s.fake.n:
            continue
        out.append(f"Patch shuffling at {s.patch} px keeps {_pct(s.fake.accuracy)} of fakes fake and "
                   f"{_pct(s.real.accuracy)} of reals real (clean: {_pct(s.fake.clean_accuracy)}, "
                   f"{_pct(s.real.clean_accuracy)}): {_shuffle_reading(s, measures.clean.auc)}.")
    return out


def reencode_sentences(measures: RelianceMeasures) -> list[str]:
    out, clean = [], measures.clean
    for r in measures.reencode:
        change = "collapses it to chance: the decision rests on how the files were stored" \
            if r.auc is not None and r.auc <= CHANCE_AUC < (clean.auc or 0) else \
            ("changes no decision" if r.fake.flipped == 0 and r.real.flipped == 0 else
             f"moves p(fake) by {format_cell(r.fake.prob_change.mean)} on fakes and "
             f"{format_cell(r.real.prob_change.mean)} on reals")
        out.append(f"Re-encoding every image as {r.variant} takes accuracy from {_pct(clean.accuracy)} to "
                   f"{_pct(r.accuracy)} (ROC AUC {format_cell(r.auc)}): it {change}.")
    return out


def verdict(measures: RelianceMeasures, peaks: PeaksFound | None = None) -> list[str]:
    """Plain sentences from ``summarize_measured``'s measurements (and the peaks that were looked for)."""
    sentences = band_sentences(measures) + peak_sentence(measures, peaks) + shuffle_sentences(measures) + \
        reencode_sentences(measures)
    removed = measures.removed_bands()
    shuffled = [s for s in measures.shuffle if s.fake.n]
    key = key_band(measures)
    if key is not None and len(removed) > 1 and shuffled and all(_keeps(s, "fake") for s in shuffled):
        if key is removed[-1]:
            sentences.append("Together: a local high-frequency trace, the kind up-sampling leaves, not the content.")
        elif key is removed[0]:
            sentences.append("Together: a global low-frequency statistic (brightness, colour), not local detail "
                             "or the layout.")
    return sentences or ["Nothing was measured on labelled images; no verdict."]


def markdown(measures: RelianceMeasures, verdict_lines: list[str]) -> str:
    """``diagnose.md``: the verdict, then one table of every variant."""
    header = ["variant", "fake Δp(fake) [95% CI]", "fake flipped", "fake acc", "real Δp(fake) [95% CI]",
              "real flipped", "real acc", "accuracy", "ROC AUC"]
    rows = []
    clean = measures.clean
    rows.append(["clean", "", "", clean.fake.accuracy, "", "", clean.real.accuracy, clean.accuracy, clean.auc])
    for e in measures.variants():
        cells = [e.name]
        for cls in ("fake", "real"):
            c = e.part(cls).prob_change
            cells += [f"{format_cell(c.mean)} [{format_cell(c.ci95[0])}, {format_cell(c.ci95[1])}]",
                      e.part(cls).flipped, e.part(cls).accuracy]
        rows.append(cells + [e.accuracy, e.auc])
    return "# What the detector relies on\n\n" + "\n".join(f"- {s}" for s in verdict_lines) + "\n\n" + \
        markdown_table(header, rows) + "\n"
