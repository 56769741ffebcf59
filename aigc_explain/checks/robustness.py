"""Robustness sweeps and cross-domain tables: the runs, their tables (csv, markdown, json) and figures.

``sweep`` evaluates one detector on one folder clean and under each ``Perturbation`` (accuracy,
real/fake accuracy, AP — what CNNDetection and UniversalFakeDetect report); with CAM settings it also
measures how far the CAMs move: per-image Pearson/Spearman correlation of the clean and perturbed raw
maps (layer resolution) and the paired change of corner_share, each with a bootstrap CI.
The tables and figures are pure numpy/matplotlib; torch is imported only inside the runs.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import torch

from aigc_explain.analysis.similarity import map_correlations
from aigc_explain.analysis.stats import summarize, to_json_float
from aigc_explain.core.evaluation import (CrossDomain, check_cross_domain, cross_domain, evaluate_folder,
                                          write_evaluation, write_evaluation_manifest)
from aigc_explain.core.folders import Sample, find_samples, split_folder
from aigc_explain.core.inference import Predictions
from aigc_explain.core.models import Detector
from aigc_explain.core.perturb import Perturbation, describe
from aigc_explain.explain.folder import CamSettings, explain_samples
from aigc_explain.explain.maps import resolution_warning
from aigc_explain.reporting.figures import format_cell, markdown_table, save_figure
from aigc_explain.reporting.trust import cross_domain_figure, robustness_figure
from aigc_explain.runs.files import atomic_write_bytes, sha256_file, write_csv, write_json, write_manifest
from aigc_explain.runs.folders import run_folder
from aigc_explain.runs.robustness_summary import (ROBUSTNESS_SCHEMA_VERSION, CamInfo, CamShift, CrossDomainCell,
                                                  CrossDomainSummary, MetricColumns, PerturbationInfo, RobustnessRow,
                                                  RobustnessSummary)
from aigc_explain.runs.summaries import EvaluationMetrics

log = logging.getLogger(__name__)

METRIC_COLUMNS = ("accuracy", "accuracy_lo", "accuracy_hi", "real_acc", "fake_acc", "average_precision", "roc_auc",
                  "n_real", "n_fake", "n_skipped")
CAM_COLUMNS = ("cam_n", "cam_pearson", "cam_pearson_lo", "cam_pearson_hi", "cam_spearman", "cam_spearman_lo",
               "cam_spearman_hi", "corner_share", "corner_share_delta", "corner_share_delta_lo", "corner_share_delta_hi")
MATRIX_METRICS = ("accuracy", "average_precision", "real_acc", "fake_acc", "roc_auc")


@dataclass
class Sweep:
    rows: list[RobustnessRow]  # one per condition, "clean" first
    metrics: list[EvaluationMetrics]  # of each condition, same order
    predictions: list[tuple[str, Predictions]]
    cam: CamInfo | None  # method, target, layer, map_size when CAMs were compared


def metric_fields(metrics: EvaluationMetrics) -> MetricColumns:
    """The table fields of one evaluation's metrics (accuracy CI as _lo/_hi)."""
    lo, hi = metrics.ci95.accuracy
    return MetricColumns(accuracy=metrics.accuracy, accuracy_lo=lo, accuracy_hi=hi,
                         **{k: getattr(metrics, k) for k in METRIC_COLUMNS[3:]})


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
    result = explain_samples(detector, samples, settings, perturbation=perturbation, device=device, workers=workers)
    return CamMeasures(result.paths, result.raw_maps, result.masses["corner_share"], result.layer_name)


def cam_row(clean: CamMeasures, other: CamMeasures, *, seed: int = 0) -> CamShift:
    """How far ``other``'s CAMs moved from ``clean``'s, over the images both have (matched by path)."""
    where = {p: i for i, p in enumerate(other.paths)}
    ci = np.array([i for i, p in enumerate(clean.paths) if p in where], dtype=np.int64)
    oi = np.array([where[clean.paths[i]] for i in ci], dtype=np.int64)
    pearson, spearman = map_correlations(clean.raw[ci], other.raw[oi])
    out: dict[str, Any] = {}
    for key, values in (("cam_pearson", pearson), ("cam_spearman", spearman),
                        ("corner_share_delta", other.corner_share[oi] - clean.corner_share[ci])):
        s = summarize(values, seed=seed)
        out[key], out[f"{key}_lo"], out[f"{key}_hi"] = s.mean, s.lo, s.hi
    shares = other.corner_share[oi]
    return CamShift(cam_n=len(ci), **out,
                    corner_share=to_json_float(np.nanmean(shares)) if np.isfinite(shares).any() else None)


def sweep(detector: Detector, data: str | Path, perturbations: list[Perturbation], *, split: str = "val",
          batch_size: int = 64, device: Any = "cpu", workers: int = 0, threshold: float = 0.5,
          cam: CamSettings | None = None, reencode: str | None = None, amp: str = "off") -> Sweep:
    """Metrics clean and under each perturbation; with ``cam``, also how far the CAMs move. ``reencode`` comes
    before every perturbation."""
    if cam is not None and reencode is not None:
        cam = dataclasses.replace(cam, reencode=reencode)
    samples = find_samples(split_folder(data, split), require_labels=True) if cam is not None else []
    rows, all_metrics, preds, clean_cam, cam_info = [], [], [], None, None
    for p in [None, *perturbations]:
        name, kind, value = ("clean", "clean", None) if p is None else (p.name, p.kind, p.value)
        metrics, pr = evaluate_folder(detector, data, split=split, batch_size=batch_size, device=device,
                                      workers=workers, threshold=threshold, perturbation=p, reencode=reencode,
                                      amp=amp)
        shift = None
        if cam is not None:
            measured = cam_measures(detector, samples, cam, perturbation=p, device=device, workers=workers)
            clean_cam = measured if clean_cam is None else clean_cam
            shift = cam_row(clean_cam, measured)
            if cam_info is None:
                cam_info = _cam_info(cam, measured)
        row = RobustnessRow(perturbation=name, kind=kind, value=value, metrics=metric_fields(metrics), cam=shift)
        log.info("%s: accuracy %.4f, AP %s", name, row.metrics.accuracy, row.metrics.average_precision)
        rows.append(row)
        all_metrics.append(metrics)
        preds.append((name, pr))
    return Sweep(rows, all_metrics, preds, cam_info)


def _cam_info(cam: CamSettings, measured: CamMeasures) -> CamInfo:
    map_size = tuple(int(v) for v in measured.raw.shape[1:])
    warning = resolution_warning(map_size, cam.corner_frac, measured.layer)
    if warning:
        log.warning(warning)
    return CamInfo(method=cam.method, target=cam.target, layer=measured.layer, map_size=map_size,
                   warnings=[warning] if warning else [])


# ------------------------------------------------------------------------------------------ tables
def _with_ci(part: MetricColumns | CamShift, key: str) -> str:
    values = (getattr(part, key), getattr(part, f"{key}_lo"), getattr(part, f"{key}_hi"))
    return "{} [{}, {}]".format(*(format_cell(v) for v in values))


def robustness_markdown(rows: list[RobustnessRow]) -> str:
    """The sweep as a readable table: values with their 95% CIs; every number is also in the csv/json."""
    header = ["perturbation", "accuracy [95% CI]", "real_acc", "fake_acc", "AP", "ROC AUC"]
    cam = rows[0].cam is not None
    if cam:
        header += ["CAM Pearson r [CI]", "CAM Spearman ρ [CI]", "corner share", "Δ corner share [CI]"]
    table = []
    for r in rows:
        m = r.metrics
        line = [r.perturbation, _with_ci(m, "accuracy"), m.real_acc, m.fake_acc, m.average_precision, m.roc_auc]
        if cam:
            line += [_with_ci(r.cam, "cam_pearson"), _with_ci(r.cam, "cam_spearman"), r.cam.corner_share,
                     _with_ci(r.cam, "corner_share_delta")]
        table.append(line)
    return markdown_table(header, table) + "\n"


def write_robustness(result: Sweep, *, out: str | Path, threshold: float = 0.5,
                     meta: dict[str, Any] | None = None) -> RobustnessSummary:
    """robustness.{csv,md,json,png} and robustness_predictions.csv (one row per condition and image); ``meta``
    (checkpoint, data, split, perturbations) heads robustness.json."""
    out = Path(out)
    columns = ["perturbation", "kind", "value", *METRIC_COLUMNS, *(CAM_COLUMNS if result.cam else ())]
    table = [[row.column(c) for c in columns] for row in result.rows]
    write_csv(out / "robustness.csv", columns, table)
    summary = RobustnessSummary(schema_version=ROBUSTNESS_SCHEMA_VERSION, **(meta or {}), threshold=threshold,
                                cam=result.cam, rows=list(result.rows),
                                metrics={r.perturbation: m for r, m in zip(result.rows, result.metrics)})
    write_json(out / "robustness.json", summary.to_json())
    atomic_write_bytes(out / "robustness.md", robustness_markdown(result.rows).encode())
    write_csv(out / "robustness_predictions.csv", ("perturbation", "path", "label", "prob_fake", "pred"),
              [(name, *r) for name, pr in result.predictions for r in pr.rows(threshold)])
    save_figure(robustness_figure(result.rows), out / "robustness.png")
    return summary


def cross_domain_rows(result: CrossDomain) -> list[CrossDomainCell]:
    """One row per (checkpoint, data) cell, checkpoint by checkpoint."""
    return [CrossDomainCell(checkpoint=result.checkpoints[i], data=result.data[j], metrics=metric_fields(metrics))
            for (i, j), (metrics, _) in sorted(result.cells.items())]


def cross_domain_matrix(result: CrossDomain, metric: str) -> list[list[float | None]]:
    return [[getattr(result.cells[i, j][0], metric) for j in range(len(result.data))] for i in range(len(result.checkpoints))]


def write_cross_domain(result: CrossDomain, *, out: str | Path,
                       meta: dict[str, Any] | None = None) -> CrossDomainSummary:
    """cross_domain.{csv,md,json,png}: one row per (checkpoint, data) cell and one matrix per metric; ``meta``
    (split, threshold) heads cross_domain.json."""
    out = Path(out)
    rows = cross_domain_rows(result)
    columns = ["checkpoint", "data", *METRIC_COLUMNS]
    write_csv(out / "cross_domain.csv", columns, [[r.column(c) for c in columns] for r in rows])
    matrices = {m: cross_domain_matrix(result, m) for m in MATRIX_METRICS}
    summary = CrossDomainSummary(
        schema_version=ROBUSTNESS_SCHEMA_VERSION, **(meta or {}), checkpoints=list(result.checkpoints),
        data=list(result.data), checkpoint_paths=list(result.checkpoint_paths), data_paths=list(result.data_paths),
        cell_folders=[[f"{r}__{d}" for d in result.data] for r in result.checkpoints], matrix=matrices, cells=rows)
    write_json(out / "cross_domain.json", summary.to_json())
    text = ["Rows: checkpoints (train domain); columns: test data. Cell metrics in `<row>__<column>/`.\n"]
    for metric in MATRIX_METRICS:
        text += [f"\n### {metric}\n\n", markdown_table(["checkpoint \\ data", *result.data],
                                                       [[r, *vals] for r, vals in zip(result.checkpoints, matrices[metric])]),
                 "\n"]
    atomic_write_bytes(out / "cross_domain.md", "".join(text).encode())
    fig = cross_domain_figure(matrices["accuracy"], result.checkpoints, result.data, ap=matrices["average_precision"])
    save_figure(fig, out / "cross_domain.png")
    return summary


def write_robustness_run(detector: Detector, *, ckpt: str | Path, data: str | Path, out: str | Path,
                         perturbations: list[Perturbation], arguments: dict[str, Any], overwrite: bool = False,
                         cam: CamSettings | None = None, threshold: float = 0.5, split: str = "val",
                         batch_size: int = 64, device: Any = "cpu", workers: int = 0, reencode: str | None = None,
                         amp: str = "off") -> EvaluationMetrics:
    """``evaluate --perturb``: the sweep's files plus the clean evaluation's, in the run folder ``out``."""
    with run_folder(out, command="evaluate", overwrite=overwrite, inputs=[ckpt, data]) as run:
        result = sweep(detector, data, perturbations, cam=cam, threshold=threshold, split=split, batch_size=batch_size,
                       device=device, workers=workers, reencode=reencode, amp=amp)
        metrics, preds = result.metrics[0], result.predictions[0][1]
        write_robustness(result, out=run.path, threshold=threshold,
                         meta={"checkpoint": str(ckpt), "data": str(data), "split": split,
                               "perturbations": [PerturbationInfo(**describe(p)) for p in [None, *perturbations]]})
        write_evaluation(metrics, preds, out=run.path, threshold=threshold)
        write_evaluation_manifest(detector, out=run.path, ckpt=ckpt, arguments=arguments, reencode=reencode)
    return metrics


def write_cross_domain_run(*, ckpts: list[str], datas: list[str], out: str | Path, arguments: dict[str, Any],
                           overwrite: bool = False, ckpt_names: list[str] | None = None,
                           data_names: list[str] | None = None, arch: str | None = None, fake_index: int = 1,
                           threshold: float = 0.5, split: str = "val", batch_size: int = 64, device: Any = "cpu",
                           workers: int = 0, reencode: str | None = None, amp: str = "off") -> CrossDomain:
    """``evaluate`` with several checkpoints or folders: every cell's evaluation and the matrices."""
    check_cross_domain(ckpts, datas, ckpt_names=ckpt_names, data_names=data_names, split=split)
    with run_folder(out, command="evaluate", overwrite=overwrite, inputs=[*ckpts, *datas]) as run:
        result = cross_domain(ckpts, datas, ckpt_names=ckpt_names, data_names=data_names, arch=arch,
                              fake_index=fake_index, split=split, batch_size=batch_size, device=device,
                              workers=workers, threshold=threshold, reencode=reencode, amp=amp)
        for (i, j), (metrics, preds) in result.cells.items():
            cell = run.path / f"{result.checkpoints[i]}__{result.data[j]}"
            cell.mkdir()
            write_evaluation(metrics, preds, out=cell, threshold=threshold)
        write_cross_domain(result, out=run.path, meta={"split": split, "threshold": threshold})
        write_manifest(run.path, command="evaluate", arguments=arguments,
                       checkpoint_sha256={n: sha256_file(p) for n, p in zip(result.checkpoints, ckpts)})
    return result
