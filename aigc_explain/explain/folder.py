"""Explain a detector over a whole folder: CAMs, per-class mean maps, corner-vs-centre statistics.

``explain_folder(detector, folder, ...)`` streams batches through ``methods.compute_cams``, keeps the raw
maps at the layer's own (small) resolution, measures region masses at input size, and folds unit-mass
maps into per-group running sums, so memory per group is O(H·W) whatever the number of images.
``explain.save.save_result`` writes the output contract documented in the README.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.special import expit
from tqdm import tqdm

from aigc_explain.analysis.regions import MeanMapAccumulator, check_fractions, region_masses
from aigc_explain.analysis.stats import summarize
from aigc_explain.core.folders import NoReadableImages, Sample, balanced_subset, find_samples, one_class_warning
from aigc_explain.core.images import eval_transform, prepend, Reencode
from aigc_explain.core.inference import AMP_MODES
from aigc_explain.core.loader import make_loader
from aigc_explain.core.models import Detector
from aigc_explain.explain.layers import auto_layer, reshape_transform_for, resolve_layer
from aigc_explain.explain.maps import resolution_warning, upsample_positive
from aigc_explain.explain.methods import TARGETS, check_amp_for, check_method, compute_cams
from aigc_explain.runs.contract import GROUPS, LABEL_NAMES, MASS_KEYS
from aigc_explain.runs.summaries import (SUMMARY_SCHEMA_VERSION, CamSummary, GroupStats, LayerChoice, Provenance,
                                       Regions, Selection)

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class CamSettings:
    method: str = "gradcam"
    target: str = "fake"
    layer: str = "auto"
    batch_size: int = 32
    corner_frac: float = 0.25
    center_frac: float = 0.5
    border_frac: float = 0.125
    limit: int | None = None
    shard: tuple[int, int] | None = None  # (k, n): this process explains every n-th image from k (1-based)
    reencode: str | None = None  # every image re-encoded identically first (--reencode jpeg:Q|png)
    amp: str = "off"  # exact fp32 (grad-cam's maps); "bf16": autocast for the one-pass methods

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", check_method(self.method, flag="--method "))  # stored in lower case
        if self.amp not in AMP_MODES:
            raise ValueError(f"--amp {self.amp!r} is not one of {', '.join(AMP_MODES)}")
        check_amp_for(self.method, self.amp)  # before any image is read
        if self.target not in TARGETS:
            raise ValueError(f"--target {self.target!r} is not one of {', '.join(TARGETS)}")
        if self.batch_size < 1:
            raise ValueError(f"--batch-size must be >= 1, got {self.batch_size}")
        if self.shard is not None and not (1 <= self.shard[0] <= self.shard[1]):
            raise ValueError(f"--shard {self.shard[0]}/{self.shard[1]} must be K/N with 1 <= K <= N")
        Reencode.parse(self.reencode)
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"--limit must be >= 1, got {self.limit}")
        try:
            check_fractions(self.corner_frac, self.center_frac, self.border_frac)
        except ValueError as exc:
            raise ValueError(f"--{str(exc).replace('_', '-', 1)}") from None


@dataclass(frozen=True, kw_only=True)
class CamResult:
    """Everything one CAM run produced; ``save`` writes it as files, ``summary`` as numbers. Built by keyword."""
    settings: CamSettings
    detector_config: dict[str, Any]
    layer_name: str
    map_size: tuple[int, int]
    input_size: tuple[int, int]
    paths: list[str]
    indices: np.ndarray  # position of each image in the whole (unsharded) selection: merges restore order
    labels: np.ndarray  # 0/1/-1
    prob_fake: np.ndarray
    raw_maps: np.ndarray  # (N, h, w) signed, at the layer's resolution
    masses: dict[str, np.ndarray]  # MASS_KEYS + "cam_empty", each (N,)
    accumulators: dict[str, MeanMapAccumulator]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    selection: Selection | None = None  # which images the whole (unsharded) run selects: shards must agree
    layer_choice: LayerChoice | None = None  # how the layer was chosen (--layer auto: the rule's reason)

    @property
    def preds(self) -> np.ndarray:
        return (self.prob_fake >= 0.5).astype(np.int64)

    def group_indices(self) -> dict[str, np.ndarray]:
        """Image indices of every non-empty group: all, by label, by predicted class."""
        preds = self.preds
        groups = {"all": np.arange(len(self.paths)), "real": np.flatnonzero(self.labels == 0),
                  "fake": np.flatnonzero(self.labels == 1), "pred_real": np.flatnonzero(preds == 0),
                  "pred_fake": np.flatnonzero(preds == 1)}
        return {g: idx for g, idx in groups.items() if len(idx)}

    def summary(self, *, n_boot: int = 2000, seed: int = 0, provenance: Provenance | None = None,
                extra: dict[str, Any] | None = None) -> CamSummary:
        """The run's ``summary.json`` as a ``runs.summaries.CamSummary``; ``provenance`` (``save.provenance``: the
        preprocessing, checkpoint hash and library versions) fills the fields a run folder records beside it,
        ``extra`` holds keys a caller of the Python API adds."""
        groups = {}
        for name, idx in self.group_indices().items():
            stats = {key: summarize(self.masses[key][idx], n_boot=n_boot, seed=seed)
                     for key in MASS_KEYS}
            groups[name] = GroupStats(n=int(len(idx)), n_empty=int(self.masses["cam_empty"][idx].sum()), **stats)
        known = self.labels >= 0
        accuracy = float((self.preds[known] == self.labels[known]).mean()) if known.any() else None
        s = self.settings
        own = {} if provenance is None else provenance.to_json()  # its fields are CamSummary's, by name
        return CamSummary(schema_version=SUMMARY_SCHEMA_VERSION, groups=groups, n_images=len(self.paths),
                          n_skipped=len(self.skipped), accuracy=accuracy, method=s.method, target=s.target,
                          layer=self.layer_name, map_size=tuple(self.map_size), input_size=tuple(self.input_size),
                          warnings=list(self.warnings), settings=asdict(s), detector=self.detector_config,
                          selection=self.selection, layer_choice=self.layer_choice, **own,
                          regions=Regions.of(s), extra=dict(extra or {}))


def select_samples(folder: str | Path, settings: CamSettings) -> tuple[list[Sample], list[int], Selection]:
    """The images of ``folder`` this run explains (``--limit``, balanced, then ``--shard``: every N-th
    from the K-th), their positions in the unsharded selection, and a record of that whole selection."""
    samples = balanced_subset(find_samples(folder), settings.limit)
    digest = hashlib.sha256("\n".join(s.path for s in samples).encode("utf-8", "surrogateescape")).hexdigest()
    selection = Selection(images=str(Path(folder).resolve()), n=len(samples), paths_sha256=digest)
    positions = list(range(len(samples)))
    if settings.shard:
        k, n = settings.shard
        samples, positions = samples[k - 1::n], positions[k - 1::n]
        if not samples:
            raise ValueError(f"shard {k}/{n} of {folder} holds no image")
    return samples, positions, selection


def explain_folder(detector: Detector, folder: str | Path, settings: CamSettings = CamSettings(), *,
                   device: str | torch.device = "cpu", workers: int = 0, progress: bool = False) -> CamResult:
    """Run CAMs over every image of ``folder`` (flat, class folder or split root)."""
    samples, positions, selection = select_samples(folder, settings)
    result = explain_samples(detector, samples, settings, positions=positions, device=device, workers=workers,
                             progress=progress, name=Path(folder).name)
    return replace(result, selection=selection)


def explain_samples(detector: Detector, samples: list[Sample], settings: CamSettings = CamSettings(), *,
                    positions: list[int] | None = None, perturbation: Any = None, device: str | torch.device = "cpu",
                    workers: int = 0, progress: bool = False, name: str = "images") -> CamResult:
    """CAMs of ``samples`` in order; ``perturbation`` (``perturb.Perturbation``) alters each decoded image
    before the detector's preprocessing (robustness sweeps)."""
    device = torch.device(device)
    positions = list(range(len(samples))) if positions is None else positions
    detector = detector.to(device).eval()
    size = (detector.image_size, detector.image_size)
    choice = auto_layer(detector.backbone, detector.image_size) if settings.layer == "auto" else None
    layer_name, layer = resolve_layer(detector.backbone, choice.layer if choice else settings.layer,
                                      image_size=detector.image_size)
    transform = reshape_transform_for(detector.backbone, layer_name)
    preprocess = prepend(eval_transform(detector.image_size, detector.mean, detector.std),
                         Reencode.parse(settings.reencode), perturbation)
    loader = make_loader(samples, preprocess, batch_size=settings.batch_size, workers=workers,
                         pin_memory=device.type == "cuda")
    accs = {g: MeanMapAccumulator(size) for g in GROUPS}
    kept, raws, logits, masses, skipped = [], [], [], [], []
    for batch in tqdm(loader, desc=f"{settings.method} {name}", disable=None if progress else True):
        skipped += [(samples[i].path, why) for i, why in batch.failed]
        if batch.images.numel() == 0:
            continue
        x = batch.images.to(device, non_blocking=True)
        raw, logit = compute_cams(detector, layer, x, settings.target, method=settings.method,
                                  reshape_transform=transform, batch_size=settings.batch_size,
                                  amp=settings.amp)
        up = upsample_positive(raw, size)
        rm = region_masses(up, corner_frac=settings.corner_frac, center_frac=settings.center_frac,
                           border_frac=settings.border_frac)
        labels = batch.labels.numpy().astype(np.int64)
        _accumulate(accs, up, labels, (logit >= 0).astype(np.int64))
        kept += batch.indices.tolist()
        raws.append(raw)
        logits.append(logit)
        masses.append(rm)
    if not kept:
        raise NoReadableImages(f"none of the {len(samples)} images of {name} could be read", skipped)
    layer_choice = choice or LayerChoice(asked=settings.layer, layer=layer_name, reason="given by --layer")
    return _result(settings, detector, layer_name=layer_name, size=size, samples=samples, positions=positions,
                   kept=kept, raws=raws, logits=logits, masses=masses, accs=accs, skipped=skipped,
                   layer_choice=layer_choice)


def _accumulate(accs: dict[str, MeanMapAccumulator], up: np.ndarray, labels: np.ndarray, preds: np.ndarray) -> None:
    accs["all"].add(up)
    for name, mask in (("real", labels == 0), ("fake", labels == 1), ("pred_real", preds == 0), ("pred_fake", preds == 1)):
        if mask.any():
            accs[name].add(up[mask])


def _result(settings: CamSettings, detector: Detector, *, layer_name: str, size: tuple[int, int],
            samples: list[Sample], positions: list[int], kept: list[int], raws: list[np.ndarray],
            logits: list[np.ndarray], masses: list[Any], accs: dict[str, MeanMapAccumulator],
            skipped: list[tuple[str, str]], layer_choice: LayerChoice) -> CamResult:
    raw_maps = np.concatenate(raws)
    logit = np.concatenate(logits).astype(np.float64)
    mass = {k: np.concatenate([getattr(m, k) for m in masses]) for k in MASS_KEYS}
    mass["cam_empty"] = np.concatenate([m.empty for m in masses])
    map_size = tuple(int(s) for s in raw_maps.shape[1:])
    warnings = [w for w in [resolution_warning(map_size, settings.corner_frac, layer_name),
                            one_class_warning([samples[i] for i in kept], "the images explained")] if w]
    for w in warnings:
        log.warning(w)
    return CamResult(settings=settings, detector_config=detector.config(), layer_name=layer_name, map_size=map_size,
                     input_size=size, paths=[samples[i].path for i in kept],
                     indices=np.array([positions[i] for i in kept], dtype=np.int64),
                     labels=np.array([samples[i].label for i in kept], dtype=np.int64), prob_fake=expit(logit),
                     raw_maps=raw_maps, masses=mass, accumulators={g: a for g, a in accs.items() if a.n + a.n_empty > 0},
                     skipped=skipped, warnings=warnings, layer_choice=layer_choice)


def label_name(value: int) -> str:
    return LABEL_NAMES[int(value)]
