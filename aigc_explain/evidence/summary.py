"""From gathered evidence to audit.json (``runs.audit_summary.AuditSummary``): each split's kinds of evidence give
their parts — the file cues, the localisation against its permutation null, the fingerprint's sharpest line —
and the overall evidence also the budget, one row per kind that is a budget row (``kinds.FeatureKind``) after
the storage's. Takes ``gather.Evidence`` (duck-typed here, so that gather and the kinds can import this
module without an import cycle); ``evidence.verdict`` then turns the summary into sentences."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from aigc_explain.evidence.budget import storage_budget
from aigc_explain.evidence.verdict import verdict
from aigc_explain.runs.audit_summary import (AUDIT_SCHEMA_VERSION, AuditSummary, Budget, CornerShare,
                                             FingerprintPeak, Geometry, PixelPart, SplitSummary)

ALL = "all"  # the evidence of every split together
PEAK_RATIO = 10.0  # a fingerprint peak: the fakes' power there is this many times the reals' ...
# ... and this many times the median of its 7x7 neighbourhood (a line, not a broad hump). The power of one bin of
# a mean of noise is ~exponential, so a chance bin exceeds 25x the median with p = 2**-25: < 1e-3 over 256x256 bins.
PEAK_SHARPNESS = 25.0
LOWEST_PERIODIC = 1 / 16  # cycles/pixel: below this on both axes lies the content's layout (a centred object)


def fingerprint_peak(fp: Any) -> FingerprintPeak:
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
    return FingerprintPeak(freq=(float(fy[i]), float(fx[j])), fake_power=float(fake[i, j]),
                           real_power=float(real[i, j]), ratio=float(min(ratio[i, j], 1e12)),
                           sharpness=float(sharpness[i, j]), sharpness_needed=PEAK_SHARPNESS, periodic_peak=found,
                           compared="fakes and reals after the same resize")


def split_summary(ev: Any, *, budget: bool = False, folder: str | None = None) -> SplitSummary:
    """One split's part of audit.json (``budget``: also the budget, which the overall evidence alone has)."""
    labels = np.array(ev.labels)
    cue, loc = ev.kind("cues").summary(), ev.kind("blocks").summary()
    if loc is None:  # fewer than two images of a class
        pixels = PixelPart(corner_share=CornerShare(None, (None, None), None), localisation=None, fake=None)
    else:
        pixels = PixelPart(corner_share=loc.fake.corner_share, localisation=loc, fake=loc.fake, real=loc.real,
                           fingerprint=ev.kind("fingerprint").summary())
    rows = None
    if budget and loc is not None:  # the kinds' AUCs, overall only: each is a cross-validated classifier
        rows = Budget.of({"storage": storage_budget(cue),
                          **{k.name: k.summary() for k in ev.kinds if getattr(k, "budget", False)}})
    return SplitSummary(folder=folder, n_images=len(ev.paths), n_real=int((labels == 0).sum()),
                        n_fake=int((labels == 1).sum()), cue=cue, pixels=pixels, budget=rows)


def summarize_evidence(evidence: dict[str, Any], settings: Any, *, data: str | Path, folders: dict[str, Path],
                       geometry: Geometry, n_skipped: int, warnings: list[str]) -> AuditSummary:
    """audit.json of ``evidence`` (``ALL`` first, then each split of ``folders``), with its verdict."""
    overall = split_summary(evidence[ALL], budget=True)
    per_split = {name: split_summary(ev, folder=str(folders[name].resolve()))
                 for name, ev in evidence.items() if name != ALL}
    summary = AuditSummary(schema_version=AUDIT_SCHEMA_VERSION, data=str(data), data_resolved=str(Path(data).resolve()),
                           overall=overall, per_split=per_split, geometry=geometry, n_skipped=n_skipped,
                           settings=dict(settings.__dict__), warnings=warnings, verdict="")
    return summary.replace(verdict=verdict(summary))
