"""The typed ``results.json`` of a report run (``reporting.report.build_report``), beside its contract: the
results table's rows, the figures with their captions in order, and the findings. Standard library only."""

from __future__ import annotations

from dataclasses import dataclass, field

from aigc_explain.runs.records import Record


@dataclass(frozen=True, kw_only=True)
class ResultRow(Record):
    """One row of the results table: a training run (or a run of predictions no training run owns), its best
    validation accuracy and epoch, and the metrics of the predictions named in ``predictions_from``."""
    run: str
    model: str
    setting: str
    val_acc: float | None = None
    best_epoch: int | None = None
    predictions_from: str | None = None
    n: int | None = None
    accuracy: float | None = None
    real_acc: float | None = None
    fake_acc: float | None = None
    average_precision: float | None = None


@dataclass(frozen=True)
class ReportFigure(Record):
    file: str
    caption: str


@dataclass(frozen=True)
class ReportResults(Record):
    """``results.json`` of a report run."""
    NAME = "results.json"

    rows: list[ResultRow] = field(default_factory=list)
    figures: list[ReportFigure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
