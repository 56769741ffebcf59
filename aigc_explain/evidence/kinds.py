"""The audit's kinds of evidence behind one small protocol, so that the gathering loop (``gather``) runs over a
tuple of kinds (``gather.EVIDENCE_KINDS``) instead of naming each, and a new data-side cue is one class there.
The file cues and the budget's feature kinds are here, the pixel maps' kinds in ``pixel_kinds``.

A kind is built per split (and once for all splits together; a budget row only then) from a ``Context`` and then
* ``add(batch)`` folds in one ``Batch``: images at audit size, labels, cue rows and native-size features; the
  residuals and their energy are computed once per batch and shared by every split's kinds (``Batch.once``
  shares a kind's own per-image features the same way);
* ``merge(other)`` folds in another shard's kind of the same settings (other images);
* ``state_dict()`` gives its state as plain numpy arrays (for ``np.savez``);
* ``summary()`` gives its typed part of audit.json (``runs.audit_summary``), None where it writes none;
* ``maps()`` gives its maps for pixel_evidence.npz (both classes needed), ``{}`` where it has none.
A kind that reads each image at native size (before the audit's resize) also has ``image_features(rgb)``:
called once per image as it is read, its vectors reach ``add`` as ``batch.native[name]``. A kind that must
look at the data before the pass also has ``calibrate(images)``: called once per audit, before the pass, with
a seeded sample of the images at native size and without their labels (the cross-validated AUCs stay honest);
what it returns (a ``Record``) reaches every kind of that name, of every split and shard, as
``ctx.calibration[name]`` (a kind that calibrates refuses to merge with one of another calibration). A kind
with ``budget = True`` is a row of the budget: its summary is a ``BudgetEntry`` (``FeatureKind``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from aigc_explain.evidence.budget import kind_budget
from aigc_explain.evidence.classifier import cue_auc, shortcut_verdict, single_cue_aucs
from aigc_explain.evidence.features import (ResidualFeatures, content_features, content_names, history_features,
                                            history_names, residual_names)
from aigc_explain.evidence.pixels import residual_energy, residual_maps
from aigc_explain.evidence.resampling import scan_resampling
from aigc_explain.runs.audit_summary import BudgetEntry, CuePart, ResamplingScan
from aigc_explain.runs.records import Record


@dataclass(frozen=True)
class Context:
    """What every kind of one audit shares: its settings (``gather.AuditSettings``), the audit size, the
    pooling block of the localisation grid and the kinds' calibrations by name (see the module docstring)."""
    settings: Any
    size: int
    block: int
    calibration: dict[str, Record] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.size, self.size)

    @property
    def grid(self) -> tuple[int, int]:
        return (self.size // self.block, self.size // self.block)

    @property
    def fracs(self) -> tuple[float, float, float]:
        s = self.settings
        return (s.corner_frac, s.center_frac, s.border_frac)


class Batch:
    """Up to ``gather.BATCH`` images at audit size ((N, H, W, 3) uint8), their 0/1 labels, file-cue rows and
    the native-size features of the kinds that read them (``native[name]``, (N, F))."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, rows: list[dict[str, Any]],
                 native: dict[str, np.ndarray]) -> None:
        self.images, self.labels, self.rows, self.native = images, labels, rows, native
        self._once: dict[str, Any] = {}

    @cached_property
    def residuals(self) -> np.ndarray:
        return residual_maps(list(self.images))

    @cached_property
    def energy(self) -> np.ndarray:
        return residual_energy(self.residuals)

    def once(self, key: str, make: Callable[[], Any]) -> Any:
        """``make()`` the first time ``key`` is asked for, the same value after (one split's kind computes
        a batch's features, every other split's kind of that name reuses them)."""
        if key not in self._once:
            self._once[key] = make()
        return self._once[key]


@runtime_checkable
class EvidenceKind(Protocol):
    """One kind of data-side evidence (see the module docstring)."""
    name: str

    def add(self, batch: Batch) -> None: ...

    def merge(self, other: Any) -> None: ...

    def state_dict(self) -> dict[str, np.ndarray]: ...

    def summary(self) -> Record | None: ...

    def maps(self) -> dict[str, np.ndarray]: ...


def two_classes(labels: list[int]) -> bool:
    y = np.asarray(labels)
    return min((y == 0).sum(), (y == 1).sum()) >= 2


def check_merge(kind: Any, other: Any) -> None:
    if type(other) is not type(kind):
        raise ValueError(f"other must be a {type(kind).__name__}, got {type(other).__name__}; merge like with like")


class PerImage:
    """Per-image rows (a feature vector, a cue row) and their labels, kept in reading order."""

    def __init__(self) -> None:
        self.rows: list[Any] = []
        self.labels: list[int] = []

    def _extend(self, rows: Any, labels: np.ndarray) -> None:
        self.rows.extend(rows)
        self.labels.extend(int(y) for y in labels)

    def merge(self, other: Any) -> None:
        check_merge(self, other)
        self._extend(other.rows, np.asarray(other.labels))


class FileCueKind(PerImage):
    """Each image's file cues (``cues.read_cues`` rows); summary() is the cross-validated cue classifier and
    each cue's own AUC. maps(): none — a file cue is a fact of the file, not of a place in it.
    state_dict(): the rows are mixed-type header facts, so each cue is an object array (``np.load`` needs
    ``allow_pickle=True`` to read them back)."""
    name = "cues"

    def __init__(self, ctx: Context) -> None:
        super().__init__()
        self.settings = ctx.settings

    def add(self, batch: Batch) -> None:
        self._extend(batch.rows, batch.labels)

    def state_dict(self) -> dict[str, np.ndarray]:
        names = list(self.rows[0]) if self.rows else []
        return {"labels": np.asarray(self.labels, np.int64),
                **{n: np.array([r.get(n) for r in self.rows], dtype=object) for n in names}}

    def summary(self) -> CuePart:
        if not two_classes(self.labels):
            return CuePart(auc=None, ci95=(None, None), cues=[])
        s, labels = self.settings, np.array(self.labels)
        fit = cue_auc(self.rows, labels, folds=s.folds, seed=s.seed, n_boot=s.n_boot)
        single = single_cue_aucs(self.rows, labels)
        return CuePart(auc=fit.auc, ci95=(fit.ci_low, fit.ci_high), cues=single, folds=fit.folds, model=fit.model,
                       verdict=shortcut_verdict(fit.auc, (fit.ci_low, fit.ci_high), single))

    def maps(self) -> dict[str, np.ndarray]:
        return {}


class FeatureKind(PerImage):
    """A budget row: a float vector per image with named columns, and the cross-validated AUC of a classifier
    on those vectors alone (``budget.kind_budget``). maps(): none — per-image vectors have no place in the
    image. A subclass gives ``name``, ``names()`` and ``features(batch)`` ((N, F), or ``image_features``)."""
    budget: ClassVar[bool] = True

    def __init__(self, ctx: Context) -> None:
        super().__init__()
        self.ctx = ctx

    def names(self) -> list[str]:
        raise NotImplementedError

    def features(self, batch: Batch) -> np.ndarray:
        return batch.native[self.name]

    def add(self, batch: Batch) -> None:
        self._extend(batch.once(self.name, lambda: self.features(batch)), batch.labels)

    def state_dict(self) -> dict[str, np.ndarray]:
        rows = np.stack(self.rows) if self.rows else np.zeros((0, len(self.names())), np.float32)
        return {"features": rows, "labels": np.asarray(self.labels, np.int64)}

    def summary(self) -> BudgetEntry | None:
        """Its budget row (the cross-validated classifier, overall only), None without two of each class."""
        if not two_classes(self.labels):
            return None
        s = self.ctx.settings
        return kind_budget(np.stack(self.rows), np.array(self.labels), self.names(), folds=s.folds, seed=s.seed,
                           n_boot=s.n_boot)

    def maps(self) -> dict[str, np.ndarray]:
        return {}


class HistoryKind(FeatureKind):
    """The processing history, read at native size: double JPEG compression and resampling cues, and the
    double-compression cue once more on the grid before a resize between the saves, when ``calibrate`` found
    one (``resampling.scan_resampling``). state_dict() adds ``resampling_factor`` (NaN: none)."""
    name = "history"

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.resampling: ResamplingScan | None = ctx.calibration.get(self.name)

    @property
    def factor(self) -> float | None:
        """The resize factor its resampled combs undo (None: none found, or no scan)."""
        return None if self.resampling is None else self.resampling.factor

    def names(self) -> list[str]:
        return history_names(resampled=self.factor is not None)

    def calibrate(self, images: Iterable[np.ndarray]) -> ResamplingScan:
        return scan_resampling(images)

    def image_features(self, rgb: np.ndarray) -> np.ndarray:
        return history_features(rgb, resampled=self.factor)

    def merge(self, other: Any) -> None:
        check_merge(self, other)
        if other.factor != self.factor:
            def undone(f: float | None) -> str:
                return "no resize undone" if f is None else f"a resize by {f:.4f} undone"
            raise ValueError(f"other read its history with {undone(other.factor)} but this one with "
                             f"{undone(self.factor)}; gather the shards of one audit with one calibration "
                             f"(the same Context.calibration)")
        super().merge(other)

    def state_dict(self) -> dict[str, np.ndarray]:
        return {**super().state_dict(), "resampling_factor": np.array(np.nan if self.factor is None else self.factor)}

    def summary(self) -> BudgetEntry | None:
        entry = super().summary()
        return entry if entry is None or self.resampling is None else entry.replace(resampling=self.resampling)


class ContentKind(FeatureKind):
    """The framing, composition and colour: coarse thumbnails and colour statistics at audit size."""
    name = "content"

    def names(self) -> list[str]:
        return content_names()

    def features(self, batch: Batch) -> np.ndarray:
        return np.stack([content_features(img) for img in batch.images])


class ResidualKind(FeatureKind):
    """The high-frequency noise residual at audit size: its energy statistics, spectrum bands and regions."""
    name = "residual"

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.extract = ResidualFeatures(ctx.shape, ctx.fracs)  # frequency bands and region masks, once

    def names(self) -> list[str]:
        return residual_names(self.ctx.shape)

    def features(self, batch: Batch) -> np.ndarray:
        return self.extract(batch.residuals, batch.energy)
