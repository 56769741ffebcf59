"""The typed summaries of the trust checks: ``sanity.json`` (the randomisation test), ``faithfulness.json``
(deletion/insertion and ROAD against trivial maps) and ``planted.json`` (the known-answer benchmark).

Each ``to_json()`` is the object the check writes, key for key and in order; ``from_json()`` reads any file
of the schema back and names the first value of the wrong shape. The checks' producers live in
``aigc_explain.checks``; the figures that draw these files in ``reporting.trust``. Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aigc_explain.runs.records import Record, key, omit_if_none
from aigc_explain.runs.summaries import Interval

SANITY_SCHEMA_VERSION = 1
FAITHFULNESS_SCHEMA_VERSION = 1
PLANTED_SCHEMA_VERSION = 1


# ------------------------------------------------------------------------------------------- sanity
@dataclass(frozen=True)
class SanityStepSummary(Record):
    """One randomisation step: which blocks were re-initialised, and how similar the maps stayed."""
    mode: str  # "original", "cascading" or "independent"
    block: str  # the block randomised at this step (cascading: the lowest so far)
    randomized: list[str]
    changed_tensors: int
    block_tensors: int
    similarity: dict[str, Interval]  # per metric, over the images
    per_image: dict[str, list[float | None]]  # per metric, None where undefined (a constant map)


@dataclass(frozen=True)
class SanitySummary(Record):
    """``sanity.json``: the model-parameter randomisation test (Adebayo et al. 2018) and its verdict."""
    SCHEMA = SANITY_SCHEMA_VERSION
    NAME = "sanity.json"

    schema_version: int
    method: str
    layer: str
    target: str
    image_size: int
    n_images: int
    blocks: list[str]  # from the top (head first)
    metrics: list[str]
    verdict_metric: str
    threshold: float
    verdict: str
    passed: bool | None  # None: no verdict (no cascading schedule, or undefined similarity)
    steps: list[SanityStepSummary]  # "original" first
    paths: list[str]
    n_skipped: int
    checkpoint_sha256: str | None = omit_if_none()  # the run folder's provenance (checks.jobs)
    preprocessing: dict[str, Any] | None = omit_if_none()
    versions: dict[str, Any] | None = omit_if_none()

    def schedule(self, mode: str) -> list[SanityStepSummary]:
        """The steps of one schedule ("cascading" or "independent"), in order."""
        return [s for s in self.steps if s.mode == mode]


# ------------------------------------------------------------------------------------- faithfulness
@dataclass(frozen=True)
class FaithfulnessRow(Record):
    """One map kind × baseline image: AUC means with their 95% bootstrap intervals, and the ROAD means
    (None where ROAD did not run)."""
    kind: str = key("map")
    baseline: str
    n: int
    deletion_auc: float | None
    deletion_ci_low: float | None
    deletion_ci_high: float | None
    insertion_auc: float | None
    insertion_ci_low: float | None
    insertion_ci_high: float | None
    road_morf: float | None
    road_lerf: float | None
    road_combined: float | None

    def auc(self, curve: str) -> float | None:
        """The mean AUC of "deletion" or "insertion"."""
        if curve not in ("deletion", "insertion"):
            raise ValueError(f"curve {curve!r} is not deletion or insertion")
        return getattr(self, f"{curve}_auc")


@dataclass(frozen=True)
class AucDifference(Record):
    """Paired per-image AUC differences, CAM − a trivial map (deletion: below 0 is a win for the CAM)."""
    deletion: Interval
    insertion: Interval


@dataclass(frozen=True)
class RoadInfo(Record):
    percentiles: list[int]
    n_images: int
    units: str
    paths: list[str]


@dataclass(frozen=True)
class FaithfulnessSummary(Record):
    """``faithfulness.json``: how the CAM's pixel ordering compares with trivial maps', and the verdict."""
    SCHEMA = FAITHFULNESS_SCHEMA_VERSION
    NAME = "faithfulness.json"

    schema_version: int
    method: str
    layer: str
    target: str
    n_images: int
    fractions: list[float]
    baselines: list[str]
    map_kinds: list[str]  # the CAM method first, then the trivial maps
    score: str
    rows: list[FaithfulnessRow]
    comparisons: dict[str, dict[str, AucDifference]]  # baseline -> trivial map -> paired differences
    mean_curves: dict[str, list[float]]  # "kind|baseline|curve" -> the mean curve over the fractions
    verdict: str
    beats_all: bool
    road: RoadInfo
    paths: list[str]
    n_skipped: int
    checkpoint_sha256: str | None = omit_if_none()  # the run folder's provenance (checks.jobs)
    preprocessing: dict[str, Any] | None = omit_if_none()
    versions: dict[str, Any] | None = omit_if_none()

    def row(self, kind: str, baseline: str) -> FaithfulnessRow:
        """The row of one map kind and baseline image."""
        for r in self.rows:
            if (r.kind, r.baseline) == (kind, baseline):
                return r
        raise ValueError(f"faithfulness.json has no row for map {kind!r} with baseline {baseline!r}; it holds "
                         f"maps {', '.join(self.map_kinds)} and baselines {', '.join(self.baselines)}")

    def mean_curve(self, kind: str, baseline: str, curve: str) -> list[float]:
        return self.mean_curves[f"{kind}|{baseline}|{curve}"]


# ------------------------------------------------------------------------------------------ planted
@dataclass(frozen=True)
class PlantedRow(Record):
    """One method × layer of the known-answer benchmark: the fakes' region masses and the verdict."""
    method: str
    layer: str  # as asked ("auto" or a module name)
    layer_name: str  # the module it resolved to
    map_size: tuple[int, int]
    n: int
    n_empty: int
    fake_recall: float | None  # share of the fakes the detector calls fake
    masses: dict[str, Interval]  # corner_share, corner_mass, center_mass, border_mass
    passes: bool


@dataclass(frozen=True)
class PlantedSummary(Record):
    """``planted.json``: the planted known-answer benchmark of the whole measuring chain."""
    SCHEMA = PLANTED_SCHEMA_VERSION
    NAME = "planted.json"

    schema_version: int
    benchmark: str
    region: str
    expected: str
    criterion: str
    all_pass: bool
    best_val_acc: float
    rows: list[PlantedRow]
    detector: dict[str, Any]  # Detector.config() of the trained model
    dataset: dict[str, Any]
    config: dict[str, Any]  # the benchmark's settings (PlantedConfig)
    seconds: dict[str, float]
    warnings: list[str] = field(default_factory=list)
