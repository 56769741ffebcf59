"""Reports from run folders: the comparison of two CAM runs (``write_comparison``) and the numbered report
panels with ``index.md`` and ``results.json`` (``build_report``, one ``Panel`` of ``PANELS`` after another; the
list below and ``aigc-explain report --help`` are made from it). A CAM or evaluation run belongs to a training
run when its checkpoint lies in that folder or has the hash of its best_model.pth or final_model.pth."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aigc_explain.analysis.comparability import refuse_or_record, setting_differences
from aigc_explain.analysis.comparison import compare_runs, headline, panel_data
from aigc_explain.analysis.metrics import binary_metrics
from aigc_explain.reporting.figures import markdown_table, save_figure, table_figure
from aigc_explain.reporting.panels import comparison_figure, curves_figure
from aigc_explain.runs.comparison_summary import ComparisonSummary
from aigc_explain.runs.files import write_json, write_manifest, write_text
from aigc_explain.runs.folders import run_folder
from aigc_explain.reporting.sections import Index, audit_figures, cam_figures, diagnose_figures, model_vs_data, \
    prediction_figures
from aigc_explain.runs.reader import CamRun, Run, checkpoint_owners, slug
from aigc_explain.runs.report_summary import ReportFigure, ReportResults, ResultRow
from aigc_explain.runs.summaries import EvaluationMetrics

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


def link_runs(runs: dict[str, Run], owners: dict[str, str]) -> dict[str, list[str]]:
    """Training run label -> the runs that hold predictions of its checkpoints (``owners``, from
    ``runs.reader.checkpoint_owners``): its evaluation runs, or, when it has none, its CAM runs."""
    found = {label: {"evaluation": [], "cam": []} for label, r in runs.items() if r.kind == "training"}
    for label, owner in owners.items():
        if runs[label].kind in ("evaluation", "cam"):  # audit and diagnose runs hold no predictions table
            found[owner][runs[label].kind].append(label)
    return {label: kinds["evaluation"] or kinds["cam"] for label, kinds in found.items()}


def prediction_metrics(r: Any) -> EvaluationMetrics | None:
    """Accuracy, real/fake accuracy and AP of a run's labelled predictions, at its threshold; None without labels."""
    table = r.predictions
    known = table.labels >= 0
    if not known.any():
        return None
    threshold = float(r.metrics.threshold) if r.kind == "evaluation" else 0.5
    return binary_metrics(table.labels[known], table.prob_fake[known], threshold=threshold, n_boot=100)


def _row(label: str, model: str, setting: str, val: tuple[float, int] | None, source: str | None,
         m: EvaluationMetrics | None) -> ResultRow:
    scores = {} if m is None else {"n": m.n_real + m.n_fake, "accuracy": m.accuracy, "real_acc": m.real_acc,
                                   "fake_acc": m.fake_acc, "average_precision": m.average_precision}
    return ResultRow(run=label, model=model, setting=setting, val_acc=None if val is None else val[0],
                     best_epoch=None if val is None else val[1], predictions_from=source, **scores)


def _best_val(history: dict[str, np.ndarray]) -> tuple[float, int] | None:
    """The best validation accuracy and its epoch (the epoch best_model.pth was saved at)."""
    acc = history["val_acc"]
    if not np.isfinite(acc).any():
        return None
    best = int(np.nanargmax(acc))
    return float(acc[best]), int(history["epoch"][best])


def results_rows(runs: dict[str, Run], owners: dict[str, str]) -> list[ResultRow]:
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


def format_row(row: ResultRow) -> list[str]:
    def num(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    val = "n/a" if row.val_acc is None else f"{row.val_acc:.3f} ({row.best_epoch})"
    return [row.run, row.model, row.setting, val, row.predictions_from or "n/a",
            "n/a" if row.n is None else str(row.n)] + [num(v) for v in
                                                        (row.accuracy, row.real_acc, row.fake_acc, row.average_precision)]


@dataclass(frozen=True)
class ReportInputs:
    """What the panel builders read: the runs by label, the results table's rows, the comparisons' settings."""
    runs: dict[str, Run]
    rows: list[ResultRow]
    n_perm: int = 10000
    n_boot: int = 2000
    allow_different: bool = False

    def of_kind(self, kind: str) -> dict[str, Run]:
        return {label: r for label, r in self.runs.items() if r.kind == kind}


Builder = Callable[[Index, ReportInputs], list[str]]


@dataclass(frozen=True)
class Panel:
    """One section of the report: ``builder`` adds its figures to the ``Index`` and returns its findings for
    index.md; ``caption`` is its line in ``report --help``."""
    name: str
    builder: Builder
    caption: str


def _each(kind: str, builder: Callable[[Index, str, Any], list[str] | None]) -> Builder:
    """A builder of one run applied to every run of ``kind``, in the order the runs were given."""
    def build(index: Index, inputs: ReportInputs) -> list[str]:
        return [line for label, r in inputs.of_kind(kind).items() for line in builder(index, label, r) or []]
    return build


def _curves(index: Index, inputs: ReportInputs) -> list[str]:
    histories = {label: r.history for label, r in inputs.of_kind("training").items()}
    if histories:
        index.figure("curves", curves_figure(histories), "Loss and accuracy per epoch from history.csv "
                     "(train dashed, validation solid).")
    return []


def _results_table(index: Index, inputs: ReportInputs) -> list[str]:
    index.figure("results_table", table_figure(RESULT_COLUMNS, [format_row(r) for r in inputs.rows]),
                 "Results: best validation accuracy (epoch) per setting; accuracy, real/fake accuracy and AP "
                 "on the predictions named (n/a: none given).")
    return []


def _predictions(index: Index, inputs: ReportInputs) -> list[str]:
    prediction_figures(index, inputs.runs, inputs.rows)
    return []


def _comparisons(index: Index, inputs: ReportInputs) -> list[str]:
    cams = inputs.of_kind("cam")
    labels = list(cams)
    lines = []
    for other in labels[1:]:
        stem = "comparison" if len(labels) == 2 else slug(f"comparison_{labels[0]}_vs_{other}")
        name = index.next_name(stem)
        result = write_comparison(cams[labels[0]], cams[other], (labels[0], other), out=index.out, n_perm=inputs.n_perm,
                                  n_boot=inputs.n_boot, stem=stem, figure=name,
                                  allow_different=inputs.allow_different, quiet=True)
        index.items.append((name, f"{labels[0]} vs {other}: mean CAMs on one scale, their difference "
                            f"({labels[0]} − {other}), corner share with 95% CIs and p-values ({stem}.json)."))
        lines += [headline(result, g) for g in result.classes] + result.warnings
    return lines


def _model_vs_data(index: Index, inputs: ReportInputs) -> list[str]:
    return model_vs_data(index, inputs.of_kind("cam"), inputs.of_kind("audit"))


PANELS = (
    Panel("curves", _curves, "loss and accuracy per epoch (training runs)"),
    Panel("results_table", _results_table, "model, setting, best val accuracy (epoch); accuracy, real/fake "
          "accuracy and AP where predictions exist"),
    Panel("predictions", _predictions, "confusion matrices, ROC and PR curves of those predictions (evaluation "
          "runs, and CAM runs' per_image.csv)"),
    Panel("cams", _each("cam", cam_figures), "per-class mean CAMs and overlay galleries (each CAM run)"),
    Panel("comparisons", _comparisons, "the first CAM run beside each other one: shared-scale mean maps, their "
          "difference, corner share with p-values (comparison*.json)"),
    Panel("audit", _each("audit", audit_figures), "the data audit's panels: what gives the label away, file "
          "cues, mean images, where the classes differ in residual energy (each audit run)"),
    Panel("model_vs_data", _model_vs_data, "each CAM run's fakes' mean CAM beside where the classes differ in "
          "an audit of the same images, with their spatial correlation"),
    Panel("diagnose", _each("diagnose", diagnose_figures), "what the decision rests on: frequency bands, patch "
          "shuffling, the patch that carries it (each diagnose run)"),
)


def panel_help() -> str:
    """The panels, in order, as ``report --help`` lists them."""
    import textwrap

    return "panels, in order (each where its runs are given):\n" + "\n".join(
        textwrap.fill(p.caption, 100, initial_indent=f"  {p.name:<14} ", subsequent_indent=" " * 17) for p in PANELS)


__doc__ = f"{__doc__}\n\n{panel_help()}"


def index_markdown(title: str, runs: dict[str, Run], table: str, items: list[tuple[str, str]],
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


def build_report(runs: dict[str, Run], out: Path, *, n_perm: int = 10000, n_boot: int = 2000,
                 allow_different: bool = False) -> ReportResults:
    """Write every figure, ``results.json`` and ``index.md`` into the (empty) folder ``out``."""
    inputs = ReportInputs(runs, results_rows(runs, checkpoint_owners(runs)), n_perm=n_perm, n_boot=n_boot,
                          allow_different=allow_different)
    rows, cams = inputs.rows, inputs.of_kind("cam")
    index = Index(out)
    notes = [line for panel in PANELS for line in panel.builder(index, inputs)]
    table = markdown_table(RESULT_COLUMNS, [format_row(r) for r in rows])
    title = "Report" if out.name.lower() in ("report", "reports") else f"Report: {out.name}"
    write_text(out / "index.md", index_markdown(title, runs, table, index.items, notes) + "\n")
    results = ReportResults(rows=rows, figures=[ReportFigure(file=f, caption=c) for f, c in index.items],
                            notes=notes)
    write_json(out / "results.json", results.to_json())
    if cams:  # index.html: every image of the CAM runs, sortable, beside its maps, under these figures
        from aigc_explain.reporting.browser import write_page
        write_page(cams, out, figures=index.items, title=title)
    return results


def write_comparison(run_a: CamRun, run_b: CamRun, labels: tuple[str, str], *, out: str | Path,
                     n_perm: int = 10000, n_boot: int = 2000, seed: int = 0, stem: str = "comparison",
                     figure: str | None = None, allow_different: bool = False,
                     quiet: bool = False) -> ComparisonSummary:
    """Compare and write ``<stem>.json`` and the panel ``figure`` (default ``<stem>.png``) into the existing
    folder ``out``."""
    out = Path(out)
    result = compare_runs(run_a, run_b, labels, n_perm=n_perm, n_boot=n_boot, seed=seed,
                          allow_different=allow_different, quiet=quiet)
    write_json(out / f"{stem}.json", result.to_json())
    data = panel_data(run_a, run_b, labels, list(result.classes))
    save_figure(comparison_figure(data, result), out / (figure or f"{stem}.png"))
    return result


def compare_runs_check(run_a: CamRun, run_b: CamRun, labels: tuple[str, str], allow_different: bool) -> None:
    """Refuse incomparable runs (see ``analysis.comparability``) before anything is written."""
    refuse_or_record(setting_differences(run_a.summary, run_b.summary, labels), labels, allow_different)


def write_comparison_run(run_a: CamRun, run_b: CamRun, labels: tuple[str, str], *, out: str | Path,
                         arguments: dict[str, Any], overwrite: bool = False, n_perm: int = 10000, n_boot: int = 2000,
                         seed: int = 0, allow_different: bool = False) -> ComparisonSummary:
    """The ``compare`` job: comparison.json and comparison.png in the run folder ``out``."""
    compare_runs_check(run_a, run_b, labels, allow_different)  # refused before any folder is made
    with run_folder(out, command="compare", overwrite=overwrite, inputs=[run_a.path, run_b.path]) as run:
        result = write_comparison(run_a, run_b, labels, out=run.path, n_perm=n_perm, n_boot=n_boot, seed=seed,
                                  allow_different=allow_different)
        write_manifest(run.path, command="compare", arguments=arguments)
    for group in result.classes:
        log.info(headline(result, group))
    return result


def write_report_run(runs: dict[str, Run], *, out: str | Path, arguments: dict[str, Any], overwrite: bool = False,
                     n_perm: int = 10000, n_boot: int = 2000, allow_different: bool = False) -> ReportResults:
    """The ``report`` job: every figure, results.json and index.md in the run folder ``out``."""
    cams = [(label, r) for label, r in runs.items() if r.kind == "cam"]
    for label, r in cams[1:]:  # refused before any folder is made
        compare_runs_check(cams[0][1], r, (cams[0][0], label), allow_different)
    with run_folder(out, command="report", overwrite=overwrite, inputs=[r.path for r in runs.values()]) as run:
        results = build_report(runs, run.path, n_perm=n_perm, n_boot=n_boot, allow_different=allow_different)
        write_manifest(run.path, command="report", arguments=arguments)
    return results
