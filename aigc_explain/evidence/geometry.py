"""The audit's own geometry, kept apart from the data's: at which size the pixel evidence is measured and how
much the audit itself resized the images to get there. By default the audit never enlarges: it works at the
images' native size when that is at most ``--size`` (the median side, so one odd image does not set it), and
shrinks larger images to ``--size``. ``--enlarge`` resizes to ``--size`` whatever it takes; an enlargement
over ``STATED_ENLARGEMENT`` is then written into audit.json, audit.md, the panels and the verdict, since an
up-sampling of the audit's making leaves periodic traces of its own in the residual and its spectrum."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from PIL import Image

STATED_ENLARGEMENT = 2.0


@dataclass(frozen=True)
class Geometry:
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
        return {**asdict(self), "stated": self.stated, "statement": self.statement()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Geometry:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})


def native_sides(paths: Sequence[str]) -> list[int]:
    """The longer side of each readable image, from its header (unreadable files are left to the main pass)."""
    sides = []
    for path in paths:
        try:
            with Image.open(path) as im:
                sides.append(max(im.size))
        except Exception:  # noqa: BLE001 - the main pass lists the file in skipped.csv with its reason
            continue
    return sides


def choose_geometry(sides: Sequence[int], requested: int, *, enlarge: bool = False) -> Geometry:
    """The audit size for images of these native (longer) sides; see the module docstring."""
    if not sides:
        return Geometry(requested, requested, enlarge, None, None, None, 0, 1.0)
    arr = np.asarray(sides)
    median = int(np.median(arr))
    size = requested if enlarge else max(16, min(requested, median))
    factors = size / arr
    return Geometry(size, requested, enlarge, median, int(arr.min()), int(arr.max()),
                    int((factors > 1.0 + 1e-9).sum()), float(max(1.0, factors.max())))
