"""Evaluating a detector on labelled data: metrics with bootstrap intervals (``evaluate_folder``), their files
(``write_evaluation``), and cross-domain tables (every checkpoint on every data folder)."""

from __future__ import annotations

import logging
from typing import Any
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from aigc_explain.analysis.metrics import binary_metrics
from aigc_explain.core.checkpoint import load_detector
from aigc_explain.core.folders import NoReadableImages, Sample, find_samples, one_class_warning, split_folder
from aigc_explain.core.inference import Predictions, check_finite_outputs, predict, resolve_amp
from aigc_explain.core.models import Detector
from aigc_explain.core.perturb import Perturbation
from aigc_explain.core.images import describe_preprocessing
from aigc_explain.runs.files import sha256_file, write_csv, write_json, write_manifest, write_skipped
from aigc_explain.runs.folders import run_folder
from aigc_explain.runs.summaries import AmpChoice, EvaluationMetrics

log = logging.getLogger(__name__)


def evaluate_folder(detector: Detector, data: str | Path, *, split: str = "val", batch_size: int = 64,
                    device: str | torch.device = "cpu", workers: int = 0, threshold: float = 0.5,
                    seed: int = 0, perturbation: Perturbation | None = None,
                    reencode: str | None = None, amp: str = "off",
                    source: str = "the detector") -> tuple[EvaluationMetrics, Predictions]:
    """Metrics (accuracy, real/fake accuracy, AP, AUC, bootstrap intervals) on a labelled folder; ``reencode``
    re-encodes every image identically first (``--reencode``), ``perturbation`` then degrades it; ``amp``
    (default off: exact fp32, the checkpoint's own probabilities) as in ``inference.resolve_amp``."""
    folder = split_folder(data, split)
    samples = find_samples(folder, require_labels=True)
    preds = predict(detector, samples, batch_size=batch_size, device=device, workers=workers,
                    perturbation=perturbation, reencode=reencode, amp=amp)
    if len(preds.paths) == 0:
        raise NoReadableImages(f"none of the {len(samples)} images under {folder} could be read", preds.skipped)
    check_finite_outputs(~np.isfinite(np.asarray(preds.probs, dtype=np.float64)), preds.paths, source)
    warning = one_class_warning([Sample(p, int(y)) for p, y in zip(preds.paths, preds.labels)], folder)
    if warning:
        log.warning(warning)
    metrics = binary_metrics(preds.labels, preds.probs, threshold=threshold, seed=seed).replace(
        folder=str(folder), n_skipped=len(preds.skipped), reencode=reencode,
        amp=AmpChoice(*resolve_amp(device, amp)), warnings=[warning] if warning else [])
    return metrics, preds


def write_evaluation_manifest(detector: Detector, *, out: str | Path, ckpt: str | Path, arguments: dict[str, Any],
                              reencode: str | None = None) -> None:
    write_manifest(out, command="evaluate", arguments=arguments, checkpoint_sha256=sha256_file(ckpt),
                   detector=detector.config(),
                   preprocessing=describe_preprocessing(detector.image_size, detector.mean, detector.std,
                                                        reencode=reencode))


def write_evaluation_run(detector: Detector, *, ckpt: str | Path, data: str | Path, out: str | Path,
                         arguments: dict[str, Any], overwrite: bool = False, split: str = "val", batch_size: int = 64,
                         device: str | torch.device = "cpu", workers: int = 0, threshold: float = 0.5,
                         reencode: str | None = None, amp: str = "off") -> EvaluationMetrics:
    """The ``evaluate`` job for one detector and one folder (options as in ``evaluate_folder``): metrics.json,
    predictions.csv, skipped.csv, manifest and record in the run folder ``out``."""
    with run_folder(out, command="evaluate", overwrite=overwrite, inputs=[ckpt, data]) as run:
        metrics, preds = evaluate_folder(detector, data, split=split, batch_size=batch_size, device=device,
                                         workers=workers, threshold=threshold, reencode=reencode, amp=amp,
                                         source=f"checkpoint {ckpt}")
        write_evaluation(metrics, preds, out=run.path, threshold=threshold)
        write_evaluation_manifest(detector, out=run.path, ckpt=ckpt, arguments=arguments, reencode=reencode)
    return metrics


def write_evaluation(metrics: EvaluationMetrics, preds: Predictions, *, out: str | Path,
                     threshold: float = 0.5) -> None:
    """metrics.json, predictions.csv (path, label, prob_fake, pred) and skipped.csv into folder ``out``."""
    out = Path(out)
    write_json(out / "metrics.json", metrics.to_json())
    write_csv(out / "predictions.csv", ("path", "label", "prob_fake", "pred"), preds.rows(threshold))
    write_skipped(out, preds.skipped)


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
    cells: dict[tuple[int, int], tuple[EvaluationMetrics, Predictions]]


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
                 data_names: list[str] | None = None, arch: str | None = None, fake_index: int = 1, split: str = "val",
                 batch_size: int = 64, device: str | torch.device = "cpu", workers: int = 0,
                 threshold: float = 0.5, reencode: str | None = None, amp: str = "off") -> CrossDomain:
    """``evaluate_folder`` for each (checkpoint, data) pair; every checkpoint is loaded once."""
    rows, cols = check_cross_domain(ckpts, datas, ckpt_names=ckpt_names, data_names=data_names, split=split)
    cells = {}
    for i, ckpt in enumerate(ckpts):
        detector = load_detector(ckpt, arch=arch, fake_index=fake_index)
        for j, data in enumerate(datas):
            cells[i, j] = evaluate_folder(detector, data, split=split, batch_size=batch_size, device=device,
                                          workers=workers, threshold=threshold, reencode=reencode, amp=amp,
                                          source=f"checkpoint {ckpt}")
            log.info("%s on %s: accuracy %.4f", rows[i], cols[j], cells[i, j][0].accuracy)
    return CrossDomain(rows, cols, [str(c) for c in ckpts], [str(d) for d in datas], cells)
