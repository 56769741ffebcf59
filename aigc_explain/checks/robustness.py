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

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
METRIC_COLUMNS = ("accuracy", "accuracy_lo", "accuracy_hi", "real_acc", "fake_acc", "average_precision", "roc_auc",
                  "n_real", "n_fake", "n_skipped")
CAM_COLUMNS = ("cam_n", "cam_pearson", "cam_pearson_lo", "cam_pearson_hi", "cam_spearman", "cam_spearman_lo",
               "cam_spearman_hi", "corner_share", "corner_share_delta", "corner_share_delta_lo", "corner_share_delta_hi")
MATRIX_METRICS = ("accuracy", "average_precision", "real_acc", "fake_acc", "roc_auc")


@dataclass
class Sweep:
    rows: list[dict[str, Any]]  # flat, one per condition, "clean" first
    metrics: list[dict[str, Any]]  # binary_metrics of each condition, same order
    predictions: list[tuple[str, Predictions]]
    cam: dict[str, Any] | None  # method, target, layer, map_size when CAMs were compared


def metric_fields(metrics: dict[str, Any]) -> dict[str, Any]:
    """The flat table fields of one ``binary_metrics`` result (accuracy CI as _lo/_hi)."""
    lo, hi = metrics["ci95"]["accuracy"]
    return {"accuracy": metrics["accuracy"], "accuracy_lo": lo, "accuracy_hi": hi,
            **{k: metrics.get(k) for k in METRIC_COLUMNS[3:]}}


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


def cam_row(clean: CamMeasures, other: CamMeasures, *, seed: int = 0) -> dict[str, Any]:
    """How far ``other``'s CAMs moved from ``clean``'s, over the images both have (matched by path)."""
    where = {p: i for i, p in enumerate(other.paths)}
    ci = np.array([i for i, p in enumerate(clean.paths) if p in where], dtype=np.int64)
    oi = np.array([where[clean.paths[i]] for i in ci], dtype=np.int64)
    pearson, spearman = map_correlations(clean.raw[ci], other.raw[oi])
    out: dict[str, Any] = {"cam_n": len(ci)}
    for key, values in (("cam_pearson", pearson), ("cam_spearman", spearman),
                        ("corner_share_delta", other.corner_share[oi] - clean.corner_share[ci])):
        s = summarize(values, seed=seed)
        out[key], out[f"{key}_lo"], out[f"{key}_hi"] = s["mean"], s["ci95"][0], s["ci95"][1]
    shares = other.corner_share[oi]
    out["corner_share"] = to_json_float(np.nanmean(shares)) if np.isfinite(shares).any() else None
    return out


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
        row = {"perturbation": name, "kind": kind, "value": value, **metric_fields(metrics)}
        if cam is not None:
            measured = cam_measures(detector, samples, cam, perturbation=p, device=device, workers=workers)
            clean_cam = measured if clean_cam is None else clean_cam
            row.update(cam_row(clean_cam, measured))
            if cam_info is None:
                cam_info = _cam_info(cam, measured)
        log.info("%s: accuracy %.4f, AP %s", name, row["accuracy"], row["average_precision"])
        rows.append(row)
        all_metrics.append(metrics)
        preds.append((name, pr))
    return Sweep(rows, all_metrics, preds, cam_info)


def _cam_info(cam: CamSettings, measured: CamMeasures) -> dict[str, Any]:
    map_size = tuple(int(v) for v in measured.raw.shape[1:])
    warning = resolution_warning(map_size, cam.corner_frac, measured.layer)
    if warning:
        log.warning(warning)
    return {"method": cam.method, "target": cam.target, "layer": measured.layer, "map_size": list(map_size),
            "warnings": [warning] if warning else []}


# ------------------------------------------------------------------------------------------ tables
def _with_ci(row: dict[str, Any], key: str) -> str:
    return f"{format_cell(row.get(key))} [{format_cell(row.get(key + '_lo'))}, {format_cell(row.get(key + '_hi'))}]"


def robustness_markdown(rows: list[dict[str, Any]]) -> str:
    """The sweep as a readable table: values with their 95% CIs; every number is also in the csv/json."""
    header = ["perturbation", "accuracy [95% CI]", "real_acc", "fake_acc", "AP", "ROC AUC"]
    cam = "cam_pearson" in rows[0]
    if cam:
        header += ["CAM Pearson r [CI]", "CAM Spearman ρ [CI]", "corner share", "Δ corner share [CI]"]
    table = []
    for r in rows:
        line = [r["perturbation"], _with_ci(r, "accuracy"), r["real_acc"], r["fake_acc"], r["average_precision"],
                r["roc_auc"]]
        if cam:
            line += [_with_ci(r, "cam_pearson"), _with_ci(r, "cam_spearman"), r["corner_share"],
                     _with_ci(r, "corner_share_delta")]
        table.append(line)
    return markdown_table(header, table) + "\n"


def write_robustness(out: str | Path, result: Sweep, *, threshold: float = 0.5, meta: dict | None = None) -> None:
    """robustness.{csv,md,json,png} and robustness_predictions.csv (one row per condition and image)."""
    out = Path(out)
    columns = ["perturbation", "kind", "value", *METRIC_COLUMNS, *(CAM_COLUMNS if result.cam else ())]
    table = [[row.get(c) for c in columns] for row in result.rows]
    write_csv(out / "robustness.csv", columns, table)
    write_json(out / "robustness.json", {"schema_version": SCHEMA_VERSION, **(meta or {}), "threshold": threshold,
                                         "cam": result.cam, "rows": result.rows,
                                         "metrics": {r["perturbation"]: m for r, m in zip(result.rows, result.metrics)}})
    atomic_write_bytes(out / "robustness.md", robustness_markdown(result.rows).encode())
    write_csv(out / "robustness_predictions.csv", ("perturbation", "path", "label", "prob_fake", "pred"),
              [(name, *r) for name, pr in result.predictions for r in pr.rows(threshold)])
    save_figure(robustness_figure(result.rows), out / "robustness.png")


def cross_domain_rows(result: CrossDomain) -> list[dict[str, Any]]:
    return [{"checkpoint": result.checkpoints[i], "data": result.data[j], **metric_fields(metrics)}
            for (i, j), (metrics, _) in sorted(result.cells.items())]


def cross_domain_matrix(result: CrossDomain, metric: str) -> list[list[float | None]]:
    return [[result.cells[i, j][0][metric] for j in range(len(result.data))] for i in range(len(result.checkpoints))]


def write_cross_domain(out: str | Path, result: CrossDomain, *, meta: dict | None = None) -> None:
    """cross_domain.{csv,md,json,png}: one row per (checkpoint, data) cell and one matrix per metric."""
    out = Path(out)
    rows = cross_domain_rows(result)
    columns = ["checkpoint", "data", *METRIC_COLUMNS]
    write_csv(out / "cross_domain.csv", columns, [[r.get(c) for c in columns] for r in rows])
    matrices = {m: cross_domain_matrix(result, m) for m in MATRIX_METRICS}
    write_json(out / "cross_domain.json", {
        "schema_version": SCHEMA_VERSION, **(meta or {}), "checkpoints": result.checkpoints, "data": result.data,
        "checkpoint_paths": result.checkpoint_paths, "data_paths": result.data_paths,
        "cell_folders": [[f"{r}__{d}" for d in result.data] for r in result.checkpoints],
        "matrix": matrices, "cells": rows})
    text = ["Rows: checkpoints (train domain); columns: test data. Cell metrics in `<row>__<column>/`.\n"]
    for metric in MATRIX_METRICS:
        text += [f"\n### {metric}\n\n", markdown_table(["checkpoint \\ data", *result.data],
                                                       [[r, *vals] for r, vals in zip(result.checkpoints, matrices[metric])]),
                 "\n"]
    atomic_write_bytes(out / "cross_domain.md", "".join(text).encode())
    fig = cross_domain_figure(matrices["accuracy"], result.checkpoints, result.data, ap=matrices["average_precision"])
    save_figure(fig, out / "cross_domain.png")


def write_robustness_run(detector: Detector, ckpt: str | Path, data: str | Path, out: str | Path,
                         perturbations: list[Perturbation], *, arguments: dict[str, Any], overwrite: bool = False,
                         cam: CamSettings | None = None, threshold: float = 0.5, split: str = "val",
                         **options: Any) -> dict[str, Any]:
    """``evaluate --perturb``: the sweep's files plus the clean evaluation's, in the run folder ``out``."""
    with run_folder(out, command="evaluate", overwrite=overwrite, inputs=[ckpt, data]) as run:
        result = sweep(detector, data, perturbations, cam=cam, threshold=threshold, split=split, **options)
        metrics, preds = result.metrics[0], result.predictions[0][1]
        write_robustness(run.path, result, threshold=threshold,
                         meta={"checkpoint": str(ckpt), "data": str(data), "split": split,
                               "perturbations": [describe(None)] + [describe(p) for p in perturbations]})
        write_evaluation(run.path, metrics, preds, threshold=threshold)
        write_evaluation_manifest(run.path, detector, ckpt, arguments, reencode=options.get("reencode"))
    return metrics


def write_cross_domain_run(ckpts: list[str], datas: list[str], out: str | Path, *, arguments: dict[str, Any],
                           overwrite: bool = False, threshold: float = 0.5, split: str = "val",
                           **options: Any) -> CrossDomain:
    """``evaluate`` with several checkpoints or folders: every cell's evaluation and the matrices."""
    check_cross_domain(ckpts, datas, ckpt_names=options.get("ckpt_names"), data_names=options.get("data_names"),
                       split=split)
    with run_folder(out, command="evaluate", overwrite=overwrite, inputs=[*ckpts, *datas]) as run:
        result = cross_domain(ckpts, datas, split=split, threshold=threshold, **options)
        for (i, j), (metrics, preds) in result.cells.items():
            cell = run.path / f"{result.checkpoints[i]}__{result.data[j]}"
            cell.mkdir()
            write_evaluation(cell, metrics, preds, threshold=threshold)
        write_cross_domain(run.path, result, meta={"split": split, "threshold": threshold})
        write_manifest(run.path, command="evaluate", arguments=arguments,
                       checkpoint_sha256={n: sha256_file(p) for n, p in zip(result.checkpoints, ckpts)})
    return result
