"""The fakes' periodic spectral peaks, found the way ``audit`` finds its fingerprint, for ``diagnose`` to remove.

The audit's rule (``evidence.summary.fingerprint_peak``) reports the one sharpest line of the fakes' mean
noise-residual spectrum that the reals lack; a periodic pattern has several (a period-4 checkerboard four,
at (±1/4, ±1/4)), and removing one of them leaves the others for the detector. So here every bin that meets
the audit's two thresholds is a peak: fake power >= ``PEAK_RATIO`` × the reals' there and >= ``PEAK_SHARPNESS``
× the median of its 7×7 neighbourhood; nothing below ``LOWEST_PERIODIC`` on both axes (DC and the content's
layout) is one. Measured on the images at the detector's input size.
"""

from __future__ import annotations

import numpy as np

from aigc_explain.evidence.summary import LOWEST_PERIODIC, PEAK_RATIO, PEAK_SHARPNESS
from aigc_explain.evidence.pixels import ResidualFingerprint, residual_maps
from aigc_explain.runs.diagnose_summary import PeaksFound

MAX_PEAKS = 64  # the strongest kept: a broad excess is not a set of periodic lines


class PeakFinder:
    """Folds batches of (B, S, S, 3) uint8 images with 0/1 labels (-1 ignored) into a residual fingerprint."""
    def __init__(self, size: int) -> None:
        self.fingerprint = ResidualFingerprint((size, size))

    def __call__(self, images: np.ndarray, labels: np.ndarray) -> None:
        known = labels >= 0
        if known.any():
            self.fingerprint.add(residual_maps(list(images[known])), labels[known])

    def peaks(self) -> PeaksFound:
        """The peaks of the batches seen so far: unshifted FFT bins [i, j] and their [fy, fx] cycles/pixel."""
        return find_peaks(self.fingerprint)


def find_peaks(fp: ResidualFingerprint) -> PeaksFound:
    """Every bin of the fakes' mean-residual power spectrum that passes the audit's peak thresholds."""
    from scipy.ndimage import median_filter

    if min(fp.n) < 1:
        return PeaksFound(found=False, bins=[], freqs=[], n_real=int(fp.n[0]), n_fake=int(fp.n[1]),
                          rule="needs images of both classes")
    fake, real = fp.mean_residual_power(1), fp.mean_residual_power(0)
    h, w = fp.shape
    sharpness = fake / np.maximum(median_filter(fake, size=7, mode="wrap"), 1e-300)
    ratio = fake / np.maximum(real, 1e-300)
    fy, fx = fp.frequencies()
    ratio[(np.abs(fy)[:, None] < LOWEST_PERIODIC) & (np.abs(fx)[None, :] < LOWEST_PERIODIC)] = 0.0  # DC and layout
    hits = np.argwhere((ratio >= PEAK_RATIO) & (sharpness >= PEAK_SHARPNESS))
    hits = sorted(hits.tolist(), key=lambda ij: -fake[ij[0], ij[1]])[:MAX_PEAKS]
    bins = [[(i - h // 2) % h, (j - w // 2) % w] for i, j in hits]
    return PeaksFound(found=bool(hits), bins=bins, freqs=[[float(fy[i]), float(fx[j])] for i, j in hits],
                      n_real=int(fp.n[0]), n_fake=int(fp.n[1]),
                      rule=f"fake power >= {PEAK_RATIO:g}x the reals' and >= {PEAK_SHARPNESS:g}x its 7x7 median (the "
                           f"audit's fingerprint rule; none below {LOWEST_PERIODIC:g} cycles/pixel on both axes), "
                           f"mean noise residual at the detector's input size")
