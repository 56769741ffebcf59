"""Faithfulness of CAMs: deletion/insertion curves with their AUC, and grad-cam's ROAD, each reported next
to the same numbers for trivial maps (random, centre Gaussian, corner-only, Sobel edges) so a reader sees
whether the CAM beats a map that knows nothing about the detector.

Deletion: rank pixels by the map (descending; ties broken at random, seeded), replace the top fraction f
of pixels with a baseline image for f = 0, 1/K, ..., 1 and record the score; insertion starts from the
baseline and reveals the top fraction. Score = probability of the explained class: sigmoid(logit) for
"fake", 1 - sigmoid(logit) for "real". AUC: trapezoid rule over f in [0, 1]. A faithful map has a low
deletion AUC and a high insertion AUC. Baseline images (built in normalised input space):
  blur  - the image blurred with a Gaussian of sigma = S/16 pixels (S = input size),
  mean  - each channel's mean over the image (the image's own mean colour),
  zero  - zeros after normalisation, i.e. the normalisation mean colour (ImageNet grey).
ROAD (Rong et al. 2022) uses grad-cam's ROADMostRelevantFirstAverage / ROADLeastRelevantFirstAverage
with our LogitTarget, so its numbers are changes of the signed logit; combined = (LeRF - MoRF) / 2 as
in grad-cam's ROADCombined (higher is better).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from aigc_explain.analysis.regions import region_masks
from aigc_explain.analysis.stats import summarize
from aigc_explain.checks.randomization import check_cam_settings, layer_cams, load_inputs, to_unit_range
from aigc_explain.core.models import Detector
from aigc_explain.explain.folder import CamSettings
from aigc_explain.explain.layers import frozen_eval, resolve_layer
from aigc_explain.explain.maps import upsample_positive
from aigc_explain.explain.methods import signs_for
from aigc_explain.explain.road import ROAD_PERCENTILES, road_scores
from aigc_explain.runs.check_summaries import (FAITHFULNESS_SCHEMA_VERSION, AucDifference, FaithfulnessRow,
                                               FaithfulnessSummary, RoadInfo)

BASELINES = ("blur", "mean", "zero")
TRIVIAL_MAPS = ("random", "center_gaussian", "corner", "sobel")
BLUR_SIGMA_FRAC = 1 / 16
CENTER_SIGMA_FRAC = 0.25  # the centre Gaussian's sigma as a fraction of the shorter side


# -------------------------------------------------------------------------------------- trivial maps
def center_gaussian_map(h: int, w: int, *, sigma_frac: float = CENTER_SIGMA_FRAC) -> np.ndarray:
    """exp(-d^2 / 2 sigma^2) around the image centre, sigma = sigma_frac * min(h, w); peak 1."""
    rows, cols = np.arange(h)[:, None] - (h - 1) / 2, np.arange(w)[None, :] - (w - 1) / 2
    sigma = sigma_frac * min(h, w)
    return np.exp(-(rows ** 2 + cols ** 2) / (2 * sigma ** 2))


def corner_map(h: int, w: int, *, corner_frac: float = 0.25) -> np.ndarray:
    """1 on the four corner squares of ``regions.region_masks``, 0 elsewhere."""
    return region_masks(h, w, corner_frac=corner_frac)["corner"].astype(np.float64)


def sobel_map(gray: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude of a grayscale (H, W) image (reflect padding: a constant image gives 0)."""
    from scipy import ndimage

    gray = np.asarray(gray, dtype=np.float64)
    return np.hypot(ndimage.sobel(gray, axis=0), ndimage.sobel(gray, axis=1))


def trivial_maps(x: torch.Tensor, mean: Sequence[float], std: Sequence[float], *,
                 seed: int = 0) -> dict[str, np.ndarray]:
    """The four (N, H, W) maps that know nothing about the detector; Sobel on the ITU-R 601 luma."""
    n, _, h, w = x.shape
    rgb = to_unit_range(x.detach().float().cpu(), mean, std).numpy()
    gray = 0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]
    return {"random": np.random.default_rng([seed, 1]).random((n, h, w)),
            "center_gaussian": np.broadcast_to(center_gaussian_map(h, w), (n, h, w)).copy(),
            "corner": np.broadcast_to(corner_map(h, w), (n, h, w)).copy(),
            "sobel": np.stack([sobel_map(g) for g in gray])}


def baseline_images(x: torch.Tensor, kind: str) -> torch.Tensor:
    """What deleted pixels become (see module docstring), in the same normalised space as ``x``."""
    from torchvision.transforms.functional import gaussian_blur

    if kind == "blur":
        sigma = max(1.0, BLUR_SIGMA_FRAC * min(x.shape[-2:]))
        kernel = min(2 * math.ceil(3 * sigma) + 1, 2 * ((min(x.shape[-2:]) - 1) // 2) + 1)  # reflect pad < side
        return gaussian_blur(x, [kernel, kernel], [sigma, sigma])
    if kind == "mean":
        return x.mean(dim=(2, 3), keepdim=True).expand_as(x).clone()
    if kind == "zero":
        return torch.zeros_like(x)
    raise ValueError(f"baseline {kind!r} is not one of {', '.join(BASELINES)}; e.g. --baselines blur,mean,zero")


# ------------------------------------------------------------------------------------------- curves
def pixel_ranks(maps: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """(N, H, W) int ranks, 0 = most relevant; equal values are ordered at random (seeded)."""
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 3:
        raise ValueError(f"maps must be (N, H, W); got shape {maps.shape}")
    n, h, w = maps.shape
    flat = np.nan_to_num(maps.reshape(n, -1), nan=-np.inf)
    ties = np.random.default_rng([seed, 2]).random(flat.shape)
    ranks = np.empty(flat.shape, dtype=np.int64)
    for i in range(n):
        order = np.lexsort((ties[i], -flat[i]))  # the last key sorts first
        ranks[i, order] = np.arange(h * w)
    return ranks.reshape(n, h, w)


def class_probability(logits: torch.Tensor, signs: torch.Tensor) -> torch.Tensor:
    """sigmoid(sign * logit): the probability of "fake" for +1, of "real" (1 - sigmoid) for -1."""
    return torch.sigmoid(signs.to(logits) * logits)


def fractions(steps: int) -> np.ndarray:
    if not isinstance(steps, int) or steps < 2:
        raise ValueError(f"--steps must be an integer >= 2, got {steps!r}")
    return np.linspace(0.0, 1.0, steps + 1)


def auc(curve: np.ndarray, fracs: np.ndarray) -> np.ndarray:
    """Trapezoid-rule area under each curve (last axis) over the fractions (by hand: np.trapezoid needs
    numpy 2, np.trapz is gone from it)."""
    curve, fracs = np.asarray(curve, dtype=np.float64), np.asarray(fracs, dtype=np.float64)
    return ((curve[..., 1:] + curve[..., :-1]) / 2 * np.diff(fracs)).sum(axis=-1)


def _scores(model: nn.Module, x: torch.Tensor, signs: torch.Tensor) -> np.ndarray:
    return class_probability(model(x)[:, 0], signs.to(x.device)).double().cpu().numpy()


@torch.no_grad()
def perturbation_curves(model: nn.Module, x: torch.Tensor, ranks: np.ndarray, baseline: torch.Tensor,
                        signs: torch.Tensor, *, steps: int = 20, batch_size: int = 64) -> dict[str, np.ndarray]:
    """{"deletion", "insertion"}: (N, steps + 1) class probabilities at fractions 0, 1/steps, ..., 1
    (``model`` in eval mode; ``ranks`` from ``pixel_ranks``; ``baseline`` like ``x``).

    All interior perturbed images of all N images are evaluated in chunks of ``batch_size``; the end
    points (the image itself and the baseline image) are shared by both curves, so they agree exactly.
    """
    device = next(model.parameters()).device
    n, _, h, w = x.shape
    counts = np.rint(fractions(steps) * h * w).astype(np.int64)
    rk = torch.from_numpy(np.asarray(ranks)).to(device)
    x, baseline, signs = x.to(device), baseline.to(device), signs.float().to(device)
    full, base = _scores(model, x, signs), _scores(model, baseline, signs)
    out = {"deletion": np.empty((n, steps + 1)), "insertion": np.empty((n, steps + 1))}
    out["deletion"][:, 0], out["deletion"][:, -1] = full, base
    out["insertion"][:, 0], out["insertion"][:, -1] = base, full
    jobs = [(kind, i, j) for kind in ("deletion", "insertion") for i in range(n) for j in range(1, steps)]
    for start in range(0, len(jobs), batch_size):
        chunk = jobs[start:start + batch_size]
        ii = torch.tensor([i for _, i, _ in chunk], device=device)
        top = rk[ii] < torch.tensor([int(counts[j]) for _, _, j in chunk], device=device).view(-1, 1, 1)
        deleting = torch.tensor([k == "deletion" for k, _, _ in chunk], device=device).view(-1, 1, 1)
        use_base = (top == deleting).unsqueeze(1)  # deletion: top pixels from the baseline; insertion: the rest
        scores = _scores(model, torch.where(use_base, baseline[ii], x[ii]), signs[ii])
        for (kind, i, j), s in zip(chunk, scores):
            out[kind][i, j] = s
    return out


def ranks_to_unit(ranks: np.ndarray) -> np.ndarray:
    """Ranks (0 = most relevant) as a tie-free map in [0, 1], 1 = most relevant, for ROAD."""
    ranks = np.asarray(ranks)
    top = max(ranks.shape[1] * ranks.shape[2] - 1, 1)
    return 1.0 - ranks.astype(np.float64) / top


# ---------------------------------------------------------------------------------------------- run
@dataclass(kw_only=True)
class FaithfulnessResult:
    method: str
    layer: str
    target: str
    baselines: tuple[str, ...]
    map_kinds: list[str]  # the CAM method first, then TRIVIAL_MAPS
    paths: list[str]
    fractions: np.ndarray
    curves: dict[tuple[str, str, str], np.ndarray]  # (map kind, baseline, "deletion"|"insertion") -> (N, K+1)
    road: dict[str, dict[str, np.ndarray]]  # map kind -> "morf"/"lerf"/"combined" per ROAD image
    road_paths: list[str]
    road_percentiles: tuple[int, ...]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def aucs(self, kind: str, baseline: str, curve: str) -> np.ndarray:
        return auc(self.curves[(kind, baseline, curve)], self.fractions)

    def rows(self) -> list[FaithfulnessRow]:
        """One row per map kind x baseline: AUC means with 95% bootstrap intervals, ROAD means."""
        rows = []
        for kind in self.map_kinds:
            measured = {f"road_{k}": summarize(v).mean for k, v in self.road.get(kind, {}).items()}
            road = {f"road_{k}": measured.get(f"road_{k}") for k in ("morf", "lerf", "combined")}
            for b in self.baselines:
                aucs = {}
                for curve in ("deletion", "insertion"):
                    s = summarize(self.aucs(kind, b, curve))
                    aucs.update({f"{curve}_auc": s.mean, f"{curve}_ci_low": s.lo, f"{curve}_ci_high": s.hi})
                rows.append(FaithfulnessRow(kind=kind, baseline=b, n=len(self.paths), **aucs, **road))
        return rows

    def comparisons(self) -> dict[str, dict[str, AucDifference]]:
        """Paired per-image AUC differences CAM - trivial map, per baseline and trivial map (deletion: < 0 is a
        win)."""
        cam = self.map_kinds[0]
        return {b: {t: AucDifference(**{c: summarize(self.aucs(cam, b, c) - self.aucs(t, b, c))
                                        for c in ("deletion", "insertion")})
                    for t in self.map_kinds[1:]} for b in self.baselines}

    def verdict(self) -> tuple[str, bool]:
        """Does the CAM beat every trivial map (lower mean deletion AUC, higher mean insertion AUC) with every
        baseline? Also counts the wins whose paired 95% interval excludes 0 ("clear")."""
        losses, clear, total = [], 0, 0
        for b, per in self.comparisons().items():
            for t, diff in per.items():
                for curve, sign, verb in (("deletion", -1, "deletes"), ("insertion", 1, "inserts")):
                    interval = getattr(diff, curve)
                    mean, ci, total = interval.mean, interval.ci95, total + 1
                    if not (mean is not None and sign * mean > 0):
                        losses.append(f"{t} {verb} as fast or faster with the {b} baseline")
                    elif all(v is not None and sign * v > 0 for v in ci):
                        clear += 1
        n, cam = len(self.paths), self.map_kinds[0]
        counted = f"{clear} of {total} comparisons are clear wins (paired 95% interval excludes 0)"
        if not losses:
            return (f"{cam} beats every trivial map ({', '.join(self.map_kinds[1:])}) on {n} images: lower mean "
                    f"deletion AUC and higher mean insertion AUC with every baseline ({', '.join(self.baselines)}); "
                    f"{counted}", True)
        return (f"{cam} does NOT beat every trivial map on {n} images: {'; '.join(losses)}; {counted}. Where it "
                f"loses, its pixel ordering is no better than a map that knows nothing about the detector", False)

    def summary(self) -> FaithfulnessSummary:
        """faithfulness.json without the run folder's provenance (``checks.jobs`` adds it)."""
        verdict, beats = self.verdict()
        mean_curves = {f"{k}|{b}|{c}": v.mean(axis=0).tolist() for (k, b, c), v in self.curves.items()}
        road = RoadInfo(percentiles=list(self.road_percentiles), n_images=len(self.road_paths),
                        units="change of the signed logit", paths=list(self.road_paths))
        return FaithfulnessSummary(
            schema_version=FAITHFULNESS_SCHEMA_VERSION, method=self.method, layer=self.layer, target=self.target,
            n_images=len(self.paths), fractions=self.fractions.tolist(), baselines=list(self.baselines),
            map_kinds=list(self.map_kinds), score="probability of the explained class", rows=self.rows(),
            comparisons=self.comparisons(), mean_curves=mean_curves, verdict=verdict, beats_all=beats, road=road,
            paths=list(self.paths), n_skipped=len(self.skipped))


def run_faithfulness(detector: Detector, images: Any, *, cam: CamSettings = CamSettings(), steps: int = 20,
                     baselines: Sequence[str] = BASELINES, max_images: int | None = 64, seed: int = 0,
                     road_percentiles: Sequence[int] = ROAD_PERCENTILES, road_images: int = 16) -> FaithfulnessResult:
    """Deletion/insertion AUC and ROAD of the maps of ``cam``'s method (at its layer, for its target) and of the
    trivial maps on ``images``; ``cam.batch_size`` images per forward pass, perturbed images too."""
    fracs = fractions(steps)
    for b in baselines:
        baseline_images(torch.zeros(1, 3, 16, 16), b)
    check_cam_settings(cam, "the faithfulness check")
    method, target, batch_size = cam.method.lower(), cam.target, cam.batch_size
    inputs = load_inputs(detector, images, max_images=max_images, batch_size=batch_size)
    layer_name, cam_map, logits = _cam_maps(detector, inputs.x, method, cam.layer, target, batch_size, cam.amp)
    x, signs = inputs.x.to(next(detector.parameters()).device), signs_for(target, logits)
    maps = {method: cam_map, **trivial_maps(x, detector.mean, detector.std, seed=seed)}
    ranks = {k: pixel_ranks(m, seed=seed) for k, m in maps.items()}
    curves = {}
    with frozen_eval(detector):
        for b in baselines:
            base = baseline_images(x, b)
            for kind, rank in ranks.items():
                for curve, values in perturbation_curves(detector, x, rank, base, signs, steps=steps,
                                                         batch_size=batch_size).items():
                    curves[(kind, b, curve)] = values
        n_road = min(road_images, len(x)) if road_percentiles else 0
        idx = np.unique(np.linspace(0, len(x) - 1, n_road).round().astype(int)) if n_road else []
        road = {k: road_scores(detector, x[idx], ranks_to_unit(r[idx]), signs[idx], percentiles=road_percentiles,
                               batch_size=batch_size, seed=seed) for k, r in ranks.items()} if len(idx) else {}
    return FaithfulnessResult(method=method, layer=layer_name, target=target, baselines=tuple(baselines),
                              map_kinds=list(maps), paths=inputs.paths, fractions=fracs, curves=curves, road=road,
                              road_paths=[inputs.paths[i] for i in idx], road_percentiles=tuple(road_percentiles),
                              skipped=inputs.skipped)


def _cam_maps(detector: Detector, x: torch.Tensor, method: str, layer: str, target: str, batch_size: int,
              amp: str) -> tuple[str, np.ndarray, np.ndarray]:
    """The CAM as grad-cam shows it (ReLU, then bilinear to input size), with the layer name and logits."""
    name, _ = resolve_layer(detector.backbone, layer, image_size=detector.image_size)
    raw, logits = layer_cams(detector, name, x, target, method=method, batch_size=batch_size, amp=amp)
    return name, upsample_positive(raw, (detector.image_size, detector.image_size)), logits
