"""Comparing two CAM runs (e.g. an unaugmented and an augmented detector) class by class.

Per class (all, real, fake): counts (n, n_empty, so nobody compares a class of blank maps without
knowing), each region mass per run with a bootstrap 95% interval, the difference between the runs
with a permutation and a Mann-Whitney p-value (``stats.compare_groups``, NaN dropped), and how far
apart the two mean maps are. Differences are always run A minus run B. Pure numpy (no torch).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from aigc_explain.runs.contract import MASS_KEYS
from aigc_explain.runs.comparison_summary import (COMPARISON_SCHEMA_VERSION, ClassComparison, ComparisonSummary,
                                                  Counts, GroupTest, MapCorrelation, MapDistance, MassComparison,
                                                  ResamplingSettings, RunDescription)
from aigc_explain.runs.reader import CamRun
from aigc_explain.runs.summaries import Regions
from aigc_explain.analysis.comparability import (aligned, image_overlap, not_measurable, refuse_or_record,
                                                 setting_differences)
from aigc_explain.analysis.stats import compare_groups, compare_paired, summarize, to_json_float

log = logging.getLogger(__name__)

CLASSES = ("all", "real", "fake")
EMPTY_WARN_SHARE = 0.1  # warn when at least this share of a class's maps is blank


def common_grid(map_a: np.ndarray, map_b: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Both mean maps on A's grid: B is resampled (bilinear) and renormalised to unit mass when the
    input sizes differ, so a pixel-wise difference means something. Returns (a, b, resampled)."""
    a, b = np.asarray(map_a, dtype=np.float64), np.asarray(map_b, dtype=np.float64)
    if a.shape == b.shape:
        return a, b, False
    from scipy.ndimage import zoom

    factors = (a.shape[0] / b.shape[0], a.shape[1] / b.shape[1])
    resampled = np.maximum(zoom(b, factors, order=1, grid_mode=True, mode="nearest"), 0.0)[: a.shape[0], : a.shape[1]]
    total = resampled.sum()
    return a, resampled / total if total > 0 else resampled, True


def class_maps(run_a: CamRun, run_b: CamRun, group: str) -> tuple[np.ndarray, np.ndarray, bool] | None:
    """The two runs' mean maps of ``group`` on one grid, or None when either run lacks it."""
    a, b = run_a.mean_map(group), run_b.mean_map(group)
    if a is None or b is None:
        return None
    return common_grid(a, b)


def shared_classes(run_a: CamRun, run_b: CamRun) -> list[str]:
    """The classes (all, real, fake) that both runs have images of."""
    return [g for g in CLASSES if run_a.group_mask(g).any() and run_b.group_mask(g).any()]


def _describe(run: CamRun) -> RunDescription:
    s = run.summary
    return RunDescription(path=str(run.path), method=s.method, target=s.target, layer=s.layer, map_size=s.map_size,
                          input_size=s.input_size, n_images=s.n_images, accuracy=s.accuracy, regions=s.regions)


def _counts(run: CamRun, mask: np.ndarray) -> Counts:
    n, n_empty = int(mask.sum()), int(run.cam_empty[mask].sum())
    return Counts(n=n, n_empty=n_empty, empty_share=to_json_float(n_empty / n) if n else None)


def _map_stats(run_a: CamRun, run_b: CamRun, group: str) -> MapDistance:
    maps = class_maps(run_a, run_b, group)
    if maps is None:
        return MapDistance(available=False)
    a, b, resampled = maps
    diff = a - b
    return MapDistance(available=True, shape=a.shape, resampled=resampled,
                       max_abs_difference=float(np.abs(diff).max()), l1_difference=float(np.abs(diff).sum()))


def compare_class(run_a: CamRun, run_b: CamRun, group: str, labels: tuple[str, str], *, n_perm: int = 10000,
                  n_boot: int = 2000, seed: int = 0, paired: bool = False) -> ClassComparison:
    """Counts, per-run mass summaries and between-run tests (paired ones too when both runs explained the
    same images), and mean-map distances for one class. A class whose corner share cannot vary in either run
    gets no test: ``not_measurable`` says why."""
    la, lb = labels
    ma, mb = run_a.group_mask(group), run_b.group_mask(group)
    reasons = [f"{label}: {why}" for label, run, mask in ((la, run_a, ma), (lb, run_b, mb))
               if (why := not_measurable(run.summary.map_size, run.masses["corner_share"][mask]))]
    unmeasured = "; ".join(reasons) or None
    masses = {}
    for key in MASS_KEYS:
        va, vb = run_a.masses[key][ma], run_b.masses[key][mb]
        per_run = {la: summarize(va, n_boot=n_boot, seed=seed), lb: summarize(vb, n_boot=n_boot, seed=seed)}
        if unmeasured:
            masses[key] = MassComparison(per_run=per_run, test=GroupTest(not_measurable=unmeasured))
            continue
        pair = None
        if paired:
            pa, pb = aligned([q for q, m in zip(run_a.predictions.paths, ma) if m], va,
                             [q for q, m in zip(run_b.predictions.paths, mb) if m], vb)
            pair = compare_paired(pa, pb, n_perm=n_perm, seed=seed)
        masses[key] = MassComparison(per_run=per_run, paired=pair,
                                     test=compare_groups(va, vb, n_perm=n_perm, n_boot=n_boot, seed=seed))
    return ClassComparison(counts={la: _counts(run_a, ma), lb: _counts(run_b, mb)}, not_measurable=unmeasured,
                           **masses, mean_map=_map_stats(run_a, run_b, group))


def _warnings(run_a: CamRun, run_b: CamRun, labels: tuple[str, str],
              classes: dict[str, ClassComparison]) -> list[str]:
    out = []
    if run_a.regions != run_b.regions:
        out.append(f"the runs measure regions differently ({labels[0]}: {run_a.regions.to_json()}, {labels[1]}: "
                   f"{run_b.regions.to_json()}); their masses are not comparable")
    for group, entry in classes.items():
        for label, c in entry.counts.items():
            if c.n and c.n_empty / c.n >= EMPTY_WARN_SHARE:
                out.append(f"{label}/{group}: {c.n_empty} of {c.n} maps are blank (no positive mass); "
                           "they are left out of masses and mean maps")
        if entry.mean_map.resampled:
            out.append(f"{group}: the runs' input sizes differ; {labels[1]}'s mean map was resampled to "
                       f"{labels[0]}'s grid for the difference")
    return out


def compare_runs(run_a: CamRun, run_b: CamRun, labels: tuple[str, str] = ("a", "b"), *, n_perm: int = 10000,
                 n_boot: int = 2000, seed: int = 0, allow_different: bool = False,
                 quiet: bool = False) -> ComparisonSummary:
    """The whole comparison (see module docstring) as a ``ComparisonSummary``; differences are A - B. Runs that
    differ in method, target or layer are refused unless ``allow_different`` (then the difference is stated)."""
    la, lb = labels
    if la == lb:
        raise ValueError(f"--labels must name the two runs differently, got {la!r} twice")
    differences = setting_differences(run_a.summary, run_b.summary, (la, lb))
    stated = refuse_or_record(differences, (la, lb), allow_different)
    groups = shared_classes(run_a, run_b)
    if not groups:
        raise ValueError(f"runs {run_a.path} and {run_b.path} share no class of images to compare")
    images = image_overlap(run_a.predictions.paths, run_b.predictions.paths)
    classes = {g: compare_class(run_a, run_b, g, (la, lb), n_perm=n_perm, n_boot=n_boot, seed=seed,
                                paired=images.same) for g in groups}
    warnings = stated + _warnings(run_a, run_b, (la, lb), classes)
    if not images.same:
        warnings.append(f"the runs explain different images ({la}: {images.n_a}, {lb}: {images.n_b}, "
                        f"{images.n_shared} shared): the tests compare two groups, not the same images")
    warnings += [f"{g}: not measurable at this layer ({e.not_measurable})" for g, e in classes.items()
                 if e.not_measurable]
    for w in warnings:
        (log.debug if quiet else log.warning)(w)  # quiet: the caller states them (the report's index.md)
    return ComparisonSummary(
        schema_version=COMPARISON_SCHEMA_VERSION, labels=(la, lb), difference=f"{la} - {lb}",
        runs={la: _describe(run_a), lb: _describe(run_b)}, differences=differences, images=images,
        classes=classes, settings=ResamplingSettings(n_perm=n_perm, n_boot=n_boot, seed=seed, confidence=0.95),
        warnings=warnings)


def map_correlation(map_a: np.ndarray, map_b: np.ndarray) -> MapCorrelation:
    """Pearson and Spearman correlation of two maps' pixels on A's grid (B resampled when sizes differ):
    do two maps (a detector's mean CAM and where the data differ) put their mass in the same places?"""
    from scipy.stats import pearsonr, spearmanr

    a, b, resampled = common_grid(map_a, map_b)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return MapCorrelation(pearson=None, spearman=None, resampled=resampled)
    return MapCorrelation(pearson=float(pearsonr(a.ravel(), b.ravel()).statistic),
                          spearman=float(spearmanr(a.ravel(), b.ravel()).statistic), resampled=resampled)


@dataclass(frozen=True)
class PanelData:
    """What the comparison figure draws: per class both runs' mean maps on one grid (``maps[group][label]``),
    the per-image corner shares of both runs, NaN dropped (``values[group][label]``), and the regions."""
    maps: dict[str, dict[str, np.ndarray]]
    values: dict[str, dict[str, np.ndarray]]
    regions: Regions


def panel_data(run_a: CamRun, run_b: CamRun, labels: tuple[str, str], groups: list[str]) -> PanelData:
    """The comparison figure's data (``PanelData``) for ``groups``."""
    la, lb = labels
    maps, values = {}, {}
    for g in groups:
        pair = class_maps(run_a, run_b, g)
        if pair is not None:
            maps[g] = {la: pair[0], lb: pair[1]}
        values[g] = {label: _finite(run.masses["corner_share"][run.group_mask(g)])
                     for label, run in ((la, run_a), (lb, run_b))}
    return PanelData(maps=maps, values=values, regions=run_a.regions)


def _finite(values: np.ndarray) -> np.ndarray:
    return values[np.isfinite(values)]


def headline(comparison: ComparisonSummary, group: str) -> str:
    """One line: corner share of both runs in ``group`` with intervals and the permutation p."""
    la, lb = comparison.labels
    entry = comparison.classes[group]
    cs = entry.corner_share

    if entry.not_measurable:
        return f"{group}: corner share not measurable at this layer ({entry.not_measurable})"
    p = cs.test.p_permutation
    paired = cs.paired
    tail = "" if not paired or paired.p_sign_flip is None else f", paired p={paired.p_sign_flip:.3g}"
    return (f"{group}: corner share {la} {cs.per_run[la].format()} vs {lb} {cs.per_run[lb].format()}, "
            f"p_perm={'n/a' if p is None else f'{p:.3g}'}{tail}")
