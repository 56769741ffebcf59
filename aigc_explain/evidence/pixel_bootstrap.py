"""Online Poisson bootstrap of region masses of a fake − real difference map, without per-image maps.

Every image gets an independent Poisson(1) weight for each of B replicates (Oza & Russell's online
bootstrap); a replicate keeps, per class, the weighted sum of the images' block-pooled maps and the
sum of weights. A replicate's class means, their difference and its region masses then follow without
ever storing an image. Weights are drawn from a generator seeded by (seed, image id), so they depend
only on the seed and the image, not on the batch split, the order of shards or how they are merged.

Memory: B × (H/k) × (W/k) × 2 classes × 8 bytes (+ B × 2 × 8 for the weights); with B = 200 that is
3.3 MB at 224 px (k = 7, a 32×32 grid) and 160 MB at k = 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from aigc_explain.analysis.regions import check_fractions, region_masks, region_masses
from aigc_explain.analysis.stats import check_count, percentile_interval, to_json_float
from aigc_explain.runs.contract import MASS_KEYS
from aigc_explain.runs.records import Record
from aigc_explain.runs.summaries import Interval

MAX_BLOCK = 8  # auto block cap: within a block, fake > real and fake < real cancel before the ReLU
_REGION_NAMES = ("corner", "center", "border")


@dataclass(frozen=True)
class RegionSummary(Record):
    """Region masses of the class difference, each with its bootstrap interval over ``n`` images; ``empty``
    when the difference is nowhere positive (masses None). ``PixelEvidence.region_summary`` adds the counts."""
    corner_mass: Interval
    center_mass: Interval
    border_mass: Interval
    corner_share: Interval
    empty: bool
    excess_energy: float | None
    n_boot: int
    n_boot_defined: int
    block: int
    grid: tuple[int, int]
    n_real: int = 0
    n_fake: int = 0
    measured_on: str = ""


def block_aligns(h: int, w: int, k: int, fracs: tuple[float, float, float]) -> bool:
    """Whether the region masks of the (h/k, w/k) grid, each cell repeated k×k, equal those at (h, w)."""
    if h % k or w % k:
        return False
    kwargs = dict(zip(("corner_frac", "center_frac", "border_frac"), fracs))
    full = region_masks(h, w, **kwargs)
    try:
        small = region_masks(h // k, w // k, **kwargs)
    except ValueError:  # a region vanishes on the coarse grid
        return False
    return all(np.array_equal(np.kron(small[r], np.ones((k, k), bool)), full[r]) for r in _REGION_NAMES)


def choose_block(h: int, w: int, fracs: tuple[float, float, float], *, max_block: int = MAX_BLOCK) -> int:
    """Largest k <= max_block whose pooled grid keeps the region boundaries exactly (1 always does)."""
    for k in range(min(max_block, h, w), 1, -1):
        if block_aligns(h, w, k, fracs):
            return k
    return 1


def sum_pool(maps: np.ndarray, k: int) -> np.ndarray:
    """(N, H, W) -> (N, H/k, W/k) sums over k×k blocks."""
    n, h, w = maps.shape
    return maps.reshape(n, h // k, k, w // k, k).sum(axis=(2, 4))


def poisson_weights(seed: int, ids: np.ndarray, n_boot: int) -> np.ndarray:
    """(N, n_boot) Poisson(1) weights, image i's row drawn from a generator seeded by (seed, ids[i])."""
    return np.stack([np.random.default_rng((seed, int(i))).poisson(1.0, n_boot) for i in ids]).astype(np.float64)


DIRECTIONS = {"fake": "fake > real", "real": "real > fake", "either": "|fake - real|"}


def _signed(real: np.ndarray, fake: np.ndarray, direction: str) -> np.ndarray:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction={direction!r} must be one of {', '.join(DIRECTIONS)}")
    diff = fake - real
    return diff if direction == "fake" else -diff if direction == "real" else np.abs(diff)


def masses_of_difference(real: np.ndarray, fake: np.ndarray, fracs: tuple[float, float, float],
                         direction: str = "fake"):
    """region_masses of where the classes differ ((B, h, w) or (h, w)): ``fake`` = where fake > real (the ReLU
    of region_masses keeps only that), ``real`` = where real > fake, ``either`` = |fake − real|."""
    kwargs = dict(zip(("corner_frac", "center_frac", "border_frac"), fracs))
    return region_masses(_signed(real, fake, direction), **kwargs)


def shifted_interval(estimate: float, replicates: np.ndarray, confidence: float) -> tuple[float, float]:
    """The percentile interval shifted by the bootstrap's bias (median of the replicates − the estimate), and
    clipped to [0, 1]. The ReLU of a resampled difference picks up positive noise everywhere, so replicates
    lean towards an even spread (0.5) and a plain percentile interval can miss the estimate altogether;
    shifting removes that lean (the bias-corrected percentile interval, in its simplest form)."""
    lo, hi = percentile_interval(replicates, confidence=confidence)
    finite = replicates[np.isfinite(replicates)]
    if not finite.size or not math.isfinite(estimate):
        return lo, hi
    bias = float(np.median(finite)) - estimate
    return max(0.0, lo - bias), min(1.0, hi - bias)


class PoissonBootstrap:
    """B replicates of weighted per-class sums of block-pooled maps (class 0 real, 1 fake)."""
    def __init__(self, shape: tuple[int, int], *, n_boot: int = 200, seed: int = 0, block: int | None = None,
                 fracs: tuple[float, float, float] = (0.25, 0.5, 0.125)) -> None:
        check_fractions(*fracs)
        if len(shape) != 2 or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1 for s in shape):
            raise ValueError(f"shape must be (H, W) with positive int sizes (the resized image), got {shape!r}")
        h, w = int(shape[0]), int(shape[1])
        self.shape, self.fracs = (h, w), tuple(float(f) for f in fracs)
        self.n_boot = check_count("n_boot", n_boot, example=None)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        self.seed = int(seed)
        if block is None:
            block = choose_block(h, w, self.fracs)
        elif not block_aligns(h, w, check_count("block", block, example=None), self.fracs):
            raise ValueError(f"block={block} does not put the region boundaries of a {h}x{w} map on block "
                             f"boundaries; pass block=None to choose one, or block=1")
        self.block = int(block)
        self.sums = np.zeros((self.n_boot, 2, h // self.block, w // self.block))
        self.weights = np.zeros((self.n_boot, 2))

    def add(self, maps: np.ndarray, labels: np.ndarray, ids: np.ndarray) -> None:
        """Add (N, H, W) float maps with 0/1 labels and unique non-negative integer ids (checked by the caller)."""
        if len(ids) == 0:
            return
        pooled = sum_pool(maps, self.block)
        w = poisson_weights(self.seed, ids, self.n_boot)  # (N, B)
        for c in (0, 1):
            sel = labels == c
            if sel.any():
                self.sums[:, c] += np.einsum("nb,nhw->bhw", w[sel], pooled[sel])
                self.weights[:, c] += w[sel].sum(axis=0)

    def settings(self) -> tuple:
        """What two shards must share to be merged."""
        return (self.shape, self.n_boot, self.seed, self.block, self.fracs)

    def merge(self, other: PoissonBootstrap) -> None:
        """Add another shard's replicates (same settings; its image ids must differ from ours)."""
        if other.settings() != self.settings():
            raise ValueError(f"other has bootstrap settings (shape, n_boot, seed, block, fracs) "
                             f"{other.settings()} but this one {self.settings()}; merge like with like")
        self.sums += other.sums
        self.weights += other.weights

    def summary(self, real_mean: np.ndarray, fake_mean: np.ndarray, n_images: int,
                confidence: float = 0.95, direction: str = "fake") -> RegionSummary:
        """Masses of the pooled full-data class means, percentile intervals over the replicates.

        ``excess_energy`` = the positive part's total over reals' total energy: the size of the effect
        whose location the masses describe (near 0 when the classes do not differ).
        """
        k = self.block
        real_p, fake_p = sum_pool(real_mean[None], k)[0], sum_pool(fake_mean[None], k)[0]
        point = masses_of_difference(real_p, fake_p, self.fracs, direction)
        empty = bool(point.empty[0])
        total = float(real_p.sum())
        excess = float(np.maximum(_signed(real_p, fake_p, direction), 0.0).sum()) / total if total > 0 else math.nan
        with np.errstate(invalid="ignore", divide="ignore"):
            means = self.sums / self.weights[:, :, None, None]  # NaN where a replicate drew no image of a class
        boot = masses_of_difference(means[:, 0], means[:, 1], self.fracs, direction)
        masses = {}
        for key in MASS_KEYS:
            estimate, reps = float(getattr(point, key)[0]), getattr(boot, key)
            lo, hi = (math.nan, math.nan) if empty else shifted_interval(estimate, reps, confidence)
            masses[key] = Interval(to_json_float(estimate), (to_json_float(lo), to_json_float(hi)), int(n_images))
        gh, gw = self.sums.shape[2:]
        return RegionSummary(**masses, empty=empty, excess_energy=to_json_float(excess), n_boot=self.n_boot,
                             n_boot_defined=int((~boot.empty).sum()), block=k, grid=(int(gh), int(gw)))

    def state_dict(self) -> dict[str, np.ndarray]:
        """Replicate sums and settings as plain arrays (keys prefixed ``boot_``)."""
        return {"boot_sums": self.sums.copy(), "boot_weights": self.weights.copy(),
                "boot_settings": np.array([self.n_boot, self.seed, self.block]),
                "boot_fracs": np.array(self.fracs)}

    @classmethod
    def from_state(cls, state: dict, shape: tuple[int, int]) -> PoissonBootstrap:
        n_boot, seed, block = (int(v) for v in np.asarray(state["boot_settings"]))
        fracs = tuple(float(f) for f in np.asarray(state["boot_fracs"]))
        boot = cls(shape, n_boot=n_boot, seed=seed, block=block, fracs=fracs)
        sums, weights = np.asarray(state["boot_sums"], np.float64), np.asarray(state["boot_weights"], np.float64)
        if sums.shape != boot.sums.shape or weights.shape != boot.weights.shape:
            raise ValueError(f"state['boot_sums'] has shape {sums.shape}, expected {boot.sums.shape}; "
                             "pass PixelEvidence.state_dict() output unchanged")
        boot.sums, boot.weights = sums.copy(), weights.copy()
        return boot
