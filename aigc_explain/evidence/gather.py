"""Auditing a labelled folder without any detector: do the file cues give the label away, and where in the
image do the classes differ? One pass over the images reads each file's cues (headers, or the re-encoded
bytes with ``reencode``), its history features at native size, and, at the audit size (``geometry``), folds
its noise residual into streaming per-class pixel evidence, a fingerprint and the mean images, keeping per
image only the small feature vectors the localisation and the budget classifiers need; overall and per split
(the budget's kinds overall only: the budget is reported for all splits together). Before the pass, the kinds
that calibrate (the history's scan for a resize between two JPEG saves) see a seeded sample of the images without
their labels. The loop runs over a tuple of evidence kinds (``EVIDENCE_KINDS``, each following
``kinds.EvidenceKind``): every batch is handed to every kind of the overall and the split evidence.
``evidence.summary`` then turns each split's evidence into numbers (``runs.audit_summary.AuditSummary``) and
``evidence.verdict`` into sentences."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from threadpoolctl import threadpool_limits  # a scikit-learn dependency
from tqdm import tqdm

from aigc_explain.evidence.cues import cues_from_bytes, read_cues
from aigc_explain.evidence.geometry import Geometry, choose_geometry, native_sides
from aigc_explain.evidence.kinds import Batch, Context, ContentKind, EvidenceKind, FileCueKind, HistoryKind, \
    ResidualKind
from aigc_explain.evidence.localise import choose_grid_block
from aigc_explain.evidence.pixel_kinds import BlockEnergy, Fingerprint, MeanImage, PixelEnergy
from aigc_explain.evidence.summary import ALL, PEAK_RATIO, PEAK_SHARPNESS, fingerprint_peak, summarize_evidence
from aigc_explain.core.folders import (NoReadableImages, Sample, balanced_subset, describe_error, find_samples,
                                       labelled_splits, one_class_warning)
from aigc_explain.core.images import Reencode, Resize, read_rgb
from aigc_explain.runs.audit_summary import AuditSummary

log = logging.getLogger(__name__)

__all__ = ["ALL", "AuditResult", "AuditSettings", "EVIDENCE_KINDS", "Evidence", "PEAK_RATIO", "PEAK_SHARPNESS",
           "fingerprint_peak", "gather", "run_audit"]
BATCH = 64  # images whose residuals are folded into the accumulators at once
CALIBRATION_SAMPLE = 64  # images the kinds that calibrate (``kinds.EvidenceKind``) see before the pass
READ_ERRORS = (OSError, ValueError, SyntaxError, RuntimeError, Image.DecompressionBombError)
# The audit's kinds of evidence, in the order their maps are written and their budget rows measured: a class
# whose instances follow ``kinds.EvidenceKind`` (built from a ``kinds.Context``) is gathered when it is here.
EVIDENCE_KINDS: tuple[Callable[[Context], EvidenceKind], ...] = (
    PixelEnergy, BlockEnergy, MeanImage, Fingerprint, FileCueKind, HistoryKind, ContentKind, ResidualKind)


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
    """What one split (or all of them) holds: the paths and labels in reading order, and its kinds of evidence
    (``kind(name)``), each fed every batch of the split's images."""

    kinds: tuple[EvidenceKind, ...]
    grid: tuple[int, int]  # the localisation's pooled grid
    shape: tuple[int, int]  # the audit size
    paths: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)

    def kind(self, name: str) -> Any:
        """The kind of evidence called ``name``."""
        found = next((k for k in self.kinds if k.name == name), None)
        if found is None:
            raise ValueError(f"this evidence has no kind {name!r}; it has {', '.join(k.name for k in self.kinds)} "
                             f"(the audit needs cues, blocks and fingerprint: keep them in the kinds)")
        return found


@dataclass
class AuditResult:
    settings: AuditSettings
    data: str
    evidence: dict[str, Evidence]  # "all" first, then each split
    summary: AuditSummary
    skipped: list[tuple[str, str]]
    geometry: Geometry


class _Gatherer:
    """The per-size parts shared by every split: resize, re-encoding and the kinds' context."""

    def __init__(self, s: AuditSettings, geometry: Geometry, kinds: tuple[Callable[[Context], EvidenceKind], ...]
                 ) -> None:
        self.size, self.kinds = geometry.size, kinds
        fracs = (s.corner_frac, s.center_frac, s.border_frac)
        self.context = Context(s, self.size, choose_grid_block(self.size, self.size, fracs))
        self.resize, self.reencode = Resize(self.size), Reencode.parse(s.reencode)
        names = [k.name for k in self.new_evidence().kinds]
        if len(set(names)) != len(names):  # a batch shares per-image features by name
            raise ValueError(f"kinds: every kind needs a name of its own, got {names}")

    def new_evidence(self, *, budget: bool = True) -> Evidence:
        """One of every kind; a split's (``budget=False``) leaves out the budget's rows (``budget = True``):
        the budget is the overall evidence's alone (per split it would repeat the audit's dearest part), so a
        split's lists of those rows would go unread."""
        kinds = (make(self.context) for make in self.kinds)
        return Evidence(tuple(k for k in kinds if budget or not getattr(k, "budget", False)), self.context.grid,
                        self.context.shape)

    def calibrate(self, samples: list[Sample], seed: int) -> None:
        """The kinds that look at the data before the pass (``calibrate``) see up to ``CALIBRATION_SAMPLE``
        images at native size, drawn with ``seed`` from ``samples`` without their labels; what they find reaches
        every kind built after (``Context.calibration``). Unreadable images are left to the pass to report."""
        calibrating = [k for k in self.new_evidence().kinds if hasattr(k, "calibrate")]
        if not calibrating or not samples:
            return
        pick = sorted(np.random.default_rng(seed).choice(len(samples), min(CALIBRATION_SAMPLE, len(samples)),
                                                         replace=False))

        def images() -> Iterator[np.ndarray]:  # one at a time: a kind keeps only what it needs of each
            for i in pick:
                try:
                    yield self.decoded(samples[i])[0]
                except READ_ERRORS:
                    continue

        found = {k.name: k.calibrate(images()) for k in calibrating}
        for name, record in found.items():
            log.info("calibrated %s on a sample of %d images: %s", name, len(pick), record)
        self.context = replace(self.context, calibration=found)

    def decoded(self, sample: Sample) -> tuple[np.ndarray, bytes | None]:
        """Its pixels at native size ((H, W, 3) uint8), re-encoded first when asked, and the re-encoded bytes
        (None without ``--reencode``)."""
        if sample.problem:
            raise OSError(sample.problem)
        # (H, W, 3) arrays throughout: torch's copies to (3, H, W) and back stalled on busy shared cores
        native = read_rgb(sample.path)
        if self.reencode is None:
            return native, None
        data = self.reencode.encode(native)  # encoded once: its cues and its pixels
        return (native if self.reencode.kind == "png" else self.reencode.decode_rgb(data)), data

    def read(self, sample: Sample,
             native_kinds: list[Any]) -> tuple[dict[str, Any], np.ndarray, dict[str, np.ndarray]]:
        """The file's cues, its pixels at audit size and the native-size features of ``native_kinds`` (the
        kinds that read each image at native size; re-encoded first when asked)."""
        native, data = self.decoded(sample)
        cues = read_cues(sample.path) if data is None else cues_from_bytes(data, name=sample.path)
        return cues.as_dict(), self.resize.rgb(native), {k.name: k.image_features(native) for k in native_kinds}

    def flush(self, batch: list[tuple[np.ndarray, int, dict[str, Any], dict[str, np.ndarray]]],
              targets: list[Evidence]) -> None:
        """One ``kinds.Batch`` to every kind of the overall and the split evidence (computed once for both)."""
        native = {name: np.stack([n[name] for *_, n in batch]) for name in batch[0][3]}
        b = Batch(np.stack([img for img, *_ in batch]), np.array([label for _, label, *_ in batch]),
                  [row for _, _, row, _ in batch], native)
        for ev in targets:
            for kind in ev.kinds:
                kind.add(b)


def _read_split(gatherer: _Gatherer, samples: list[Sample], targets: list[Evidence], skipped: list[tuple[str, str]],
                bar: tqdm) -> None:
    """Every readable image of one split into ``targets`` (the overall evidence first, then the split's), in
    batches; an image's native-size features are computed once, by the overall evidence's kinds."""
    native_kinds = [k for k in targets[0].kinds if hasattr(k, "image_features")]
    batch: list[tuple[np.ndarray, int, dict[str, Any], dict[str, np.ndarray]]] = []
    for sample in samples:
        bar.update()
        try:
            cues, pixels, native = gatherer.read(sample, native_kinds)
        except READ_ERRORS as exc:
            skipped.append((sample.path, sample.problem or describe_error(exc)))
            continue
        for ev in targets:
            ev.paths.append(sample.path)
            ev.labels.append(sample.label)
        batch.append((pixels, sample.label, cues, native))
        if len(batch) == BATCH:
            gatherer.flush(batch, targets)
            batch = []
    if batch:
        gatherer.flush(batch, targets)


def gather(data: str | Path, settings: AuditSettings = AuditSettings(), *, progress: bool = False,
           kinds: tuple[Callable[[Context], EvidenceKind], ...] = EVIDENCE_KINDS
           ) -> tuple[dict[str, Evidence], list[tuple[str, str]], Geometry]:
    """One pass over the images of ``data`` (a class folder or a split root): evidence overall and per split,
    each holding one of every kind in ``kinds``."""
    splits = {name: balanced_subset(find_samples(folder, require_labels=True), settings.limit)
              for name, folder in labelled_splits(data).items()}
    geometry = choose_geometry(native_sides([x.path for samples in splits.values() for x in samples]),
                               settings.size, enlarge=settings.enlarge)
    if geometry.statement():
        log.warning("%s", geometry.statement())
    gatherer = _Gatherer(settings, geometry, kinds)
    evidence: dict[str, Evidence] = {}
    skipped: list[tuple[str, str]] = []
    total = sum(len(x) for x in splits.values())
    bar = tqdm(total=total, desc="audit", disable=None if progress else True)
    # The pass is many small products (block DCTs, interpolation matrices): on shared cores, BLAS threads
    # waiting for each other made the history features several times slower than one thread.
    with threadpool_limits(limits=1, user_api="blas"):
        gatherer.calibrate([x for samples in splits.values() for x in samples], settings.seed)
        evidence[ALL] = gatherer.new_evidence()
        for name, samples in splits.items():
            split = [evidence.setdefault(name, gatherer.new_evidence(budget=False))] if name else []
            _read_split(gatherer, samples, [evidence[ALL]] + split, skipped, bar)
    bar.close()
    if not evidence[ALL].paths:
        raise NoReadableImages(f"none of the {total} images under {data} could be read", skipped)
    return evidence, skipped, geometry


def run_audit(data: str | Path, settings: AuditSettings = AuditSettings(), *, progress: bool = False,
              kinds: tuple[Callable[[Context], EvidenceKind], ...] = EVIDENCE_KINDS) -> AuditResult:
    """The whole audit of ``data``: evidence, per-split summaries and the verdict (``summary.verdict``)."""
    evidence, skipped, geometry = gather(data, settings, progress=progress, kinds=kinds)
    warning = one_class_warning([Sample(p, y) for p, y in zip(evidence[ALL].paths, evidence[ALL].labels)], data)
    summary = summarize_evidence(evidence, settings, data=data, folders=labelled_splits(data), geometry=geometry,
                                 n_skipped=len(skipped), warnings=[warning] if warning else [])
    return AuditResult(settings, str(data), evidence, summary, skipped, geometry)
