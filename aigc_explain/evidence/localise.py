"""Where do the classes differ, told apart from sampling noise? A variance-aware map calibrated by shuffling labels.

Two sets of different photos differ in residual energy everywhere by chance: heavy-tailed energy (an edge here,
a texture there) makes the positive part of a difference of raw mean energies mostly content noise. So each
image's residual energy is pooled over the blocks of a grid (at most ``MAX_CELLS`` per side, block edges on the
region edges) and taken as log(mean energy + 1) — a variance-stabilised log energy. Per cell a Welch t of
fake − real follows; the map is its positive part (ReLU(t), or ReLU(−t) for where the reals exceed).

* corner share = the map's corner mass / (corner + centre mass); the defaults give corners and centre equal
  area, so with no localised difference it is ~0.5 whatever the classes' content;
* excess energy = Σ ReLU(fake − real) / Σ real over the cells' geometric-mean energies;
* both are recomputed for ``n_perm`` label permutations (the null: same images, labels shuffled) and their
  p-values reported; a difference is stated when its size beats the null, a place when the share does too;
* the corner share's interval is an online Poisson bootstrap over the images (bias-shifted percentile).

Per image this keeps one grid of ``MAX_CELLS``² floats (float32), the "per-image features" the issue allows.
"""

from __future__ import annotations

import math

import numpy as np

from aigc_explain.analysis.regions import region_masks
from aigc_explain.analysis.stats import to_json_float
from aigc_explain.evidence.pixel_bootstrap import block_aligns, shifted_interval, sum_pool
from aigc_explain.runs.audit_summary import CornerShare, Direction, Localisation

MAX_CELLS = 16  # grid cells per side at most: 256 floats per image
LOG_FLOOR = 1.0  # grey levels²: the energy added before the log (below it, quantisation noise)
ALPHA = 0.05  # family-wise level: two directions are tested (fakes exceed, reals exceed), each at ALPHA / 2
METHOD = "positive Welch t of block log residual energy, label-permutation null"
_CHUNK = 64  # permutations / replicates per matrix product


def choose_grid_block(h: int, w: int, fracs: tuple[float, float, float], *, max_cells: int = MAX_CELLS) -> int:
    """Smallest block k whose grid has at most ``max_cells`` per side and keeps the region edges exactly."""
    for k in range(max(1, math.ceil(max(h, w) / max_cells)), min(h, w) + 1):
        if block_aligns(h, w, k, fracs):
            return k
    for k in range(min(h, w), 0, -1):  # no coarse grid aligns: the finest that does (1 always does)
        if block_aligns(h, w, k, fracs):
            return k
    return 1


def pooled_log_energy(energy: np.ndarray, block: int) -> np.ndarray:
    """(N, H, W) residual energy -> (N, H/k · W/k) float32 log(block mean energy + LOG_FLOOR)."""
    mean = sum_pool(energy, block) / block ** 2
    return np.log(mean + LOG_FLOOR).reshape(len(energy), -1).astype(np.float32)


def _welch(w0: np.ndarray, w1: np.ndarray, x: np.ndarray, x2: np.ndarray):
    """Welch t (P, G) and the class means (P, G) each, for P weightings of the images (rows of w0, w1)."""
    out = []
    for w in (w0, w1):
        s0 = w.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):  # a replicate that drew no image of a class: NaN
            mean = (w @ x) / s0
            var = np.maximum((w @ x2) / s0 - mean ** 2, 0.0) * s0 / np.maximum(s0 - 1.0, 1.0)
            out.append((mean, var / s0))
    (m0, v0), (m1, v1) = out
    se = np.sqrt(v0 + v1)
    with np.errstate(invalid="ignore"):
        return np.where(se > 1e-12, (m1 - m0) / np.where(se > 1e-12, se, 1.0), 0.0), m0, m1


class _Data:
    """The pooled features twice: as they are (how much the classes differ) and with each image's own mean
    over the grid taken out (where, within an image, its energy sits: a global offset — one set of photos
    more textured throughout — would otherwise make ReLU(t) keep a few chance cells)."""

    def __init__(self, features: np.ndarray, masks: np.ndarray) -> None:
        x = np.asarray(features, np.float64)
        self.offset = x.mean(axis=0)
        raw = x - self.offset  # centred: the one-pass variance stays exact
        rel = raw - raw.mean(axis=1, keepdims=True)
        self.raw, self.rel = (raw, np.square(raw)), (rel, np.square(rel))
        self.masks = masks

    def stats(self, w0: np.ndarray, w1: np.ndarray, sign: float) -> tuple[np.ndarray, ...]:
        """Per weighting: corner share and region masses of ReLU(sign·t) of the relative map, the mean
        ReLU(sign·t) of the raw map (the tested size of the difference) and the excess energy."""
        t_raw, m0, m1 = _welch(w0, w1, *self.raw)
        t_rel = _welch(w0, w1, *self.rel)[0]
        pos = np.maximum(sign * t_rel, 0.0)
        sums = pos @ self.masks  # (P, 3): corner, centre, border
        with np.errstate(invalid="ignore", divide="ignore"):
            share = sums[:, 0] / (sums[:, 0] + sums[:, 1])
            masses = sums / pos.sum(axis=1, keepdims=True)
            g0, g1 = (np.exp(m + self.offset) - LOG_FLOOR for m in (m0, m1))
            excess = np.maximum(sign * (g1 - g0), 0.0).sum(axis=1) / np.maximum(g0, 0.0).sum(axis=1)
        return share, masses, np.maximum(sign * t_raw, 0.0).mean(axis=1), excess, t_rel


def _p_value(observed: float, null: np.ndarray, centre: float | None = None) -> float:
    """(1 + #{null at least as extreme}) / (1 + n): one-sided (large), or two-sided about ``centre``."""
    null = null[np.isfinite(null)]
    if not math.isfinite(observed) or null.size == 0:
        return math.nan
    if centre is None:
        hits = (null >= observed - 1e-12).sum()
    else:
        hits = (np.abs(null - centre) >= abs(observed - centre) - 1e-12).sum()
    return float((1 + hits) / (1 + null.size))


def localise(features: np.ndarray, labels: np.ndarray, grid: tuple[int, int], *, fracs=(0.25, 0.5, 0.125),
             n_perm: int = 200, n_boot: int = 200, seed: int = 0, confidence: float = 0.95) -> Localisation:
    """Localisation of the class difference on the pooled grid: for ``fake`` (fakes exceed) and ``real``.

    ``features``: (N, gh·gw) pooled log energies (``pooled_log_energy``); ``labels`` 0/1. Per direction the
    corner share with its interval and permutation p-value, the region masses, the size of the difference
    (mean positive t) with its p-value, the excess energy, ``differs`` and ``where``; plus the relative t-map
    (row-major list) and the method. JSON-safe (NaN as None)."""
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    # Its matrix products are small (chunks of 64 weightings × N images × the grid): on busy shared cores two
    # BLAS threads waiting for each other made them 5-50x slower than one thread.
    with threadpool_limits(limits=1, user_api="blas"):
        return _localise(features, labels, grid, fracs=fracs, n_perm=n_perm, n_boot=n_boot, seed=seed,
                         confidence=confidence)


def _localise(features: np.ndarray, labels: np.ndarray, grid: tuple[int, int], *, fracs, n_perm: int, n_boot: int,
              seed: int, confidence: float) -> Localisation:
    y = np.asarray(labels).astype(int)
    kwargs = dict(zip(("corner_frac", "center_frac", "border_frac"), fracs))
    m = region_masks(*grid, **kwargs)
    data = _Data(features, np.stack([m[r].ravel() for r in ("corner", "center", "border")], 1).astype(np.float64))
    one = (y == 1).astype(np.float64)[None]
    rng = np.random.default_rng(seed)
    perms = np.stack([rng.permutation(y) for _ in range(n_perm)]).astype(np.float64)
    boot = rng.poisson(1.0, size=(n_boot, y.size)).astype(np.float64)
    t_map = data.stats(1.0 - one, one, 1.0)[-1][0]
    sides = {}
    for name, sign in (("fake", 1.0), ("real", -1.0)):
        share, masses, size, excess, _ = (v[0] for v in data.stats(1.0 - one, one, sign))
        null = [data.stats(1.0 - p, p, sign)[:4] for p in np.split(perms, range(_CHUNK, n_perm, _CHUNK))]
        null_share, null_size = (np.concatenate([r[k] for r in null]) for k in (0, 2))
        reps = np.concatenate([data.stats(b * (1.0 - one), b * one, sign)[0]
                               for b in np.split(boot, range(_CHUNK, n_boot, _CHUNK))])
        lo, hi = shifted_interval(float(share), reps, confidence)
        centre = float(np.nanmedian(null_share)) if np.isfinite(null_share).any() else 0.5
        p_share, p_size = _p_value(float(share), null_share, centre), _p_value(float(size), null_size)
        # a place is stated only when both the size of the difference and its share beat the shuffled labels
        level = ALPHA / 2
        beats = p_share < level and p_size < level
        where = "corners" if beats and lo > 0.5 else "centre" if beats and hi < 0.5 else "none"
        corner_share = CornerShare(to_json_float(share), (to_json_float(lo), to_json_float(hi)),
                                   to_json_float(p_share), to_json_float(centre))
        sides[name] = Direction(corner_share=corner_share, corner_mass=to_json_float(masses[0]),
                                center_mass=to_json_float(masses[1]), border_mass=to_json_float(masses[2]),
                                excess_energy=to_json_float(excess), mean_positive_t=to_json_float(size),
                                p_value=to_json_float(p_size), differs=bool(p_size < level), where=where,
                                localised=where != "none")
    return Localisation(method=METHOD, grid=(int(grid[0]), int(grid[1])), n_perm=n_perm, n_boot=n_boot, alpha=ALPHA,
                        t_map=[to_json_float(v) for v in t_map], fake=sides["fake"], real=sides["real"])
