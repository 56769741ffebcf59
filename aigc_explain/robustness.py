"""Robustness sweeps and cross-domain tables: the runs, their tables (csv, markdown, json) and figures.

``sweep`` evaluates one detector on one folder clean and under each ``Perturbation`` (accuracy,
real/fake accuracy, AP — what CNNDetection and UniversalFakeDetect report); with CAM settings it also
measures how far the CAMs move: per-image Pearson/Spearman correlation of the clean and perturbed raw
maps (layer resolution) and the paired change of corner_share, each with a bootstrap CI.
The tables and figures are pure numpy/matplotlib; torch is imported only inside the runs.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .figures import pyplot, save_figure
from .runs import atomic_write_bytes, write_csv, write_json
from .stats import summarize, to_json_float

if TYPE_CHECKING:
    from .evaluation import CamMeasures, CrossDomain, Predictions
    from .explain import CamSettings
    from .models import Detector
    from .perturb import Perturbation

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
METRIC_COLUMNS = ("accuracy", "accuracy_lo", "accuracy_hi", "real_acc", "fake_acc", "average_precision", "roc_auc",
                  "n_real", "n_fake", "n_skipped")
CAM_COLUMNS = ("cam_n", "cam_pearson", "cam_pearson_lo", "cam_pearson_hi", "cam_spearman", "cam_spearman_lo",
               "cam_spearman_hi", "corner_share", "corner_share_delta", "corner_share_delta_lo", "corner_share_delta_hi")
MATRIX_METRICS = ("accuracy", "average_precision", "real_acc", "fake_acc", "roc_auc")
_AXIS = {"jpeg": "JPEG quality", "blur": "Gaussian blur sigma (px)", "resize": "downscale factor"}
_WEAKER_IS_LARGER = {"jpeg", "resize"}  # a larger quality / factor is a weaker perturbation


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


def map_correlations(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-map Pearson and Spearman correlation of two (N, h, w) stacks; NaN where a map is constant."""
    from scipy.stats import ConstantInputWarning, pearsonr, rankdata

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(f"maps must be two (N, h, w) stacks of one shape; got {a.shape} and {b.shape}")
    x, y = a.reshape(len(a), -1), b.reshape(len(b), -1)
    if x.shape[1] < 2:
        return np.full(len(x), np.nan), np.full(len(x), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConstantInputWarning)  # constant maps give NaN, dropped by summarize
        pearson = pearsonr(x, y, axis=1).statistic
        spearman = pearsonr(rankdata(x, axis=1), rankdata(y, axis=1), axis=1).statistic
    return np.asarray(pearson, dtype=np.float64), np.asarray(spearman, dtype=np.float64)


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
          cam: CamSettings | None = None) -> Sweep:
    """Metrics clean and under each perturbation; with ``cam``, also how far the CAMs move."""
    from .data import find_samples, split_folder
    from .evaluation import cam_measures, evaluate_folder

    samples = find_samples(split_folder(data, split), require_labels=True) if cam is not None else []
    rows, all_metrics, preds, clean_cam, cam_info = [], [], [], None, None
    for p in [None, *perturbations]:
        name, kind, value = ("clean", "clean", None) if p is None else (p.name, p.kind, p.value)
        metrics, pr = evaluate_folder(detector, data, split=split, batch_size=batch_size, device=device,
                                      workers=workers, threshold=threshold, perturbation=p)
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
    from .explain import resolution_warning

    map_size = tuple(int(v) for v in measured.raw.shape[1:])
    warning = resolution_warning(map_size, cam.corner_frac, measured.layer)
    if warning:
        log.warning(warning)
    return {"method": cam.method, "target": cam.target, "layer": measured.layer, "map_size": list(map_size),
            "warnings": [warning] if warning else []}


# ------------------------------------------------------------------------------------------ tables
def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _with_ci(row: dict[str, Any], key: str) -> str:
    return f"{_fmt(row.get(key))} [{_fmt(row.get(key + '_lo'))}, {_fmt(row.get(key + '_hi'))}]"


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
    return markdown_table(header, table)


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
                                                       [[r, *vals] for r, vals in zip(result.checkpoints, matrices[metric])])]
    atomic_write_bytes(out / "cross_domain.md", "".join(text).encode())
    fig = cross_domain_figure(matrices["accuracy"], result.checkpoints, result.data, ap=matrices["average_precision"])
    save_figure(fig, out / "cross_domain.png")


# ----------------------------------------------------------------------------------------- figures
def _values(rows: list[dict], key: str) -> np.ndarray:
    return np.array([np.nan if r.get(key) is None else float(r[key]) for r in rows])


def _errorbar(ax, x, rows: list[dict], key: str, label: str, fmt: str) -> None:
    y, lo, hi = _values(rows, key), _values(rows, f"{key}_lo"), _values(rows, f"{key}_hi")
    ax.errorbar(x, y, yerr=np.abs(np.vstack([y - lo, hi - y])), fmt=fmt, capsize=3, label=label)


def _by_strength(rows: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """Clean first, then this kind's settings from weakest to strongest."""
    part = sorted((r for r in rows if r["kind"] == kind), key=lambda r: r["value"],
                  reverse=kind in _WEAKER_IS_LARGER)
    return [r for r in rows if r["kind"] == "clean"] + part


def robustness_figure(rows: list[dict[str, Any]]):
    """One column per kind, x = clean then weakest to strongest setting: accuracy (with CI), AP and
    real/fake accuracy; rows with CAM columns add a second row: map correlations and Δ corner share."""
    plt = pyplot()
    kinds = list(dict.fromkeys(r["kind"] for r in rows if r["kind"] != "clean")) or ["clean"]
    has_cam = "cam_pearson" in rows[0]
    fig, axes = plt.subplots(2 if has_cam else 1, len(kinds), figsize=(4.2 * len(kinds), 3.6 * (1 + has_cam)),
                             squeeze=False)
    for col, kind in enumerate(kinds):
        part = _by_strength(rows, kind) if kind != "clean" else rows[:1]
        x = np.arange(len(part))
        ax = axes[0, col]
        _errorbar(ax, x, part, "accuracy", "accuracy", "o-")
        for key, style in (("average_precision", "s-"), ("real_acc", "^:"), ("fake_acc", "v:")):
            ax.plot(x, _values(part, key), style, label=key)
        ax.set(ylim=(0, 1.02), title=kind, ylabel="metric")
        if has_cam:
            cax = axes[1, col]
            _errorbar(cax, x, part, "cam_pearson", "CAM Pearson r", "o-")
            _errorbar(cax, x, part, "cam_spearman", "CAM Spearman ρ", "s-")
            _errorbar(cax, x, part, "corner_share_delta", "Δ corner share", "^-")
            cax.axhline(0, color="grey", linewidth=1)
            cax.set(ylim=(-1.02, 1.02), ylabel="clean vs perturbed CAM")
        labels = ["clean"] + [f"{r['value']:g}" for r in part[1:]]
        for a in axes[:, col]:
            a.set_xticks(x, labels)
            a.set_xlabel(_AXIS.get(kind, ""))
    for a in axes[:, 0]:
        a.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


def cross_domain_figure(accuracy: list[list[float | None]], rows: list[str], cols: list[str], *,
                        ap: list[list[float | None]] | None = None, title: str = "accuracy (train × test domain)"):
    """Heatmap of accuracy, rows = checkpoints, columns = test data, each cell annotated (and with AP)."""
    plt = pyplot()
    acc = np.array([[np.nan if v is None else v for v in row] for row in accuracy], dtype=np.float64)
    fig, ax = plt.subplots(figsize=(1.8 + 1.7 * len(cols), 1.2 + 1.0 * len(rows)))
    im = ax.imshow(acc, cmap="RdYlGn", vmin=0.0, vmax=1.0)
    for i in range(acc.shape[0]):
        for j in range(acc.shape[1]):
            text = _fmt(accuracy[i][j])
            if ap is not None:
                text += f"\nAP {_fmt(ap[i][j])}"
            ax.text(j, i, text, ha="center", va="center", fontsize=9)
    ax.set_xticks(range(len(cols)), cols, rotation=20, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    ax.set(xlabel="test data", ylabel="checkpoint (train domain)", title=title)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="accuracy")
    fig.tight_layout()
    return fig
