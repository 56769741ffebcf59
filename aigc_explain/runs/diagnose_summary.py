"""The typed summary of a ``diagnose`` run (``diagnose.json``): what a detector's decision rests on.

Per variant (a frequency band removed or kept alone, the fakes' spectral peaks removed, the patches shuffled,
a re-encoding) and per class, the change of p(fake) with its 95% interval, the share of decisions that flip and
the accuracy; then the peaks that were looked for, the patch map's per-class means and the verdict in plain
sentences. ``to_json()`` gives the object written today, key for key; ``from_json()`` checks every value.
Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aigc_explain.runs.records import Record, key
from aigc_explain.runs.summaries import AmpChoice  # noqa: F401 (the diagnose summary records it; re-exported)

DIAGNOSE_SCHEMA_VERSION = 1
CLASSES = ("real", "fake")


@dataclass(frozen=True)
class MeanChange(Record):
    """A mean change with its 95% bootstrap interval (None where undefined)."""
    mean: float | None
    ci95: tuple[float | None, float | None] = (None, None)


@dataclass(frozen=True)
class ClassChange(Record):
    """One class under one variant; every value None when the class has no image."""
    n: int
    prob_change: MeanChange  # of p(fake)
    flipped: float | None  # share of the class's decisions that flip
    accuracy: float | None  # under the variant
    clean_accuracy: float | None


class Effect(Record):
    """What a variant does to each class (``real``, ``fake``), to the accuracy and to ROC AUC."""

    def part(self, label: str) -> ClassChange:
        """The class ``label`` ("real" or "fake")."""
        if label not in CLASSES:
            raise ValueError(f"class {label!r} is not one of {', '.join(CLASSES)}")
        return getattr(self, label)

    def n_images(self) -> int:
        return sum(self.part(c).n for c in CLASSES)


@dataclass(frozen=True)
class CleanEffect(Effect):
    """The detector on the images as they are (its prob_change is 0, flipped 0)."""
    real: ClassChange
    fake: ClassChange
    accuracy: float | None
    auc: float | None


@dataclass(frozen=True)
class BandEffect(Effect):
    """A radial band [lo, hi) cycles/pixel removed (``mode`` "remove") or kept alone ("keep")."""
    lo: float
    hi: float
    mode: str
    name: str
    real: ClassChange
    fake: ClassChange
    accuracy: float | None
    auc: float | None


@dataclass(frozen=True)
class PeakEffect(Effect):
    """The fakes' periodic spectral peaks removed: the unshifted FFT bins and their frequencies."""
    bins: list[list[int]]
    freqs: list[list[float]]
    name: str
    real: ClassChange
    fake: ClassChange
    accuracy: float | None
    auc: float | None


@dataclass(frozen=True)
class ShuffleEffect(Effect):
    """The image's patch×patch tiles permuted (seeded)."""
    patch: int
    seed: int
    name: str
    real: ClassChange
    fake: ClassChange
    accuracy: float | None
    auc: float | None


@dataclass(frozen=True)
class ReencodeEffect(Effect):
    """Every image re-encoded in memory (``variant``: jpeg:Q or png) before the detector's resize."""
    variant: str
    name: str
    real: ClassChange
    fake: ClassChange
    accuracy: float | None
    auc: float | None


@dataclass(frozen=True)
class RelianceMeasures(Record):
    """The measurements the verdict reads (``checks.reliance_summary.summarize_measured``)."""
    clean: CleanEffect
    bands: list[BandEffect] = field(default_factory=list)
    peaks: PeakEffect | None = None
    shuffle: list[ShuffleEffect] = field(default_factory=list)
    reencode: list[ReencodeEffect] = field(default_factory=list)

    def removed_bands(self) -> list[BandEffect]:
        """The bands removed one at a time that some fake was measured under, lowest first."""
        return [b for b in self.bands if b.mode == "remove" and b.fake.n]

    def variants(self) -> list[Effect]:
        """Every variant measured, in diagnose.md's order: bands, peaks, shuffles, re-encodings."""
        return [*self.bands, *([self.peaks] if self.peaks else []), *self.shuffle, *self.reencode]


@dataclass(frozen=True)
class PeaksFound(Record):
    """The fakes' periodic spectral peaks found by the audit's fingerprint rule (``checks.spectral_peaks``)."""
    found: bool
    bins: list[list[int]]  # unshifted FFT indices
    freqs: list[list[float]]  # (fy, fx) cycles/pixel
    n_real: int
    n_fake: int
    rule: str


@dataclass(frozen=True)
class PatchMapClass(Record):
    """One class's mean patch map: p(fake) with only each tile sharp, the all-blurred score and the spread."""
    n: int
    mean_map: list[list[float]] = key("map")
    blurred: float
    spread: float


@dataclass(frozen=True)
class PatchMapSummary(Record):
    patch: int
    n: int
    classes: dict[str, PatchMapClass]
    cam: str | None


@dataclass(frozen=True, kw_only=True)
class DiagnoseSummary(Record):
    """``diagnose.json``."""
    SCHEMA = DIAGNOSE_SCHEMA_VERSION
    NAME = "diagnose.json"

    schema_version: int
    images: str
    n_images: int
    n_real: int
    n_fake: int
    n_skipped: int
    threshold: float
    clean: CleanEffect
    bands: list[BandEffect]
    peaks: PeakEffect | None
    shuffle: list[ShuffleEffect]
    reencode: list[ReencodeEffect]
    peaks_found: PeaksFound | None  # None: peaks were not looked for (--no-peaks)
    patch_map: PatchMapSummary | None
    verdict: list[str]
    settings: dict[str, Any]  # checks.diagnose_run.DiagnoseSettings
    amp: AmpChoice
    how: dict[str, str]  # how each variant was made, in words
    warnings: list[str] = field(default_factory=list)

    @property
    def measures(self) -> RelianceMeasures:
        return RelianceMeasures(clean=self.clean, bands=self.bands, peaks=self.peaks, shuffle=self.shuffle,
                                reencode=self.reencode)
