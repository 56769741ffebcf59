"""The typed ``comparison.json`` of two CAM runs (``analysis.comparison.compare_runs``), beside its contract.

The JSON names the two runs by their labels (``{"unaugmented": {...}, "augmented": {...}, "test": {...}}``);
the records keep those per-run values in ``per_run`` dicts keyed by label and write them back in place, so
the file is unchanged. Differences are always run A minus run B. Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aigc_explain.runs.contract import MASS_KEYS
from aigc_explain.runs.records import Record, RecordError, to_plain, omit_if_none
from aigc_explain.runs.summaries import GroupTest, Interval, PairedTest, Regions  # noqa: F401 (re-exported)

COMPARISON_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class RunDescription(Record):
    path: str
    method: str | None
    target: str | None
    layer: str | None
    map_size: tuple[int, int] | None
    input_size: tuple[int, int] | None
    n_images: int | None
    accuracy: float | None
    regions: Regions = field(default_factory=Regions)


@dataclass(frozen=True)
class Counts(Record):
    n: int
    n_empty: int
    empty_share: float | None


@dataclass(frozen=True)
class MassComparison(Record):
    """One region mass in one class: each run's interval (by label), the test, and the paired test when both
    runs explained the same images."""
    per_run: dict[str, Interval]
    test: GroupTest
    paired: PairedTest | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {label: v.to_json() for label, v in self.per_run.items()}
        out["test"] = self.test.to_json()
        if self.paired is not None:
            out["paired"] = self.paired.to_json()
        return out

    @classmethod
    def from_json(cls, data: Any, *, path: str | None = None) -> MassComparison:
        path = path or "mass"
        if not isinstance(data, dict) or "test" not in data:
            raise RecordError(f"{path}: expected an object with each run's interval and a test")
        runs = {k: Interval.from_json(v, path=f"{path}.{k}") for k, v in data.items() if k not in ("test", "paired")}
        paired = data.get("paired")
        return cls(per_run=runs, test=GroupTest.from_json(data["test"], path=f"{path}.test"),
                   paired=None if paired is None else PairedTest.from_json(paired, path=f"{path}.paired"))


@dataclass(frozen=True)
class MapDistance(Record):
    available: bool
    shape: tuple[int, int] | None = omit_if_none()
    resampled: bool | None = omit_if_none()
    max_abs_difference: float | None = omit_if_none()
    l1_difference: float | None = omit_if_none()


@dataclass(frozen=True)
class MapCorrelation(Record):
    """How alike two maps are, pixel for pixel on A's grid (None where a map is flat)."""
    pearson: float | None
    spearman: float | None
    resampled: bool


@dataclass(frozen=True)
class SettingDifference(Record):
    """One setting in which two runs differ, with each run's value by label (``{"setting", <a>, <b>}``)."""
    setting: str
    values: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"setting": self.setting, **{label: to_plain(v) for label, v in self.values.items()}}

    @classmethod
    def from_json(cls, data: Any, *, path: str | None = None) -> SettingDifference:
        path = path or "difference"
        if not isinstance(data, dict) or not isinstance(data.get("setting"), str):
            raise RecordError(f"{path}: expected an object with the setting's name and each run's value")
        return cls(setting=data["setting"], values={k: v for k, v in data.items() if k != "setting"})

    def describe(self, verb: str = "") -> str:
        """``layer (a: features.13, b: features.6)``; with ``verb="differs"``: ``layer differs (a: …, b: …)``."""
        values = ", ".join(f"{k}: {v}" for k, v in self.to_json().items() if k != "setting")
        return f"{self.setting}{' ' + verb if verb else ''} ({values})"


@dataclass(frozen=True)
class ClassComparison(Record):
    """One class (all, real, fake) of the two runs."""
    counts: dict[str, Counts]
    not_measurable: str | None
    corner_mass: MassComparison
    center_mass: MassComparison
    border_mass: MassComparison
    corner_share: MassComparison
    mean_map: MapDistance

    def mass(self, key: str) -> MassComparison:
        if key not in MASS_KEYS:
            raise ValueError(f"{key!r} is not a region mass; use one of {', '.join(MASS_KEYS)}")
        return getattr(self, key)


@dataclass(frozen=True)
class ImageOverlap(Record):
    same: bool
    n_a: int
    n_b: int
    n_shared: int


@dataclass(frozen=True)
class ResamplingSettings(Record):
    n_perm: int
    n_boot: int
    seed: int
    confidence: float


@dataclass(frozen=True)
class ComparisonSummary(Record):
    """``comparison.json``: the two runs, how their settings and images differ, and every class compared."""
    SCHEMA = COMPARISON_SCHEMA_VERSION
    NAME = "comparison.json"

    schema_version: int
    labels: tuple[str, str]
    difference: str
    runs: dict[str, RunDescription]
    differences: list[SettingDifference]
    images: ImageOverlap
    classes: dict[str, ClassComparison]
    settings: ResamplingSettings
    warnings: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # what the compare job adds (e.g. the panel's finding)
