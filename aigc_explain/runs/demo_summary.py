"""The typed ``demo_summary.json`` of ``make demo`` (``aigc_explain.demo``), beside its contract: the dataset it
built, each detector's headline numbers, the data audit's and the time it took. Standard library only."""

from __future__ import annotations

from dataclasses import dataclass

from aigc_explain.runs.audit_summary import CornerShare
from aigc_explain.runs.records import Record
from aigc_explain.runs.summaries import Interval, Pair


@dataclass(frozen=True, kw_only=True)
class DemoDataset(Record):
    """What ``synth.demo_data.build_demo_dataset`` wrote: the folder, images per split and class, the photos the
    crops come from, its arguments, the autoencoder's reconstruction error and the seconds each step took."""
    out_dir: str
    counts: dict[str, int]
    photos: list[str]
    n_train: int
    n_val: int
    size: int
    seed: int
    ae_steps: int
    ae_final_loss: float
    ae_train_loss: float | None
    seconds: dict[str, float]


@dataclass(frozen=True, kw_only=True)
class DemoDetector(Record):
    """One demo detector: validation accuracy with its interval, AP, and the corner share of its CAMs per class."""
    val_accuracy: float
    accuracy_ci95: Pair
    average_precision: float | None
    corner_share: dict[str, Interval]


@dataclass(frozen=True, kw_only=True)
class DemoAudit(Record):
    """The data audit's headline: the file-cue AUC, where the classes differ (overall and in val), the verdict."""
    cue_auc: float | None
    cue_auc_ci95: Pair
    pixel_corner_share: CornerShare
    verdict: str
    val_pixel_corner_share: CornerShare


@dataclass(frozen=True, kw_only=True)
class DemoSummary(Record):
    """``demo_summary.json``."""
    NAME = "demo_summary.json"

    dataset: DemoDataset
    runs: dict[str, DemoDetector]
    audit: DemoAudit
    seconds: float
