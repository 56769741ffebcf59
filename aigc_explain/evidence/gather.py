"""Auditing a labelled folder without any detector: do the file cues give the label away, and where in the
image do the classes differ? One pass over the images reads each file's cues (headers, or the re-encoded
bytes with ``reencode``) and folds its noise residual into streaming per-class pixel evidence and a
fingerprint, overall and per split; the cue classifier then runs over the cues alone."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm import tqdm

from aigc_explain.evidence.classifier import cue_auc, shortcut_verdict, single_cue_aucs
from aigc_explain.evidence.cues import cues_from_bytes, read_cues
from aigc_explain.evidence.pixels import PixelEvidence, ResidualFingerprint, residual_energy, residual_maps
from aigc_explain.evidence.verdict import verdict
from aigc_explain.core.folders import (NoReadableImages, Sample, balanced_subset, describe_error, find_samples,
                                       labelled_splits, one_class_warning)
from aigc_explain.core.images import Reencode, Resize, read_image

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
BATCH = 64  # images whose residuals are folded into the accumulators at once
PEAK_RATIO = 10.0  # a fingerprint peak: the fakes' power there is this many times the reals' ...
# ... and this many times the median of its 7x7 neighbourhood (a line, not a broad hump). The power of one bin of
# a mean of noise is ~exponential, so a chance bin exceeds 25x the median with p = 2**-25: < 1e-3 over 256x256 bins.
PEAK_SHARPNESS = 25.0
ALL = "all"


@dataclass(frozen=True)
class AuditSettings:
    size: int = 224
    limit: int | None = None  # at most this many images per split, balanced between the classes
    reencode: str | None = None
    folds: int = 5
    n_boot: int = 2000
    seed: int = 0
    corner_frac: float = 0.25
    center_frac: float = 0.5
    border_frac: float = 0.125

    def __post_init__(self) -> None:
        Reencode.parse(self.reencode)
        if self.size < 16:
            raise ValueError(f"--size must be >= 16 pixels, got {self.size}")
        if self.limit is not None and self.limit < 2:
            raise ValueError(f"--limit must be >= 2 (one image per class at least), got {self.limit}")
        if self.folds < 2:
            raise ValueError(f"--folds must be >= 2, got {self.folds}")
        if self.n_boot < 1:
            raise ValueError(f"--n-boot must be >= 1, got {self.n_boot}")


@dataclass
class Evidence:
    """What one split (or all of them) holds: the cue rows and labels, and the streaming pixel evidence."""

    pixels: PixelEvidence
    fingerprint: ResidualFingerprint
    paths: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)


@dataclass
class AuditResult:
    settings: AuditSettings
    data: str
    evidence: dict[str, Evidence]  # "all" first, then each split
    summary: dict[str, Any]
    skipped: list[tuple[str, str]]


def _new_evidence(s: AuditSettings) -> Evidence:
    shape = (s.size, s.size)
    return Evidence(PixelEvidence(shape, seed=s.seed, corner_frac=s.corner_frac, center_frac=s.center_frac,
                                  border_frac=s.border_frac), ResidualFingerprint(shape))


def _read(sample: Sample, reencode: Reencode | None, resize: Resize) -> tuple[dict[str, Any], np.ndarray]:
    """The file's cues and its pixels at audit size (re-encoded first when asked)."""
    if sample.problem:
        raise OSError(sample.problem)
    image = read_image(sample.path)
    if reencode is None:
        cues = read_cues(sample.path)
    else:
        data = reencode.encode(image.permute(1, 2, 0).numpy())  # encoded once: its cues and its pixels
        cues = cues_from_bytes(data, name=sample.path)
        image = image if reencode.kind == "png" else reencode.decode(data)
    return cues.as_dict(), resize(image).permute(1, 2, 0).contiguous().numpy()


def _flush(batch: list[tuple[np.ndarray, int]], targets: list[Evidence], first_id: int) -> None:
    residuals = residual_maps([img for img, _ in batch])
    labels = np.array([label for _, label in batch])
    ids = np.arange(first_id, first_id + len(batch))
    energy = residual_energy(residuals)  # once for the overall and the split evidence
    for ev in targets:
        ev.pixels.add(energy, labels, ids=ids)
        ev.fingerprint.add(residuals, labels)


def gather(data: str | Path, settings: AuditSettings = AuditSettings(), *,
           progress: bool = False) -> tuple[dict[str, Evidence], list[tuple[str, str]]]:
    """One pass over the images of ``data`` (a class folder or a split root): evidence overall and per split."""
    splits = {name: balanced_subset(find_samples(folder, require_labels=True), settings.limit)
              for name, folder in labelled_splits(data).items()}
    reencode, resize = Reencode.parse(settings.reencode), Resize(settings.size)
    evidence = {ALL: _new_evidence(settings)}
    skipped: list[tuple[str, str]] = []
    next_id = 0
    total = sum(len(s) for s in splits.values())
    bar = tqdm(total=total, desc="audit", disable=not progress)
    for name, samples in splits.items():
        targets = [evidence[ALL]] + ([evidence.setdefault(name, _new_evidence(settings))] if name else [])
        batch: list[tuple[np.ndarray, int]] = []
        for sample in samples:
            bar.update()
            try:
                cues, pixels = _read(sample, reencode, resize)
            except (OSError, ValueError, SyntaxError, RuntimeError, Image.DecompressionBombError) as exc:
                skipped.append((sample.path, sample.problem or describe_error(exc)))
                continue
            for ev in targets:
                ev.paths.append(sample.path)
                ev.rows.append(cues)
                ev.labels.append(sample.label)
            batch.append((pixels, sample.label))
            if len(batch) == BATCH:
                _flush(batch, targets, next_id)
                next_id, batch = next_id + len(batch), []
        if batch:
            _flush(batch, targets, next_id)
            next_id += len(batch)
    bar.close()
    if not evidence[ALL].paths:
        raise NoReadableImages(f"none of the {total} images under {data} could be read", skipped)
    return evidence, skipped


def fingerprint_peak(fp: ResidualFingerprint) -> dict[str, Any]:
    """The strongest sharp line of the fakes' mean-residual spectrum that the reals lack (DC left out).

    A fixed periodic pattern (an up-sampling checkerboard) survives averaging over images and shows as a
    line: far above its neighbourhood and far above the reals' power there. Content that merely differs
    on average (objects centred in the fakes) gives broad humps instead, which are not reported."""
    from scipy.ndimage import median_filter

    fake, real = fp.mean_residual_power(1), fp.mean_residual_power(0)
    h, w = fp.shape
    sharpness = fake / np.maximum(median_filter(fake, size=7, mode="wrap"), 1e-300)
    ratio = fake / np.maximum(real, 1e-300)
    ratio[h // 2, w // 2] = 0.0  # DC: the mean grey level, not a pattern
    above = ratio >= PEAK_RATIO  # lines the reals lack; of those, the sharpest
    pick = np.where(above, sharpness, -np.inf) if above.any() else ratio
    i, j = np.unravel_index(int(np.argmax(pick)), fake.shape)
    found = bool(above[i, j] and sharpness[i, j] >= PEAK_SHARPNESS)
    fy, fx = (float(f[k]) for f, k in zip(fp.frequencies(), (i, j)))
    return {"freq": [fy, fx], "fake_power": float(fake[i, j]), "real_power": float(real[i, j]),
            "ratio": float(min(ratio[i, j], 1e12)), "sharpness": float(sharpness[i, j]),
            "sharpness_needed": PEAK_SHARPNESS, "periodic_peak": found}


def _cue_part(ev: Evidence, s: AuditSettings) -> dict[str, Any]:
    labels = np.array(ev.labels)
    if min((labels == 0).sum(), (labels == 1).sum()) < 2:
        return {"cue_auc": None, "cue_auc_ci95": [None, None], "cues": []}
    result = cue_auc(ev.rows, labels, folds=s.folds, seed=s.seed, n_boot=s.n_boot)
    single = single_cue_aucs(ev.rows, labels)
    return {"cue_auc": result["auc"], "cue_auc_ci95": [result["ci_low"], result["ci_high"]], "cues": single,
            "cue_folds": result["folds"], "cue_model": result["model"],
            "cue_verdict": shortcut_verdict(result["auc"], (result["ci_low"], result["ci_high"]), single)}


def _pixel_part(ev: Evidence) -> dict[str, Any]:
    if min(ev.pixels.n) < 1:
        return {"pixel_corner_share": {"mean": None, "ci95": [None, None]}, "pixel_masses": {}}
    masses = ev.pixels.region_summary()
    share = masses["corner_share"]
    return {"pixel_corner_share": {"mean": share["mean"], "ci95": share["ci95"]}, "pixel_masses": masses,
            "pixel_masses_real": ev.pixels.region_summary(direction="real"),
            "pixel_masses_either": ev.pixels.region_summary(direction="either"),
            "fingerprint": fingerprint_peak(ev.fingerprint)}


def summarize_evidence(ev: Evidence, s: AuditSettings) -> dict[str, Any]:
    labels = np.array(ev.labels)
    return {"n_images": len(ev.paths), "n_real": int((labels == 0).sum()), "n_fake": int((labels == 1).sum()),
            **_cue_part(ev, s), **_pixel_part(ev)}


def run_audit(data: str | Path, settings: AuditSettings = AuditSettings(), *, progress: bool = False) -> AuditResult:
    """The whole audit of ``data``: evidence, per-split summaries and the verdict (``audit.verdict``)."""
    evidence, skipped = gather(data, settings, progress=progress)
    overall = summarize_evidence(evidence[ALL], settings)
    folders = labelled_splits(data)
    per_split = {name: {"folder": str(folders[name].resolve()), **summarize_evidence(ev, settings)}
                 for name, ev in evidence.items() if name != ALL}
    warning = one_class_warning([Sample(p, y) for p, y in zip(evidence[ALL].paths, evidence[ALL].labels)], data)
    summary = {"schema_version": SCHEMA_VERSION, "data": str(data), "data_resolved": str(Path(data).resolve()),
               **overall, "per_split": per_split,
               "n_skipped": len(skipped), "settings": settings.__dict__, "warnings": [warning] if warning else []}
    summary["verdict"] = verdict(summary)
    return AuditResult(settings, str(data), evidence, summary, skipped)
