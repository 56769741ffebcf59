"""The audit's own geometry, kept apart from the data's: at which size the pixel evidence is measured and how
much the audit itself resized the images to get there. By default the audit never enlarges: it works at the
images' native size when that is at most ``--size`` (the median side, so one odd image does not set it), and
shrinks larger images to ``--size``. ``--enlarge`` resizes to ``--size`` whatever it takes; an enlargement
over ``STATED_ENLARGEMENT`` is then written into audit.json, audit.md, the panels and the verdict, since an
up-sampling of the audit's making leaves periodic traces of its own in the residual and its spectrum."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from aigc_explain.runs.audit_summary import STATED_ENLARGEMENT, Geometry  # the typed record audit.json holds

__all__ = ["Geometry", "STATED_ENLARGEMENT", "choose_geometry", "native_sides"]


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
        return Geometry(size=requested, requested=requested, enlarge=enlarge, native_median=None, native_min=None,
                        native_max=None, n_enlarged=0, max_enlargement=1.0)
    arr = np.asarray(sides)
    median = int(np.median(arr))
    size = requested if enlarge else max(16, min(requested, median))
    factors = size / arr
    return Geometry(size=size, requested=requested, enlarge=enlarge, native_median=median, native_min=int(arr.min()),
                    native_max=int(arr.max()), n_enlarged=int((factors > 1.0 + 1e-9).sum()),
                    max_enlargement=float(max(1.0, factors.max())))
