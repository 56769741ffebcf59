"""The typed ``audit.json`` of a data audit (``python -m aigc_explain.audit``) and its parts.

``AuditSummary.from_json(json.load(...))`` reads an audit of this schema; ``to_json()`` gives back the same
object, key for key and in the same order. audit.json writes some parts into their parent's object rather
than under a key of their own (a split's file cues and pixel evidence sit beside its counts), and writes a
missing localisation's masses as ``{}``; ``_Part`` adds these two shapes to ``runs.records.Record``
(``inline`` and ``empty_if_none`` below). Standard library only.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any

from aigc_explain.runs.records import Record, RecordError, omit_if_none

AUDIT_SCHEMA_VERSION = 2  # 2: localisation against a permutation null, budget, geometry
STATED_ENLARGEMENT = 2.0  # the audit's own enlargement above this is said wherever its results are


def _field(key: str | None = None, *, omit: bool = False, inline: bool = False, empty_if_none: bool = False,
           **kwargs: Any) -> Any:
    """A field with a JSON name (``key``), left out when None (``omit``), written into the parent's object
    (``inline``: a part) or written as ``{}`` when None (``empty_if_none``)."""
    metadata = {k: v for k, v in (("key", key), ("omit_if_none", omit), ("inline", inline),
                                  ("empty_if_none", empty_if_none)) if v}
    if omit:
        kwargs.setdefault("default", None)
    return field(metadata=metadata, **kwargs)


@dataclass(frozen=True)
class _Part(Record):
    """A Record that may hold inline parts and ``{}``-for-None fields (see the module docstring)."""

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        special = {f.metadata.get("key", f.name): f.metadata for f in dataclasses.fields(self)}
        flat: dict[str, Any] = {}
        for k, v in out.items():
            meta = special.get(k, {})
            if meta.get("inline"):
                flat.update(v)
            else:
                flat[k] = {} if v is None and meta.get("empty_if_none") else v
        return flat

    @classmethod
    def from_json(cls, data: Any, *, path: str | None = None) -> Any:
        path = path or cls.NAME or cls.__name__
        if isinstance(data, dict):
            hints = typing.get_type_hints(cls)
            data = dict(data)
            for f in dataclasses.fields(cls):
                name = f.metadata.get("key", f.name)
                if f.metadata.get("inline"):  # its keys are this object's: errors name them at this level
                    hints[f.name].from_json(data, path=path)
                    data[name] = {k: v for k, v in data.items() if k != name}
                elif f.metadata.get("empty_if_none") and data.get(name) == {}:
                    data[name] = None
        return super().from_json(data, path=path)


@dataclass(frozen=True)
class CueAuc(Record):
    """One file cue's own AUC, orientation-free (``classifier.single_cue_aucs``)."""
    name: str
    kind: str
    auc: float


@dataclass(frozen=True, kw_only=True)
class CuePart(Record):
    """What the file cues say about the label: the cross-validated cue classifier and each cue alone. Without
    two images of each class only ``auc`` (None), ``ci95`` and an empty ``cues`` are written."""
    auc: float | None = _field("cue_auc")
    ci95: tuple[float | None, float | None] = _field("cue_auc_ci95")
    cues: list[CueAuc]
    folds: int | None = _field("cue_folds", omit=True)
    model: str | None = _field("cue_model", omit=True)
    verdict: str | None = _field("cue_verdict", omit=True)


@dataclass(frozen=True)
class CornerShare(Record):
    """The localisation's corner share with its interval, permutation p-value and the null's median (None
    throughout without two images of each class; then no ``null_median`` is written)."""
    mean: float | None
    ci95: tuple[float | None, float | None]
    p_value: float | None
    null_median: float | None = omit_if_none()


@dataclass(frozen=True, kw_only=True)
class Direction(Record):
    """Where one class exceeds the other (``fake``: fakes > reals), against the label-permutation null."""
    corner_share: CornerShare
    corner_mass: float | None
    center_mass: float | None
    border_mass: float | None
    excess_energy: float | None
    mean_positive_t: float | None
    p_value: float | None
    differs: bool
    where: str  # "corners", "centre" or "none"
    localised: bool


@dataclass(frozen=True, kw_only=True)
class Localisation(Record):
    """``evidence.localise``'s result: both directions and the relative t-map on ``grid`` (row-major)."""
    method: str
    grid: tuple[int, int]
    n_perm: int
    n_boot: int
    alpha: float
    t_map: list[float | None]
    fake: Direction
    real: Direction


@dataclass(frozen=True, kw_only=True)
class FingerprintPeak(Record):
    """The sharpest line of the fakes' mean-residual spectrum that the reals lack (``summary.fingerprint_peak``)."""
    freq: tuple[float, float]
    fake_power: float | None
    real_power: float | None
    ratio: float | None
    sharpness: float | None
    sharpness_needed: float
    periodic_peak: bool
    compared: str


@dataclass(frozen=True, kw_only=True)
class PixelPart(_Part):
    """Where the classes differ in the pixels. Without two images of each class: no localisation, an empty
    corner share, ``pixel_masses`` written as ``{}`` and neither ``pixel_masses_real`` nor ``fingerprint``."""
    corner_share: CornerShare = _field("pixel_corner_share")
    localisation: Localisation | None
    fake: Direction | None = _field("pixel_masses", empty_if_none=True)  # = localisation.fake
    real: Direction | None = _field("pixel_masses_real", omit=True)  # = localisation.real
    fingerprint: FingerprintPeak | None = _field(omit=True)


@dataclass(frozen=True, kw_only=True)
class ResamplingScan(Record):
    """The history's label-free scan for a resize between two JPEG saves (``evidence.resampling``): the factor
    found (None when none stood out), the best one tried and how far its pooled comb stood above the scan's bulk
    (robust standard deviations; ``z_needed`` to call it found), over how many images and which factors."""
    factor: float | None
    found: bool
    best: float | None
    z: float | None
    z_needed: float
    n_images: int
    factors: tuple[float, float]
    n_factors: int
    method: str


@dataclass(frozen=True)
class BudgetEntry(Record):
    """One kind of evidence: the cross-validated AUC of a classifier on it alone, its interval, and the
    strongest single feature; ``size_only`` (storage only) when no cue but the file size tells anything;
    ``resampling`` (history only) the resize between two saves its features undid."""
    auc: float
    ci95: tuple[float | None, float | None]
    top: str | None
    top_auc: float | None
    n_features: int
    size_only: bool | None = omit_if_none()
    resampling: ResamplingScan | None = omit_if_none()  # history only: the scan its resized combs were read at


@dataclass(frozen=True)
class Budget(Record):
    """What gives the label away, one entry per kind of evidence; kinds beyond the four are in ``extra``."""
    storage: BudgetEntry | None
    history: BudgetEntry | None = omit_if_none()
    content: BudgetEntry | None = omit_if_none()
    residual: BudgetEntry | None = omit_if_none()
    extra: dict[str, BudgetEntry | None] = field(default_factory=dict)

    @classmethod
    def of(cls, rows: dict[str, BudgetEntry | None]) -> Budget:
        """From ``{kind: entry}`` (``storage`` first, then the feature kinds in gathering order)."""
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        return cls(**{k: v for k, v in rows.items() if k in known},
                   extra={k: v for k, v in rows.items() if k not in known})

    def rows(self) -> dict[str, BudgetEntry | None]:
        """Every kind audit.json holds, in its order (storage always, the others when measured)."""
        out = {"storage": self.storage}
        out.update({k: v for k, v in (("history", self.history), ("content", self.content),
                                      ("residual", self.residual)) if v is not None})
        return {**out, **self.extra}

    @classmethod
    def from_json(cls, data: Any, *, path: str | None = None) -> Budget:
        budget = super().from_json(data, path=path)
        path = path or cls.__name__
        extra = {k: None if v is None else BudgetEntry.from_json(v, path=f"{path}.{k}")
                 for k, v in budget.extra.items()}
        return budget.replace(extra=extra)


@dataclass(frozen=True, kw_only=True)
class Geometry(Record):
    """The audit's own geometry: the size the pixel evidence is measured at and how much the audit itself
    enlarged the images to get there. audit.json also holds ``stated`` and ``statement``, derived from these."""
    size: int  # the side every image is resized to for the pixel evidence
    requested: int  # --size
    enlarge: bool  # --enlarge: resize to --size even when that enlarges
    native_median: int | None  # median of the images' longer sides (None: no readable header)
    native_min: int | None
    native_max: int | None
    n_enlarged: int  # images the audit enlarged
    max_enlargement: float  # the largest factor size / native side

    @property
    def stated(self) -> bool:
        """Whether the audit's own enlargement is large enough to be said wherever its results are."""
        return self.max_enlargement > STATED_ENLARGEMENT

    def statement(self) -> str:
        """One sentence on the audit's resizing ("" when it only kept or shrank the images)."""
        if not self.n_enlarged:
            return ""
        text = (f"the audit itself enlarged {self.n_enlarged} image(s) to {self.size} px, up to "
                f"{self.max_enlargement:.1f}x their native size")
        if self.stated:
            text += (": patterns at the period of that resampling are the audit's, not the data's (both classes "
                     "are resized alike); audit without --enlarge to measure at native size")
        return text

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "stated": self.stated, "statement": self.statement()}


@dataclass(frozen=True, kw_only=True)
class SplitSummary(_Part):
    """One split's evidence (or all splits together: then no ``folder``); only the overall one has a budget."""
    folder: str | None = _field(omit=True)
    n_images: int
    n_real: int
    n_fake: int
    cue: CuePart = _field(inline=True)
    pixels: PixelPart = _field(inline=True)
    budget: Budget | None = _field(omit=True)


@dataclass(frozen=True, kw_only=True)
class AuditSummary(_Part):
    """``audit.json``: the overall evidence (its keys at the top level), each split's, the geometry and the
    verdict in plain sentences."""
    SCHEMA = AUDIT_SCHEMA_VERSION
    NAME = "audit.json"

    schema_version: int
    data: str
    data_resolved: str
    overall: SplitSummary = _field(inline=True)
    per_split: dict[str, SplitSummary]
    geometry: Geometry
    n_skipped: int
    settings: dict[str, Any]  # AuditSettings as given
    warnings: list[str]
    verdict: str

    def split(self, name: str) -> SplitSummary:
        """``"all"`` (the overall evidence) or a split by name."""
        if name == "all":
            return self.overall
        if name not in self.per_split:
            raise ValueError(f"split {name!r} is not in this audit; it has all"
                             + "".join(f", {s}" for s in self.per_split))
        return self.per_split[name]


__all__ = ["AUDIT_SCHEMA_VERSION", "AuditSummary", "Budget", "BudgetEntry", "CornerShare", "CueAuc", "CuePart",
           "Direction", "FingerprintPeak", "Geometry", "Localisation", "PixelPart", "RecordError", "ResamplingScan",
           "SplitSummary", "STATED_ENLARGEMENT"]
