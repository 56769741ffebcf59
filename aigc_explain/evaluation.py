"""Inference over folders and the evaluation of a detector on labelled data.

``predict`` runs a detector over samples (batched, failure tolerant) and returns probabilities;
``evaluate_folder`` adds metrics with bootstrap intervals; both take an optional ``Perturbation``
applied to the decoded image before the eval transform (robustness sweeps); ``cam_measures`` gets
the raw CAMs and corner shares under such a perturbation. ``cross_domain`` evaluates every checkpoint
on every data folder. Training reuses ``run_inference`` for its
validation pass, so validation and evaluation can never preprocess differently.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from .data import (LABEL_NAMES, NoReadableImages, Sample, eval_transform, find_samples, make_loader, one_class_warning,
                   split_folder)
from .models import Detector
from .perturb import Perturbation, with_perturbation

if TYPE_CHECKING:
    from .explain import CamSettings

log = logging.getLogger(__name__)


@dataclass
class Predictions:
    paths: list[str]
    labels: np.ndarray  # 0 real, 1 fake, -1 unknown
    logits: np.ndarray
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def probs(self) -> np.ndarray:
        from scipy.special import expit  # stable for saturated logits (no exp overflow)

        return expit(self.logits.astype(np.float64))

    def rows(self, threshold: float = 0.5) -> list[tuple]:
        preds = np.where(self.probs >= threshold, 1, 0)
        return [(p, LABEL_NAMES[int(y)], f"{pr:.6f}", LABEL_NAMES[int(k)])
                for p, y, pr, k in zip(self.paths, self.labels, self.probs, preds)]


AMP_MODES = ("auto", "bf16", "off")


def autocast(device: torch.device, amp: str = "auto"):
    """bfloat16 autocast (no loss scaling needed): ``auto`` = on CUDA only, so CPU runs stay exactly
    reproducible in fp32; ``bf16`` also on CPU (about 1.7x faster training on CPUs with AMX)."""
    if amp not in AMP_MODES:
        raise ValueError(f"--amp {amp!r} is not one of {', '.join(AMP_MODES)}")
    if amp == "bf16" or (amp == "auto" and device.type == "cuda"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def run_inference(model: nn.Module, loader, device: torch.device,
                  amp: str = "auto") -> tuple[torch.Tensor, torch.Tensor, list[int], list[tuple[int, str]]]:
    """Logits, labels and dataset indices of every readable image, plus the failures."""
    model.eval()
    channels_last = device.type == "cuda"
    logits, labels, indices, failed = [], [], [], []
    with torch.inference_mode():
        for batch in loader:
            failed += batch.failed
            if batch.images.numel() == 0:
                continue
            x = batch.images.to(device, non_blocking=True)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast(device, amp):
                out = model(x)
            logits.append(out.float().reshape(-1))
            labels.append(batch.labels)
            indices += batch.indices.tolist()
    if not logits:
        return torch.empty(0), torch.empty(0), [], failed
    return torch.cat(logits).cpu(), torch.cat(labels), indices, failed


def predict(detector: Detector, samples: list[Sample], *, batch_size: int = 64, device: str | torch.device = "cpu",
            workers: int = 0, perturbation: Perturbation | None = None) -> Predictions:
    """Probabilities of "fake" for every readable sample, with the same preprocessing as training's validation
    (``perturbation``, if any, first: it degrades the decoded image, then the detector resizes it)."""
    device = torch.device(device)
    transform = with_perturbation(eval_transform(detector.image_size, detector.mean, detector.std), perturbation)
    loader = make_loader(samples, transform, batch_size=batch_size, workers=workers, pin_memory=device.type == "cuda")
    logits, _, indices, failed = run_inference(detector.to(device), loader, device)
    kept = [samples[i] for i in indices]
    return Predictions([s.path for s in kept], np.array([s.label for s in kept], dtype=np.int64),
                       logits.numpy().astype(np.float64), [(samples[i].path, why) for i, why in failed])


def evaluate_folder(detector: Detector, data: str | Path, *, split: str = "val", batch_size: int = 64,
                    device: str | torch.device = "cpu", workers: int = 0, threshold: float = 0.5,
                    seed: int = 0, perturbation: Perturbation | None = None) -> tuple[dict, Predictions]:
    """Metrics (accuracy, real/fake accuracy, AP, AUC, bootstrap intervals) on a labelled folder."""
    from .metrics import binary_metrics

    folder = split_folder(data, split)
    samples = find_samples(folder, require_labels=True)
    preds = predict(detector, samples, batch_size=batch_size, device=device, workers=workers,
                    perturbation=perturbation)
    if len(preds.paths) == 0:
        raise NoReadableImages(f"none of the {len(samples)} images under {folder} could be read", preds.skipped)
    metrics = binary_metrics(preds.labels, preds.probs, threshold=threshold, seed=seed)
    metrics["folder"] = str(folder)
    metrics["n_skipped"] = len(preds.skipped)
    warning = one_class_warning([Sample(p, int(y)) for p, y in zip(preds.paths, preds.labels)], folder)
    metrics["warnings"] = [warning] if warning else []
    if warning:
        log.warning(warning)
    return metrics, preds


def write_evaluation(out: str | Path, metrics: dict, preds: Predictions, *, threshold: float = 0.5) -> None:
    """metrics.json, predictions.csv (path, label, prob_fake, pred) and skipped.csv into folder ``out``."""
    from .runs import write_csv, write_json, write_skipped

    out = Path(out)
    write_json(out / "metrics.json", metrics)
    write_csv(out / "predictions.csv", ("path", "label", "prob_fake", "pred"), preds.rows(threshold))
    write_skipped(out, preds.skipped)


# ------------------------------------------------------------------------------------ CAM measures
@dataclass
class CamMeasures:
    paths: list[str]
    raw: np.ndarray  # (N, h, w) signed raw CAMs at the layer's resolution
    corner_share: np.ndarray  # (N,), NaN for empty maps
    layer: str


def cam_measures(detector: Detector, samples: list[Sample], settings: CamSettings, *,
                 perturbation: Perturbation | None = None, device: str | torch.device = "cpu",
                 workers: int = 0) -> CamMeasures:
    """Raw CAMs and corner shares of ``samples`` under ``perturbation`` (``explain.explain_samples``)."""
    from .explain import explain_samples

    result = explain_samples(detector, samples, settings, perturbation=perturbation, device=device, workers=workers)
    return CamMeasures(result.paths, result.raw_maps, result.masses["corner_share"], result.layer_name)


# ------------------------------------------------------------------------------ cross-domain tables
# Run folders name their checkpoint best_model.pth & co: the folder says more than the file.
GENERIC_STEMS = frozenset({"best_model", "final_model", "checkpoint", "model", "best", "last", "final", "latest",
                           "model_best", "weights"})
GENERIC_SPLITS = frozenset({"train", "val", "valid", "validation", "test"})


def checkpoint_name(path: str | Path) -> str:
    """Row label: the file stem, or its folder's name when the stem is generic (best_model.pth)."""
    p = Path(path)
    parent = p.resolve().parent.name
    return parent if p.stem.lower() in GENERIC_STEMS and parent else p.stem


def data_name(path: str | Path) -> str:
    """Column label: the folder's name, with its parent's when it is a bare split (cifake-dev-val)."""
    p = Path(path).resolve()
    return f"{p.parent.name}-{p.name}" if p.name.lower() in GENERIC_SPLITS and p.parent.name else p.name


def unique_names(paths: list[str], names: list[str] | None, *, flag: str, what: str, default) -> list[str]:
    """One distinct, folder-safe label per path: ``names`` when given, else ``default(path)``."""
    if names is None:
        names = [default(p) for p in paths]
    elif len(names) != len(paths):
        raise ValueError(f"{flag} gives {len(names)} name(s) for {len(paths)} {what}; give exactly one per {what}")
    for name in names:
        if not name or name in (".", "..") or "/" in name or "\\" in name:
            raise ValueError(f"{flag}: {name!r} cannot name a folder; use letters, digits, '-' or '_'")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"two {what} would both be called {dup[0]!r}; pass {flag} to name each one")
    return list(names)


@dataclass
class CrossDomain:
    """Metrics of every checkpoint (rows) on every data folder (columns)."""

    checkpoints: list[str]
    data: list[str]
    checkpoint_paths: list[str]
    data_paths: list[str]
    cells: dict[tuple[int, int], tuple[dict, Predictions]]


def check_cross_domain(ckpts: list[str], datas: list[str], *, ckpt_names: list[str] | None = None,
                       data_names: list[str] | None = None, split: str = "val") -> tuple[list[str], list[str]]:
    """Row and column names; fails on a bad name, a missing checkpoint or data folder before any inference."""
    rows = unique_names(ckpts, ckpt_names, flag="--names", what="checkpoint", default=checkpoint_name)
    cols = unique_names(datas, data_names, flag="--data-names", what="data folder", default=data_name)
    for ckpt in ckpts:
        if not Path(ckpt).is_file():
            raise FileNotFoundError(f"checkpoint {ckpt} does not exist; check --ckpt")
    for data in datas:
        split_folder(data, split)
    return rows, cols


def cross_domain(ckpts: list[str], datas: list[str], *, ckpt_names: list[str] | None = None,
                 data_names: list[str] | None = None, arch: str | None = None, split: str = "val",
                 batch_size: int = 64, device: str | torch.device = "cpu", workers: int = 0,
                 threshold: float = 0.5) -> CrossDomain:
    """``evaluate_folder`` for each (checkpoint, data) pair; every checkpoint is loaded once."""
    from .checkpoint import load_detector

    rows, cols = check_cross_domain(ckpts, datas, ckpt_names=ckpt_names, data_names=data_names, split=split)
    cells = {}
    for i, ckpt in enumerate(ckpts):
        detector = load_detector(ckpt, arch=arch)
        for j, data in enumerate(datas):
            cells[i, j] = evaluate_folder(detector, data, split=split, batch_size=batch_size, device=device,
                                          workers=workers, threshold=threshold)
            log.info("%s on %s: accuracy %.4f", rows[i], cols[j], cells[i, j][0]["accuracy"])
    return CrossDomain(rows, cols, [str(c) for c in ckpts], [str(d) for d in datas], cells)
