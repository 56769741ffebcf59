"""Reports from run folders: the comparison of two CAM runs (``write_comparison``) and the numbered report
panels with ``index.md`` and ``results.json`` (``build_report``; what each panel shows is listed in
``aigc-explain report --help``). A CAM or evaluation run belongs to a training run when its checkpoint lies
in that folder or has the hash of its best_model.pth or final_model.pth."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from aigc_explain.analysis.comparison import common_grid, compare_runs, headline, map_correlation, panel_data
from aigc_explain.analysis.metrics import binary_metrics, confusion
from aigc_explain.reporting.audit import model_vs_data_figure
from aigc_explain.reporting.figures import heatmap_figure, markdown_table, save_figure, table_figure
from aigc_explain.reporting.panels import comparison_figure, confusion_figure, curves_figure, pr_figure, roc_figure
from aigc_explain.runs.files import atomic_write_bytes, write_json, write_manifest, write_text
from aigc_explain.runs.folders import run_folder
from aigc_explain.runs.reader import CamRun, checkpoint_owners, slug

log = logging.getLogger(__name__)

RESULT_COLUMNS = ("run", "model", "setting", "val acc (best epoch)", "predictions from", "n", "accuracy",
                  "real acc", "fake acc", "AP")


def setting_name(arguments: dict[str, Any]) -> str:
    """The report's setting words from a training manifest's arguments, e.g. "augment=report, focal loss"."""
    if not arguments:
        return "n/a"
    augment = arguments.get("augment") or "none"
    parts = ["no augmentation" if augment == "none" else f"augment={augment}"]
    if arguments.get("loss"):
        parts.append(f"{arguments['loss']} loss")
    if arguments.get("experiment"):
        parts.append(f"experiment {arguments['experiment']}")
    return ", ".join(parts)


def link_runs(runs: dict[str, Any], owners: dict[str, str]) -> dict[str, list[str]]:
    """Training run label -> the runs that hold predictions of its checkpoints (``owners``, from
    ``runs.reader.checkpoint_owners``): its evaluation runs, or, when it has none, its CAM runs."""
    found = {label: {"evaluation": [], "cam": []} for label, r in runs.items() if r.kind == "training"}
    for label, owner in owners.items():
        found[owner][runs[label].kind].append(label)
    return {label: kinds["evaluation"] or kinds["cam"] for label, kinds in found.items()}


def prediction_metrics(r: Any) -> dict[str, Any] | None:
    """Accuracy, real/fake accuracy and AP of a run's labelled predictions, at its threshold; None without labels."""
    table = r.predictions
    known = table.labels >= 0
    if not known.any():
        return None
    threshold = float(r.metrics.get("threshold", 0.5)) if r.kind == "evaluation" else 0.5
    m = binary_metrics(table.labels[known], table.prob_fake[known], threshold=threshold, n_boot=100)
    return {"n": int(known.sum()), **{k: m[k] for k in ("accuracy", "real_acc", "fake_acc", "average_precision")}}


def _row(label: str, model: str, setting: str, val: tuple[float, int] | None, source: str | None,
         metrics: dict[str, Any] | None) -> dict[str, Any]:
    m = metrics or {}
    return {"run": label, "model": model, "setting": setting, "val_acc": None if val is None else val[0],
            "best_epoch": None if val is None else val[1], "predictions_from": source, "n": m.get("n"),
            "accuracy": m.get("accuracy"), "real_acc": m.get("real_acc"), "fake_acc": m.get("fake_acc"),
            "average_precision": m.get("average_precision")}


def _best_val(history: dict[str, np.ndarray]) -> tuple[float, int] | None:
    """The best validation accuracy and its epoch (the epoch best_model.pth was saved at)."""
    acc = history["val_acc"]
    if not np.isfinite(acc).any():
        return None
    best = int(np.nanargmax(acc))
    return float(acc[best]), int(history["epoch"][best])


def results_rows(runs: dict[str, Any], owners: dict[str, str]) -> list[dict[str, Any]]:
    """One row per training run and prediction source (``link_runs``); evaluation and CAM runs of no
    given training run get rows of their own (val accuracy n/a)."""
    links = link_runs(runs, owners)
    rows = []
    for label, r in runs.items():
        if r.kind != "training":
            continue
        val = _best_val(r.history)
        model, setting = str(r.arguments.get("model", "n/a")), setting_name(r.arguments)
        for source in links.get(label) or [None]:
            rows.append(_row(label, model, setting, val, source, source and prediction_metrics(runs[source])))
    for label, r in runs.items():
        if r.kind in ("evaluation", "cam") and label not in owners:
            arch = ((r.manifest or {}).get("detector") or {}).get("arch", "n/a")
            rows.append(_row(label, str(arch), "n/a", None, label, prediction_metrics(r)))
    return rows


def format_row(row: dict[str, Any]) -> list[str]:
    def num(v: Any) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    val = "n/a" if row["val_acc"] is None else f"{row['val_acc']:.3f} ({row['best_epoch']})"
    return [row["run"], row["model"], row["setting"], val, row["predictions_from"] or "n/a",
            "n/a" if row["n"] is None else str(row["n"])] + [num(row[k]) for k in
                                                              ("accuracy", "real_acc", "fake_acc", "average_precision")]


class _Index:
    """The report's figures in order, numbered, each with its one-line caption."""
    def __init__(self, out: Path) -> None:
        self.out, self.items = out, []

    def _name(self, stem: str) -> str:
        return f"{len(self.items) + 1:02d}_{slug(stem)}.png"

    def figure(self, stem: str, fig, caption: str) -> None:
        name = self._name(stem)
        save_figure(fig, self.out / name)
        self.items.append((name, caption))

    def copy(self, stem: str, source: Path, caption: str) -> None:
        name = self._name(stem)
        atomic_write_bytes(self.out / name, source.read_bytes())
        self.items.append((name, caption))


def _training_figures(index: _Index, runs: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    histories = {label: r.history for label, r in runs.items() if r.kind == "training"}
    if histories:
        index.figure("curves", curves_figure(histories), "Loss and accuracy per epoch from history.csv "
                     "(train dashed, validation solid).")
    index.figure("results_table", table_figure(RESULT_COLUMNS, [format_row(r) for r in rows]),
                 "Results: best validation accuracy (epoch) per setting; accuracy, real/fake accuracy and AP "
                 "on the predictions named (n/a: none given).")


def _prediction_figures(index: _Index, runs: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """Confusion, ROC and PR of the predictions the results table uses, named like its rows."""
    sources = {}
    for row in rows:
        source = row["predictions_from"]
        table = runs[source].predictions if source else None
        if table is not None and table.has_both_classes:
            known = table.labels >= 0
            name = source if row["run"] == source else f"{row['run']} ({source})"
            sources[name] = (table.labels[known], table.prob_fake[known], table.preds[known])
    if not sources:
        return
    index.figure("confusion", confusion_figure({k: confusion(y, d) for k, (y, _, d) in sources.items()}),
                 "Confusion matrices (rows: true class, columns: predicted; colour: share of the true class).")
    curves = {k: (y, p) for k, (y, p, _) in sources.items()}
    index.figure("roc", roc_figure(curves), "ROC curves with AUC; fake is the positive class.")
    index.figure("pr", pr_figure(curves), "Precision-recall curves with AP; dotted: the share of fakes (chance).")


def _cam_figures(index: _Index, label: str, r: Any) -> None:
    groups = [g for g in ("real", "fake") if r.group_mask(g).any() and r.mean_map(g) is not None] or ["all"]
    maps = {f"{g}\nn={int(r.group_mask(g).sum())}, empty={int(r.cam_empty[r.group_mask(g)].sum())}": r.mean_map(g)
            for g in groups if r.mean_map(g) is not None}
    if maps:
        title = f"{label}: mean {r.summary.get('method', 'CAM')} at {r.summary.get('layer', '?')}"
        index.figure(f"mean_cam_{label}", heatmap_figure(maps, regions=r.regions, title=title),
                     f"{label}: per-class mean CAM (unit mass per image, one colour scale), corner squares and "
                     "centre outlined.")
    if (r.path / "overlays.png").is_file():
        index.copy(f"overlays_{label}", r.path / "overlays.png",
                   f"{label}: overlays per class — most and least confident and misclassified images.")


def _audit_figures(index: _Index, label: str, r: Any) -> list[str]:
    for name, caption in (("cues", "file cues: each cue's own AUC and the top cues per class"),
                          ("pixel_evidence", "where the classes differ in high-frequency residual energy (fake − "
                                             "real, t-map), corners and centre outlined")):
        if (r.path / f"{name}.png").is_file():
            index.copy(f"{name}_{label}", r.path / f"{name}.png", f"{label} (data audit): {caption}.")
    return [f"{label} (data audit): {r.summary.get('verdict', '')}"]


def _model_vs_data(index: _Index, cams: dict[str, Any], audits: dict[str, Any]) -> list[str]:
    """Every CAM run beside the audit of the same images: its mean CAM of the fakes next to where the classes
    differ in residual energy (|fake − real|, either sign), with the two maps' spatial correlation."""
    lines = []
    for cam_label, cam in cams.items():
        images = (cam.summary.get("selection") or {}).get("images")
        fake_map = cam.mean_map("fake")
        for audit_label, audit in audits.items():
            split = audit.split_of(images) if images else None
            if split is None or fake_map is None:
                continue
            evidence = audit.maps(split).get("differ")
            if evidence is None:
                continue
            corr = map_correlation(fake_map, evidence)
            _, evidence, _ = common_grid(fake_map, evidence)
            fig = model_vs_data_figure(fake_map, evidence, cam.regions, correlation=corr,
                                       labels=(f"{cam_label}: mean CAM of the fakes", f"{audit_label}: |fake − real|"))
            r = "n/a" if corr["pearson"] is None else f"Pearson r = {corr['pearson']:.2f}"
            index.figure(f"model_vs_data_{cam_label}", fig, f"{cam_label} vs {audit_label}: does the detector look "
                         f"where the data differ? The fakes' mean CAM beside where the classes differ in "
                         f"residual energy, |fake − real| ({r}).")
            lines.append(f"{cam_label} vs the data ({audit_label}, {split}): spatial correlation of the fakes' mean "
                         f"CAM with |fake − real| residual energy: {r}")
    return lines


def _comparisons(index: _Index, cams: dict[str, Any], *, n_perm: int, n_boot: int) -> list[str]:
    labels = list(cams)
    lines = []
    for other in labels[1:]:
        stem = "comparison" if len(labels) == 2 else slug(f"comparison_{labels[0]}_vs_{other}")
        result = write_comparison(cams[labels[0]], cams[other], (labels[0], other), index.out, n_perm=n_perm,
                                  n_boot=n_boot, stem=stem)
        name = index._name(stem)
        (index.out / f"{stem}.png").rename(index.out / name)
        index.items.append((name, f"{labels[0]} vs {other}: mean CAMs on one scale, their difference "
                            f"({labels[0]} − {other}), corner share with 95% CIs and p-values ({stem}.json)."))
        lines += [headline(result, g) for g in result["classes"]] + result["warnings"]
    return lines


def index_markdown(title: str, runs: dict[str, Any], table: str, items: list[tuple[str, str]],
                   notes: list[str]) -> str:
    lines = [f"# {title}", "", "Runs:", ""]
    lines += [f"- **{label}** — {r.kind} run, `{r.path}`" for label, r in runs.items()]
    lines += ["", "## Results", "", table, ""]
    if notes:
        lines += ["## Findings", ""] + [f"- {n}" for n in notes] + [""]
    lines += ["## Figures", ""]
    for i, (name, caption) in enumerate(items, start=1):
        lines += [f"{i}. {caption}", "", f"   ![{name}]({name})", ""]
    return "\n".join(lines)


def build_report(runs: dict[str, Any], out: Path, *, n_perm: int = 10000, n_boot: int = 2000) -> dict[str, Any]:
    """Write every figure, ``results.json`` and ``index.md`` into the (empty) folder ``out``."""
    rows = results_rows(runs, checkpoint_owners(runs))
    index = _Index(out)
    _training_figures(index, runs, rows)
    _prediction_figures(index, runs, rows)
    cams = {label: r for label, r in runs.items() if r.kind == "cam"}
    for label, r in cams.items():
        _cam_figures(index, label, r)
    notes = _comparisons(index, cams, n_perm=n_perm, n_boot=n_boot) if len(cams) >= 2 else []
    audits = {label: r for label, r in runs.items() if r.kind == "audit"}
    for label, r in audits.items():
        notes += _audit_figures(index, label, r)
    notes += _model_vs_data(index, cams, audits)
    table = markdown_table(RESULT_COLUMNS, [format_row(r) for r in rows])
    write_text(out / "index.md", index_markdown(f"Report {out.name}", runs, table, index.items, notes) + "\n")
    results = {"rows": rows, "figures": [{"file": f, "caption": c} for f, c in index.items], "notes": notes}
    write_json(out / "results.json", results)
    return results



def write_comparison(run_a: CamRun, run_b: CamRun, labels: tuple[str, str], out: str | Path, *,
                     n_perm: int = 10000, n_boot: int = 2000, seed: int = 0, stem: str = "comparison") -> dict[str, Any]:
    """Compare and write ``<stem>.json`` and ``<stem>.png`` into the existing folder ``out``."""
    out = Path(out)
    result = compare_runs(run_a, run_b, labels, n_perm=n_perm, n_boot=n_boot, seed=seed)
    write_json(out / f"{stem}.json", result)
    data = panel_data(run_a, run_b, labels, list(result["classes"]))
    save_figure(comparison_figure(data, result), out / f"{stem}.png")
    return result


def write_comparison_run(run_a: CamRun, run_b: CamRun, labels: tuple[str, str], out: str | Path, *,
                         arguments: dict[str, Any], overwrite: bool = False, n_perm: int = 10000, n_boot: int = 2000,
                         seed: int = 0) -> dict[str, Any]:
    """The ``compare`` job: comparison.json and comparison.png in the run folder ``out``."""
    with run_folder(out, command="compare", overwrite=overwrite, inputs=[run_a.path, run_b.path]) as run:
        result = write_comparison(run_a, run_b, labels, run.path, n_perm=n_perm, n_boot=n_boot, seed=seed)
        write_manifest(run.path, command="compare", arguments=arguments)
    for group in result["classes"]:
        log.info(headline(result, group))
    return result


def write_report_run(runs: dict[str, Any], out: str | Path, *, arguments: dict[str, Any], overwrite: bool = False,
                     n_perm: int = 10000, n_boot: int = 2000) -> dict[str, Any]:
    """The ``report`` job: every figure, results.json and index.md in the run folder ``out``."""
    with run_folder(out, command="report", overwrite=overwrite, inputs=[r.path for r in runs.values()]) as run:
        results = build_report(runs, run.path, n_perm=n_perm, n_boot=n_boot)
        write_manifest(run.path, command="report", arguments=arguments)
    return results
