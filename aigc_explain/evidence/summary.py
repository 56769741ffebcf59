"""From gathered evidence to the numbers of audit.json: the cue classifier, the localisation against its
permutation null, the fingerprint's sharpest line, and the budget of the four kinds of evidence. Takes one
split's ``gather.Evidence`` (duck-typed here, so that gather can call it without an import cycle)."""

from __future__ import annotations

from typing import Any

import numpy as np

from aigc_explain.evidence.budget import kind_budget, storage_budget
from aigc_explain.evidence.classifier import cue_auc, shortcut_verdict, single_cue_aucs
from aigc_explain.evidence.features import content_names, history_names, residual_names
from aigc_explain.evidence.localise import localise

PEAK_RATIO = 10.0  # a fingerprint peak: the fakes' power there is this many times the reals' ...
# ... and this many times the median of its 7x7 neighbourhood (a line, not a broad hump). The power of one bin of
# a mean of noise is ~exponential, so a chance bin exceeds 25x the median with p = 2**-25: < 1e-3 over 256x256 bins.
PEAK_SHARPNESS = 25.0
LOWEST_PERIODIC = 1 / 16  # cycles/pixel: below this on both axes lies the content's layout (a centred object)


def fingerprint_peak(fp: Any) -> dict[str, Any]:
    """The strongest sharp line of the fakes' mean-residual spectrum that the reals lack (DC left out).

    A fixed periodic pattern (an up-sampling checkerboard) survives averaging over images and shows as a
    line: far above its neighbourhood and far above the reals' power there. Content that merely differs
    on average (objects centred in the fakes) gives broad humps instead, which are not reported. Both
    classes are resized alike before this comparison, so the audit's own resize is in both."""
    from scipy.ndimage import median_filter

    fake, real = fp.mean_residual_power(1), fp.mean_residual_power(0)
    sharpness = fake / np.maximum(median_filter(fake, size=7, mode="wrap"), 1e-300)
    ratio = fake / np.maximum(real, 1e-300)
    fy, fx = fp.frequencies()
    ratio[(np.abs(fy)[:, None] < LOWEST_PERIODIC) & (np.abs(fx)[None, :] < LOWEST_PERIODIC)] = 0.0  # DC and layout
    above = ratio >= PEAK_RATIO  # lines the reals lack; of those, the sharpest
    pick = np.where(above, sharpness, -np.inf) if above.any() else ratio
    i, j = np.unravel_index(int(np.argmax(pick)), fake.shape)
    found = bool(above[i, j] and sharpness[i, j] >= PEAK_SHARPNESS)
    return {"freq": [float(fy[i]), float(fx[j])], "fake_power": float(fake[i, j]), "real_power": float(real[i, j]),
            "ratio": float(min(ratio[i, j], 1e12)), "sharpness": float(sharpness[i, j]),
            "sharpness_needed": PEAK_SHARPNESS, "periodic_peak": found,
            "compared": "fakes and reals after the same resize"}


def _two_classes(labels: np.ndarray) -> bool:
    return min((labels == 0).sum(), (labels == 1).sum()) >= 2


def cue_part(ev: Any, s: Any) -> dict[str, Any]:
    labels = np.array(ev.labels)
    if not _two_classes(labels):
        return {"cue_auc": None, "cue_auc_ci95": [None, None], "cues": []}
    result = cue_auc(ev.rows, labels, folds=s.folds, seed=s.seed, n_boot=s.n_boot)
    single = single_cue_aucs(ev.rows, labels)
    return {"cue_auc": result["auc"], "cue_auc_ci95": [result["ci_low"], result["ci_high"]], "cues": single,
            "cue_folds": result["folds"], "cue_model": result["model"],
            "cue_verdict": shortcut_verdict(result["auc"], (result["ci_low"], result["ci_high"]), single)}


def pixel_part(ev: Any, s: Any) -> dict[str, Any]:
    labels = np.array(ev.labels)
    if not _two_classes(labels):
        return {"pixel_corner_share": {"mean": None, "ci95": [None, None], "p_value": None}, "localisation": None,
                "pixel_masses": {}}
    loc = localise(np.stack(ev.features["blocks"]), labels, ev.grid,
                   fracs=(s.corner_frac, s.center_frac, s.border_frac), n_perm=s.n_perm, seed=s.seed)
    return {"pixel_corner_share": loc["fake"]["corner_share"], "localisation": loc,
            "pixel_masses": loc["fake"], "pixel_masses_real": loc["real"],  # where fakes / reals exceed
            "fingerprint": fingerprint_peak(ev.fingerprint)}


def budget_part(ev: Any, s: Any, cues: dict[str, Any]) -> dict[str, Any]:
    """The four kinds' AUCs (overall only: each is a cross-validated classifier)."""
    labels = np.array(ev.labels)
    if not _two_classes(labels):
        return {}
    names = {"history": history_names(), "content": content_names(), "residual": residual_names(ev.shape)}
    budget: dict[str, Any] = {"storage": storage_budget(cues)}
    for kind, cols in names.items():
        budget[kind] = kind_budget(np.stack(ev.features[kind]), labels, cols, folds=s.folds, seed=s.seed,
                                   n_boot=s.n_boot)
    return {"budget": budget}


def summarize_evidence(ev: Any, s: Any, *, budget: bool = False) -> dict[str, Any]:
    labels = np.array(ev.labels)
    cues = cue_part(ev, s)
    out = {"n_images": len(ev.paths), "n_real": int((labels == 0).sum()), "n_fake": int((labels == 1).sum()),
           **cues, **pixel_part(ev, s)}
    return {**out, **budget_part(ev, s, cues)} if budget else out
