"""Auditing a labelled folder without any detector: do the file cues give the label away, and where in the
image do the classes differ? One pass over the images reads each file's cues (headers, or the re-encoded
bytes with ``reencode``), its history features at native size, and, at the audit size (``geometry``), folds
its noise residual into streaming per-class pixel evidence, a fingerprint and the mean images, keeping per
image only the small feature vectors the localisation and the budget classifiers need; overall and per split.
``evidence.summary`` then turns each split's evidence into numbers and ``evidence.verdict`` into sentences."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm import tqdm

from aigc_explain.evidence.cues import cues_from_bytes, read_cues
from aigc_explain.evidence.features import MeanImages, ResidualFeatures, content_features, history_features
from aigc_explain.evidence.geometry import Geometry, choose_geometry, native_sides
from aigc_explain.evidence.localise import choose_grid_block, pooled_log_energy
from aigc_explain.evidence.pixels import PixelEvidence, ResidualFingerprint, residual_energy, residual_maps
from aigc_explain.evidence.summary import PEAK_RATIO, PEAK_SHARPNESS, fingerprint_peak, summarize_evidence
from aigc_explain.evidence.verdict import verdict
from aigc_explain.core.folders import (NoReadableImages, Sample, balanced_subset, describe_error, find_samples,
                                       labelled_splits, one_class_warning)
from aigc_explain.core.images import Reencode, Resize, read_image

log = logging.getLogger(__name__)

__all__ = ["ALL", "AuditResult", "AuditSettings", "Evidence", "PEAK_RATIO", "PEAK_SHARPNESS", "fingerprint_peak",
           "gather", "run_audit"]
SCHEMA_VERSION = 2  # 2: localisation against a permutation null, budget, geometry
BATCH = 64  # images whose residuals are folded into the accumulators at once
ALL = "all"
FEATURE_KINDS = ("blocks", "content", "history", "residual")


@dataclass(frozen=True)
class AuditSettings:
    size: int = 224  # the largest audit size; smaller images stay at native size unless ``enlarge``
    enlarge: bool = False
    limit: int | None = None  # at most this many images per split, balanced between the classes
    reencode: str | None = None
    folds: int = 5
    n_boot: int = 2000
    n_perm: int = 200  # label permutations of the localisation's null
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
        if self.n_perm < 19:
            raise ValueError(f"--n-perm must be >= 19 (a p-value below 0.05 needs 19 permutations), got {self.n_perm}")


@dataclass
class Evidence:
    """What one split (or all of them) holds: the cue rows and labels, the streaming pixel evidence, and per
    image the feature vectors of ``FEATURE_KINDS`` (pooled log energy on ``grid``, content, history, residual)."""

    pixels: PixelEvidence
    fingerprint: ResidualFingerprint
    means: MeanImages
    grid: tuple[int, int]
    paths: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    features: dict[str, list[np.ndarray]] = field(default_factory=lambda: {k: [] for k in FEATURE_KINDS})

    @property
    def shape(self) -> tuple[int, int]:
        return self.fingerprint.shape


@dataclass
class AuditResult:
    settings: AuditSettings
    data: str
    evidence: dict[str, Evidence]  # "all" first, then each split
    summary: dict[str, Any]
    skipped: list[tuple[str, str]]
    geometry: Geometry


class _Gatherer:
    """The per-size parts shared by every split: resize, the pooling block, the residual features."""

    def __init__(self, s: AuditSettings, geometry: Geometry) -> None:
        self.settings, self.size = s, geometry.size
        self.fracs = (s.corner_frac, s.center_frac, s.border_frac)
        self.block = choose_grid_block(self.size, self.size, self.fracs)
        self.resize, self.reencode = Resize(self.size), Reencode.parse(s.reencode)
        self.residual = ResidualFeatures((self.size, self.size), self.fracs)

    def new_evidence(self) -> Evidence:
        shape, k = (self.size, self.size), self.block
        return Evidence(PixelEvidence(shape, n_boot=None), ResidualFingerprint(shape), MeanImages(shape),
                        (self.size // k, self.size // k))

    def read(self, sample: Sample) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
        """The file's cues, its pixels at audit size and its history features at native size (re-encoded
        first when asked)."""
        if sample.problem:
            raise OSError(sample.problem)
        image = read_image(sample.path)
        if self.reencode is None:
            cues = read_cues(sample.path)
        else:
            data = self.reencode.encode(image.permute(1, 2, 0).numpy())  # encoded once: its cues and its pixels
            cues = cues_from_bytes(data, name=sample.path)
            image = image if self.reencode.kind == "png" else self.reencode.decode(data)
        native = image.permute(1, 2, 0).contiguous().numpy()
        return cues.as_dict(), self.resize(image).permute(1, 2, 0).contiguous().numpy(), history_features(native)

    def flush(self, batch: list[tuple[np.ndarray, int, np.ndarray]], targets: list[Evidence]) -> None:
        images = np.stack([img for img, _, _ in batch])
        residuals = residual_maps(list(images))
        labels = np.array([label for _, label, _ in batch])
        energy = residual_energy(residuals)  # once for the overall and the split evidence
        feats = {"blocks": pooled_log_energy(energy, self.block), "residual": self.residual(residuals, energy),
                 "content": np.stack([content_features(img) for img in images]),
                 "history": np.stack([h for _, _, h in batch])}
        for ev in targets:
            ev.pixels.add(energy, labels)
            ev.fingerprint.add(residuals, labels)
            ev.means.add(images, labels)
            for kind, rows in feats.items():
                ev.features[kind].extend(rows)


def gather(data: str | Path, settings: AuditSettings = AuditSettings(), *,
           progress: bool = False) -> tuple[dict[str, Evidence], list[tuple[str, str]], Geometry]:
    """One pass over the images of ``data`` (a class folder or a split root): evidence overall and per split."""
    splits = {name: balanced_subset(find_samples(folder, require_labels=True), settings.limit)
              for name, folder in labelled_splits(data).items()}
    geometry = choose_geometry(native_sides([x.path for samples in splits.values() for x in samples]),
                               settings.size, enlarge=settings.enlarge)
    if geometry.statement():
        log.warning("%s", geometry.statement())
    gatherer = _Gatherer(settings, geometry)
    evidence = {ALL: gatherer.new_evidence()}
    skipped: list[tuple[str, str]] = []
    total = sum(len(x) for x in splits.values())
    bar = tqdm(total=total, desc="audit", disable=not progress)
    for name, samples in splits.items():
        targets = [evidence[ALL]] + ([evidence.setdefault(name, gatherer.new_evidence())] if name else [])
        batch: list[tuple[np.ndarray, int, np.ndarray]] = []
        for sample in samples:
            bar.update()
            try:
                cues, pixels, history = gatherer.read(sample)
            except (OSError, ValueError, SyntaxError, RuntimeError, Image.DecompressionBombError) as exc:
                skipped.append((sample.path, sample.problem or describe_error(exc)))
                continue
            for ev in targets:
                ev.paths.append(sample.path)
                ev.rows.append(cues)
                ev.labels.append(sample.label)
            batch.append((pixels, sample.label, history))
            if len(batch) == BATCH:
                gatherer.flush(batch, targets)
                batch = []
        if batch:
            gatherer.flush(batch, targets)
    bar.close()
    if not evidence[ALL].paths:
        raise NoReadableImages(f"none of the {total} images under {data} could be read", skipped)
    return evidence, skipped, geometry


def run_audit(data: str | Path, settings: AuditSettings = AuditSettings(), *, progress: bool = False) -> AuditResult:
    """The whole audit of ``data``: evidence, per-split summaries and the verdict (``audit.verdict``)."""
    evidence, skipped, geometry = gather(data, settings, progress=progress)
    overall = summarize_evidence(evidence[ALL], settings, budget=True)
    folders = labelled_splits(data)
    per_split = {name: {"folder": str(folders[name].resolve()), **summarize_evidence(ev, settings)}
                 for name, ev in evidence.items() if name != ALL}
    warning = one_class_warning([Sample(p, y) for p, y in zip(evidence[ALL].paths, evidence[ALL].labels)], data)
    summary = {"schema_version": SCHEMA_VERSION, "data": str(data), "data_resolved": str(Path(data).resolve()),
               **overall, "per_split": per_split, "geometry": geometry.to_json(),
               "n_skipped": len(skipped), "settings": settings.__dict__, "warnings": [warning] if warning else []}
    summary["verdict"] = verdict(summary)
    return AuditResult(settings, str(data), evidence, summary, skipped, geometry)
