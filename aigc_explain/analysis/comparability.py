"""Whether two CAM runs can be compared, and whether a class's corner share can be measured at all.

Two runs are comparable when they explain with the same method, target and layer; otherwise ``compare`` and
``report`` refuse, unless the user says the difference is intended (``--allow-different``), in which case it
stands in ``comparison.json``, on the panel and in ``index.md``. Runs over the same images are compared pair
by pair (sign-flip permutation and Wilcoxon tests on per-image differences) besides the two-group tests.

A measurement that cannot vary is "not measurable at this layer", never given a p-value or a headline: a map
with a side below ``COARSE_SIDE`` cells cannot separate corners from centre (upsampled, each of its cells
spreads over corner and centre alike), and a class whose corner shares are all equal carries no information.
Pure numpy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aigc_explain.runs.comparison_summary import ImageOverlap, SettingDifference
from aigc_explain.runs.records import to_plain
from aigc_explain.runs.summaries import CamSummary


COARSE_SIDE = 4  # a map whose smaller side has fewer cells cannot tell corners from centre
SETTINGS_COMPARED = ("method", "target", "layer")


def setting_differences(summary_a: CamSummary, summary_b: CamSummary,
                        labels: tuple[str, str]) -> list[SettingDifference]:
    """The settings the runs differ in, of method, target and layer (and map size when the layers agree by name
    but not in size, e.g. another input size), each with both runs' values by label."""
    la, lb = labels

    def differ(key: str) -> SettingDifference | None:
        a, b = getattr(summary_a, key), getattr(summary_b, key)
        return None if a == b else SettingDifference(setting=key, values={la: to_plain(a), lb: to_plain(b)})

    out = [d for key in SETTINGS_COMPARED if (d := differ(key))]
    return out or [d for d in (differ("map_size"),) if d]


def describe_differences(differences: list[SettingDifference]) -> str:
    return "; ".join(d.describe() for d in differences)


def refuse_or_record(differences: list[SettingDifference], labels: tuple[str, str], allow: bool) -> list[str]:
    """Nothing when the runs agree; a ValueError when they differ and ``allow`` is off; else the warning lines."""
    if not differences:
        return []
    text = describe_differences(differences)
    if not allow:
        raise ValueError(f"the CAM runs {labels[0]} and {labels[1]} are not comparable: they differ in {text}; "
                         f"explain both with the same --method, --target and --layer, or pass --allow-different "
                         f"if the difference is intended (it is then stated with the results)")
    return [f"the runs differ in {text} (--allow-different): differences between them mix that with the detectors"]


def image_overlap(paths_a: list[str], paths_b: list[str]) -> ImageOverlap:
    """Whether two runs explained the same images (same paths, in any order) and how many they share."""
    sa, sb = set(paths_a), set(paths_b)
    return ImageOverlap(same=sa == sb and len(sa) == len(paths_a) == len(paths_b), n_a=len(paths_a),
                        n_b=len(paths_b), n_shared=len(sa & sb))


def not_measurable(map_size: Any, values: np.ndarray) -> str | None:
    """Why a class's corner share cannot be measured in a run (None when it can)."""
    size = [int(v) for v in (map_size or [])]
    if size and min(size) < COARSE_SIDE:
        return (f"the {size[0]}x{size[1]} map is too coarse to separate corners from centre (side < {COARSE_SIDE}); "
                f"explain an earlier layer (cam --list-layers)")
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size < 2:
        return f"{finite.size} image(s) with a non-blank map: too few to vary"
    if float(np.ptp(finite)) <= 1e-12:
        return f"the corner share is {finite[0]:.3g} for every image: it does not vary at this layer"
    return None


def aligned(paths_a: list[str], values_a: np.ndarray, paths_b: list[str],
            values_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The values of the images both runs hold, in one order (A's)."""
    where = {p: i for i, p in enumerate(paths_b)}
    pairs = [(i, where[p]) for i, p in enumerate(paths_a) if p in where]
    ia = np.array([i for i, _ in pairs], dtype=np.int64)
    ib = np.array([j for _, j in pairs], dtype=np.int64)
    return np.asarray(values_a)[ia], np.asarray(values_b)[ib]
