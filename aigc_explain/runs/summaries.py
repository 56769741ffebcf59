"""The typed summaries of a CAM run (``summary.json``), beside the contract they describe (``runs.contract``).

``CamSummary.from_json(json.load(...))`` reads a summary written by any run of this schema; ``to_json()``
gives back the same object, key for key, so the files written are the files read. Standard library only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from aigc_explain.runs.contract import SUMMARY_SCHEMA_VERSION
from aigc_explain.runs.records import Record, omit_if_none


@dataclass(frozen=True)
class Interval(Record):
    """A mean with its 95% bootstrap interval over ``n`` finite values (None where undefined)."""
    mean: float | None
    ci95: tuple[float | None, float | None] = (None, None)
    n: int = 0

    @property
    def lo(self) -> float | None:
        return self.ci95[0]

    @property
    def hi(self) -> float | None:
        return self.ci95[1]

    @property
    def defined(self) -> bool:
        return self.mean is not None and math.isfinite(self.mean)

    def format(self, digits: int = 3) -> str:
        """``0.731 [0.695, 0.764]``; ``n/a`` when the mean is undefined."""
        if not self.defined:
            return "n/a"
        ci = f" [{self.lo:.{digits}f}, {self.hi:.{digits}f}]" if self.lo is not None and self.hi is not None else ""
        return f"{self.mean:.{digits}f}{ci}"


Pair = tuple[float | None, float | None]


@dataclass(frozen=True)
class GroupTest(Record):
    """Two groups compared (``stats.compare_groups``), or why they were not (``not_measurable``)."""
    mean_a: float | None = omit_if_none()
    mean_b: float | None = omit_if_none()
    diff: float | None = None
    diff_ci95: Pair = (None, None)
    p_permutation: float | None = None
    p_mann_whitney: float | None = None
    n_a: int | None = omit_if_none()
    n_b: int | None = omit_if_none()
    not_measurable: str | None = omit_if_none()
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        if self.not_measurable is not None:  # the unmeasured entry's own key order
            keys = ("p_permutation", "p_mann_whitney", "diff", "diff_ci95", "not_measurable")
            out = {k: out[k] for k in keys} | {k: v for k, v in out.items() if k not in keys}
        return out


@dataclass(frozen=True)
class PairedTest(Record):
    n_pairs: int
    mean_diff: float | None
    p_sign_flip: float | None
    p_wilcoxon: float | None


@dataclass(frozen=True)
class GroupStats(Record):
    """One group of a CAM run (all, real, fake, pred_real, pred_fake): counts and region masses."""
    n: int
    n_empty: int
    corner_mass: Interval
    center_mass: Interval
    border_mass: Interval
    corner_share: Interval

    def mass(self, key: str) -> Interval:
        """One of ``runs.contract.MASS_KEYS`` by name."""
        if key not in ("corner_mass", "center_mass", "border_mass", "corner_share"):
            raise ValueError(f"{key!r} is not a region mass; use corner_mass, center_mass, border_mass or "
                             f"corner_share")
        return getattr(self, key)


@dataclass(frozen=True)
class Regions(Record):
    corner_frac: float = 0.25
    center_frac: float = 0.5
    border_frac: float = 0.125

    @classmethod
    def of(cls, settings: Any) -> Regions:
        """The regions of any settings that carry ``corner_frac``, ``center_frac`` and ``border_frac``."""
        return cls(corner_frac=settings.corner_frac, center_frac=settings.center_frac,
                   border_frac=settings.border_frac)


@dataclass(frozen=True, kw_only=True)
class LayerChoice(Record):
    """How the explained layer was chosen: what was asked (a name, or "auto"), the layer, its map size where the
    auto rule measured it (``explain.layers.auto_layer``), and why."""
    asked: str
    layer: str
    map_size: tuple[int, int] | None = omit_if_none()
    reason: str


@dataclass(frozen=True)
class Provenance(Record):
    """What a run records about its detector beside its numbers: the input pipeline
    (``core.images.describe_preprocessing``), the checkpoint's sha256 and the library versions."""
    preprocessing: dict[str, Any]
    checkpoint_sha256: str
    versions: dict[str, str]


@dataclass(frozen=True)
class AmpChoice(Record):
    """The precision inference ran in: "off" (fp32) or "bf16", and why."""
    used: str
    reason: str


@dataclass(frozen=True)
class Selection(Record):
    """Which images the whole (unsharded) run selects: the folder, how many, and a hash of their paths."""
    images: str
    n: int
    paths_sha256: str


@dataclass(frozen=True)
class CamSummary(Record):
    """``summary.json`` of a CAM run."""
    SCHEMA = SUMMARY_SCHEMA_VERSION
    NAME = "summary.json"

    schema_version: int
    groups: dict[str, GroupStats]
    n_images: int
    n_skipped: int
    accuracy: float | None
    method: str
    target: str
    layer: str
    map_size: tuple[int, int]
    input_size: tuple[int, int]
    warnings: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    detector: dict[str, Any] = field(default_factory=dict)
    selection: Selection | None = None
    layer_choice: LayerChoice | None = None
    preprocessing: dict[str, Any] | None = omit_if_none()  # these three: the run's Provenance
    checkpoint_sha256: str | None = omit_if_none()
    versions: dict[str, Any] | None = omit_if_none()
    regions: Regions = field(default_factory=Regions)
    extra: dict[str, Any] = field(default_factory=dict)  # keys a caller added (save_result's extra_summary)

    @property
    def provenance(self) -> Provenance | None:
        """The detector's pipeline, checkpoint hash and versions, None where the run records none (the API)."""
        if self.preprocessing is None or self.checkpoint_sha256 is None or self.versions is None:
            return None
        return Provenance(self.preprocessing, self.checkpoint_sha256, self.versions)

    def group(self, name: str) -> GroupStats | None:
        """The group's statistics, None when the run had no image in it."""
        return self.groups.get(name)

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()  # keys a caller added come before the regions, as the writer always put them
        regions = out.pop("regions")
        for k in self.extra:
            out[k] = out.pop(k)
        out["regions"] = regions
        return out


@dataclass(frozen=True)
class MetricIntervals(Record):
    """Stratified bootstrap 95% intervals of the evaluation metrics."""
    accuracy: Pair = (None, None)
    real_acc: Pair = (None, None)
    fake_acc: Pair = (None, None)
    average_precision: Pair = (None, None)
    roc_auc: Pair = (None, None)


@dataclass(frozen=True)
class EvaluationMetrics(Record):
    """``metrics.json`` of an evaluation run (``core.evaluation.evaluate_folder``): accuracy overall and per
    class, AP and ROC AUC (None with one class), counts, the threshold, and their intervals."""
    NAME = "metrics.json"

    accuracy: float
    real_acc: float | None
    fake_acc: float | None
    average_precision: float | None
    roc_auc: float | None
    n_real: int
    n_fake: int
    threshold: float
    ci95: MetricIntervals
    folder: str | None = omit_if_none()
    n_skipped: int | None = omit_if_none()
    reencode: str | None = None
    amp: AmpChoice | None = omit_if_none()  # the precision inference ran in
    warnings: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ClassSpectrum(Record):
    """One class in summary.json: how many images, at which (height, width)."""
    n: int
    image_size: list[int]


@dataclass(frozen=True)
class SpectrumSummary(Record):
    """A spectrum run's summary.json."""
    NAME = "summary.json"
    classes: dict[str, ClassSpectrum]
    resized_to: int | None
    gray: str = "ITU-R 601 luma, 0-255"
    log: str = "natural log of |FFT|^2 + 1e-10"
    freq: str = "ring radius / min(H, W), cycles per pixel"
    n_skipped: int = 0
