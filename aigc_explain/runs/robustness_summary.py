"""The typed summaries of ``evaluate --perturb`` (``robustness.json``: one flat row per condition) and of a
cross-domain evaluation (``cross_domain.json``: one flat row per checkpoint × data cell).

A row is written flat, as its csv line is, but read as parts: ``row.metrics`` (the evaluation's table
fields) and ``row.cam`` (how far the CAMs moved; None, and absent from the JSON, without ``--cam``).
``to_json()`` gives the object written today, key for key; ``from_json()`` checks every value. Standard
library only.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field, fields
from typing import Any

from aigc_explain.runs.records import R, Record, omit_if_none
from aigc_explain.runs.summaries import EvaluationMetrics

ROBUSTNESS_SCHEMA_VERSION = 1  # robustness.json's and cross_domain.json's schema_version


def inline(**kwargs: Any) -> Any:
    """A nested record written inline: its keys stand in the parent's JSON object (none when it is None)."""
    return field(metadata={"inline": True}, **kwargs)


class _FlatRecord(Record):
    """A record whose ``inline`` fields are nested records flattened into its JSON object."""

    @classmethod
    def _inline(cls) -> dict[str, tuple[type[Record], bool]]:
        """Inline field name -> (its record type, whether it may be None)."""
        hints, out = typing.get_type_hints(cls), {}
        for f in fields(cls):
            if f.metadata.get("inline"):
                tp = hints[f.name]
                options = typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, types.UnionType) else (tp,)
                out[f.name] = (next(o for o in options if o is not type(None)), type(None) in options)
        return out

    def to_json(self) -> dict[str, Any]:
        inline_fields, out = self._inline(), {}
        for k, v in super().to_json().items():
            if k in inline_fields:
                out.update(v or {})
            else:
                out[k] = v
        return out

    @classmethod
    def from_json(cls: type[R], data: Any, *, path: str | None = None) -> R:
        if isinstance(data, dict):
            data = dict(data)
            for name, (tp, optional) in cls._inline().items():
                part = {f.name: data.pop(f.name) for f in fields(tp) if f.name in data}
                data[name] = None if optional and not part else part
        return super().from_json(data, path=path)


@dataclass(frozen=True)
class MetricColumns(Record):
    """The table fields of one evaluation (``EvaluationMetrics``): the accuracy's 95% interval as _lo/_hi."""
    accuracy: float
    accuracy_lo: float | None
    accuracy_hi: float | None
    real_acc: float | None
    fake_acc: float | None
    average_precision: float | None
    roc_auc: float | None
    n_real: int
    n_fake: int
    n_skipped: int | None


@dataclass(frozen=True)
class CamShift(Record):
    """How far a condition's CAMs moved from the clean ones, over the images both have: per-image Pearson and
    Spearman correlations of the raw maps and the paired change of corner_share, each mean with its 95% CI."""
    cam_n: int
    cam_pearson: float | None
    cam_pearson_lo: float | None
    cam_pearson_hi: float | None
    cam_spearman: float | None
    cam_spearman_lo: float | None
    cam_spearman_hi: float | None
    corner_share_delta: float | None
    corner_share_delta_lo: float | None
    corner_share_delta_hi: float | None
    corner_share: float | None  # the condition's mean corner_share


@dataclass(frozen=True)
class RobustnessRow(_FlatRecord):
    """One condition of a sweep ("clean" first), as robustness.csv holds it."""
    perturbation: str
    kind: str
    value: float | None
    metrics: MetricColumns = inline()
    cam: CamShift | None = inline(default=None)

    def column(self, name: str) -> Any:
        """The value of robustness.csv's column ``name`` (None where the row has none)."""
        return self.to_json().get(name)


@dataclass(frozen=True)
class CamInfo(Record):
    """The CAMs a sweep compared: method, target, the layer and its map size, and warnings about them."""
    method: str
    target: str
    layer: str
    map_size: tuple[int, int]
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PerturbationInfo(Record):
    """What was done to each image (``core.perturb.describe``); the clean condition has no ``how``."""
    name: str
    kind: str
    value: float | None
    how: str | None = omit_if_none()


@dataclass(frozen=True, kw_only=True)
class RobustnessSummary(Record):
    """``robustness.json``: the sweep's rows and each condition's full metrics."""
    SCHEMA = ROBUSTNESS_SCHEMA_VERSION
    NAME = "robustness.json"

    schema_version: int
    checkpoint: str | None = omit_if_none()
    data: str | None = omit_if_none()
    split: str | None = omit_if_none()
    perturbations: list[PerturbationInfo] | None = omit_if_none()
    threshold: float
    cam: CamInfo | None
    rows: list[RobustnessRow]
    metrics: dict[str, EvaluationMetrics]  # by condition name


@dataclass(frozen=True)
class CrossDomainCell(_FlatRecord):
    """One checkpoint × data cell, as cross_domain.csv holds it."""
    checkpoint: str
    data: str
    metrics: MetricColumns = inline()

    def column(self, name: str) -> Any:
        return self.to_json().get(name)


@dataclass(frozen=True, kw_only=True)
class CrossDomainSummary(Record):
    """``cross_domain.json``: rows are checkpoints (train domain), columns test data; a matrix per metric."""
    SCHEMA = ROBUSTNESS_SCHEMA_VERSION
    NAME = "cross_domain.json"

    schema_version: int
    split: str | None = omit_if_none()
    threshold: float | None = omit_if_none()
    checkpoints: list[str]
    data: list[str]
    checkpoint_paths: list[str]
    data_paths: list[str]
    cell_folders: list[list[str]]
    matrix: dict[str, list[list[float | None]]]  # metric -> [checkpoint][data]
    cells: list[CrossDomainCell]
