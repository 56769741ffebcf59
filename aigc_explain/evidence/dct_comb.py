"""The comb a JPEG quantiser leaves in the 8×8 block-DCT coefficients, read on the picture's own grid or on the
grid it had before a resize.

A JPEG save rounds each block's DCT coefficient at position (u, v) to a multiple of its quantiser step; a later
save at a finer quality keeps most of those multiples, so the histogram of |coefficient| shows a comb of that
period (``comb``). The blocks start at (0, 0) of the saved picture. A resize by ``s`` after the first save moves
its blocks onto a lattice of period 8·s: ``undone_coefficients`` enlarges the picture by 1/s (bicubic) and
reads the blocks there, as two products with matrices that fold the interpolation and the DCT together (one
matrix pair per factor and picture size serves a whole stack of pictures of that size).
"""

from __future__ import annotations

import numpy as np

# 8x8 DCT-II basis (orthonormal), and the low-frequency AC positions whose histograms are read.
_K = np.arange(8)
_DCT = np.sqrt(np.where(_K[:, None] == 0, 1 / 8, 2 / 8)) * np.cos(np.pi * (2 * _K[None] + 1) * _K[:, None] / 16)
DCT_POSITIONS = ((0, 1), (1, 0), (1, 1), (0, 2), (2, 0))
_ROWS, _COLS = (np.array(a) for a in zip(*DCT_POSITIONS))
_LOW = max(max(p) for p in DCT_POSITIONS) + 1  # the rows of the basis the positions need
PERIODS = tuple(range(2, 9))  # a first quantiser step shows as a comb of this period in the histogram
HIST_RANGE = 40  # |coefficient| bins 1..HIST_RANGE
N_COMB_FEATURES = len(DCT_POSITIONS) * len(PERIODS) + 2  # the combs, their maximum and the share of zeros


def comb_names(prefix: str = "") -> list[str]:
    names = [f"dct_comb{p}@{u}{v}" for u, v in DCT_POSITIONS for p in PERIODS] + ["dct_comb_max", "dct_zero_share"]
    return [prefix + n for n in names]


def block_coefficients(gray: np.ndarray) -> np.ndarray:
    """(blocks, len(DCT_POSITIONS)) |rounded coefficient| at the positions of each 8×8 block of the grid at
    (0, 0), where a JPEG's grid starts; (0, len(DCT_POSITIONS)) when no block fits."""
    h, w = (s - s % 8 for s in gray.shape)
    if min(h, w) < 8:
        return np.zeros((0, len(DCT_POSITIONS)))
    low = _DCT[:_LOW]  # the low-frequency corner only, as two products over the whole picture
    rows = low @ (gray[:h, :w] - 128.0).reshape(h // 8, 8, w).transpose(1, 0, 2).reshape(8, -1)  # (u, by·w)
    coef = rows.reshape(_LOW, h // 8, w // 8, 8) @ low.T  # (u, by, bx, v)
    return np.abs(np.rint(coef[_ROWS, :, :, _COLS])).reshape(len(DCT_POSITIONS), -1).T


def dct_histograms(coefficients: np.ndarray) -> np.ndarray:
    """(len(DCT_POSITIONS), HIST_RANGE + 2) counts of |rounded coefficient| 0, 1, ..., HIST_RANGE and above."""
    n = HIST_RANGE + 2
    clipped = np.minimum(coefficients, n - 1).astype(np.int64) + n * np.arange(coefficients.shape[1])
    return np.bincount(clipped.ravel(), minlength=n * coefficients.shape[1]).reshape(-1, n)


def comb(hist: np.ndarray) -> np.ndarray:
    """Per period p: the share of the histogram's mass (bins 1..HIST_RANGE) at multiples of p, over what its
    smooth envelope puts there (1 = no comb; a first quantiser of step p gives > 1)."""
    v = np.arange(1, HIST_RANGE + 1)
    kernel = np.exp(-0.5 * (np.arange(-4, 5) / 2.0) ** 2)
    env = np.convolve(hist, kernel / kernel.sum(), mode="same") + 1e-9
    out = np.empty(len(PERIODS))
    for i, p in enumerate(PERIODS):
        on = v % p == 0
        out[i] = (hist[on].sum() + 1.0) / (env[on].sum() + 1.0)
    return out


def comb_features(coefficients: np.ndarray) -> np.ndarray:
    """``comb_names()``: every position's combs, their maximum and the mean share of zero coefficients (all
    ones and a zero share of 1 without a block)."""
    if len(coefficients) == 0:
        return np.ones(N_COMB_FEATURES)
    hists = dct_histograms(coefficients).astype(np.float64)
    combs = np.concatenate([comb(h[1:-1]) for h in hists])
    return np.concatenate([combs, [combs.max(), np.mean(hists[:, 0] / hists.sum(axis=1))]])


def comb_score(hists: np.ndarray) -> float:
    """Per position the log comb of its strongest period, summed over the positions: ~0 without a comb."""
    return float(sum(np.log(comb(h[1:-1].astype(np.float64))).max() for h in hists))


def _keys(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5 (PIL's and most libraries' bicubic)."""
    x = np.abs(x)
    return np.where(x <= 1, (1.5 * x - 2.5) * x * x + 1, np.where(x < 2, ((-0.5 * x + 2.5) * x - 4) * x + 2, 0.0))


def _low_rows(n: int, factor: float, side: int, shift: int, margin: int, origin: int) -> tuple[np.ndarray, int]:
    """(rows, first): the low-frequency DCT rows of each block of the enlarged region, as weights on the pixels
    ``first``, ``first`` + 1, ... of a side of ``n`` that starts ``origin`` px into the picture (bicubic
    interpolation folded in; edges repeated). The region: the whole blocks of the picture enlarged by 1/factor
    that lie in this side less ``margin``, at most ``side`` of them centred, read ``shift`` px further on."""
    lo, hi = int(np.ceil(origin / factor / 8)) * 8, int((origin + n - margin) / factor) // 8 * 8
    length = max(min(hi - lo, side // 8 * 8), 0)
    if length < 8:
        return np.zeros((0, 1)), 0
    start = lo + (hi - lo - length) // 16 * 8
    at = shift - origin + (start + np.arange(length) + 0.5) * factor - 0.5  # PIL's pixel-centre convention
    base = np.floor(at).astype(np.int64)
    first, last = max(int(base[0]) - 1, 0), min(int(base[-1]) + 2, n - 1)
    weights = np.zeros((length, last - first + 1))
    for k in (-1, 0, 1, 2):
        np.add.at(weights, (np.arange(length), np.clip(base + k, 0, n - 1) - first), _keys(at - base - k))
    rows = np.einsum("uk,bkn->bun", _DCT[:_LOW], weights.reshape(length // 8, 8, -1))
    return rows.reshape(-1, weights.shape[1]).astype(np.float32), first


def undone_coefficients(grays: np.ndarray, factor: float, *, side: int, shift: int = 0, margin: int = 0,
                        origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """``block_coefficients`` of a stack of same-size pictures ((N, H, W) or (H, W)) enlarged by 1/``factor``:
    their blocks are those of the grid before a resize by ``factor``, which started at (0, 0) of the picture
    the stack was cut from at ``origin``. Read on the centred region of at most ``side`` enlarged px a side,
    less ``margin`` native px at the bottom right, moved by ``shift`` px (a multiple of 8 keeps the final
    save's grid where it was). Stacked over the pictures."""
    g = np.asarray(grays, np.float32)  # single precision: twice as fast, and rounding to integers needs no more
    g = g[None] if g.ndim == 2 else g
    (ay, y0), (ax, x0) = (_low_rows(n, factor, side, shift, margin, o) for n, o in zip(g.shape[1:], origin))
    if not (ay.size and ax.size):
        return np.zeros((0, len(DCT_POSITIONS)))
    n, by, bx = len(g), ay.shape[0] // _LOW, ax.shape[0] // _LOW
    crop = g[:, y0:y0 + ay.shape[1], x0:x0 + ax.shape[1]]
    cols = (crop.reshape(-1, crop.shape[2]) @ ax.T).reshape(n, crop.shape[1], bx, _LOW)  # (N, y, bx, v)
    coef = (ay @ cols.transpose(1, 0, 2, 3).reshape(cols.shape[1], -1)).reshape(by, _LOW, n, bx, _LOW)
    return np.abs(np.rint(coef[:, _ROWS, :, :, _COLS])).reshape(len(DCT_POSITIONS), -1).T  # (by·N·bx, P)
