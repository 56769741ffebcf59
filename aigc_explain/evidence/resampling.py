"""A resize between two JPEG saves, found without labels: once per audit, before the pass.

A first JPEG save leaves its quantiser's comb in the 8×8 block-DCT coefficients; a resize by ``s`` then moves
that grid onto a lattice of period 8·s, so the comb read on the final file's own grid is gone. Enlarging the
picture by 1/s puts the first grid back on 8×8 blocks, and the comb returns (``dct_comb.undone_coefficients``).
``scan_resampling`` tries factors 0.50–0.97 on a seeded sample of the images, without their labels (the
budget's cross-validated AUC is not leaked), and pools the sample's coefficient histograms per factor: one
shared first quantiser adds up over images, chance combs do not. A factor is found when its pooled comb stands
``Z_FOUND`` robust standard deviations above the same pictures read 8 or 16 px further on (the final save's
grid in place, the first save's off its blocks; ``control_shift``), the spread measured over the scan. It is
then refined on larger regions. Factors above 0.97 are not tried: the final save's own grid half lines up there.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import numpy as np

from aigc_explain.analysis.spectra import to_gray
from aigc_explain.evidence.dct_comb import comb_score, dct_histograms, undone_coefficients
from aigc_explain.runs.audit_summary import ResamplingScan

LOWEST, HIGHEST = 0.50, 0.97  # the factors tried
SCAN_SIDE = 128  # the scan reads a centred region of this side (enlarged px) of each picture ...
REFINE_SIDE = 256  # ... and refines the factor found on regions of up to this side (the features' side too)
STEPS_PER_PIXEL = 4  # factors this many per pixel of drift over a region: the comb fades within ~1/4 px
MIN_SIDE = 80  # pictures with a shorter side are left out: their region holds fewer than 64 blocks
MIN_PICTURES = 8  # no scan with fewer pictures large enough
Z_FOUND = 6.5  # robust SDs above the control that call a factor found (60 null sets at 96-128 px: at most 5.7)
RUNNING = 15  # factors in the running median of the scan: the top CHECKED above it are checked
CHECKED = 8
EVERY = 4  # the control is read at every EVERY-th factor too, for its spread
MARGIN = 16  # native pixels kept free at the bottom right for the control
WINDOW_SIDE = int(REFINE_SIDE * HIGHEST) + MARGIN + 16  # native px about each picture's centre that are read
METHOD = ("label-free scan of the factors 0.50-0.97: the block-DCT comb after undoing each, pooled over a seeded "
          "sample of the images, against the same pictures moved by 8 or 16 px (the final save's grid kept)")


def scan_factors(side: int = SCAN_SIDE, lowest: float = LOWEST, highest: float = HIGHEST) -> np.ndarray:
    """Log-spaced factors, ``STEPS_PER_PIXEL`` per pixel of drift over ``side``."""
    return np.exp(np.arange(np.log(lowest), np.log(highest) + 1e-12, 1.0 / (STEPS_PER_PIXEL * side)))


def control_shift(factor: float) -> int:
    """The shift (8 or 16 native px) that moves the first save's grid furthest off its blocks once the resize
    by ``factor`` is undone, while the final save's grid stays on them."""
    return min((8, 16), key=lambda d: abs((d / factor) % 8 - 4))


def windows(images: Iterable[np.ndarray]) -> list[tuple[np.ndarray, tuple[int, int]]]:
    """The central ``WINDOW_SIDE`` px of each gray picture large enough to scan, stacked by size and place:
    (N, h, w) windows and their origin in the picture (one matrix pair per stack; no whole pictures kept)."""
    by_key: dict[tuple[tuple[int, ...], tuple[int, ...]], list[np.ndarray]] = defaultdict(list)
    for im in images:
        gray = to_gray(im)
        if min(gray.shape) < MIN_SIDE:
            continue
        y, x = ((n - min(n, WINDOW_SIDE)) // 2 for n in gray.shape)
        window = gray[y:y + WINDOW_SIDE, x:x + WINDOW_SIDE]
        by_key[(window.shape, (y, x))].append(window)
    return [(np.stack(v), origin) for (_, origin), v in by_key.items()]


def pooled_score(stacks: list[tuple[np.ndarray, tuple[int, int]]], factor: float, *, side: int,
                 shift: int = 0) -> float:
    """``comb_score`` of the coefficient histograms pooled over the ``windows`` stacks after undoing ``factor``."""
    hists = [dct_histograms(undone_coefficients(g, factor, side=side, shift=shift, margin=MARGIN, origin=o))
             for g, o in stacks]
    return comb_score(np.sum(hists, axis=0))


def _empty(n: int, z_found: float) -> ResamplingScan:
    return ResamplingScan(factor=None, found=False, best=None, z=None, z_needed=z_found, n_images=n,
                          factors=(LOWEST, HIGHEST), n_factors=0, method=METHOD)


def scan_resampling(images: Iterable[np.ndarray], *, z_found: float = Z_FOUND) -> ResamplingScan:
    """The resize factor between two JPEG saves that ``images`` (native-size RGB or gray, no labels) share,
    or none (``found`` False, ``factor`` None)."""
    from scipy.ndimage import median_filter
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    grays = windows(images)
    n = sum(len(g) for g, _ in grays)
    if n < MIN_PICTURES:
        return _empty(n, z_found)
    factors = scan_factors()
    with threadpool_limits(limits=1, user_api="blas"):  # small products: threads only wait for each other
        scores = np.array([pooled_score(grays, s, side=SCAN_SIDE) for s in factors])
        top = np.argsort(median_filter(scores, size=RUNNING, mode="mirror") - scores)[:CHECKED]
        checked = np.union1d(top, np.arange(0, len(factors), EVERY))
        gain = {int(i): scores[i] - pooled_score(grays, factors[i], side=SCAN_SIDE, shift=control_shift(factors[i]))
                for i in checked}
        spread = np.array([gain[i] for i in range(0, len(factors), EVERY)])
        centre = float(np.median(spread))
        unit = max(1.4826 * float(np.median(np.abs(spread - centre))), 1e-9)
        best = max((int(i) for i in top), key=gain.__getitem__)
        z = (gain[best] - centre) / unit
        factor = None
        if z >= z_found:  # finer steps on larger regions: a large picture's grid needs the factor more precisely
            step = factors[1] / factors[0]
            fine = scan_factors(REFINE_SIDE, factors[best] / step, min(factors[best] * step, HIGHEST))
            factor = float(fine[int(np.argmax([pooled_score(grays, s, side=REFINE_SIDE) for s in fine]))])
    return ResamplingScan(factor=factor, found=factor is not None, best=float(factors[best]), z=float(z),
                          z_needed=z_found, n_images=n, factors=(LOWEST, HIGHEST), n_factors=len(factors), method=METHOD)
