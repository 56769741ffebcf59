"""Patch-wise scores: which tile alone carries the detector's decision, drawn beside its Grad-CAM.

Of the issue's two options this takes the second: the image with everything but one p×p tile replaced by the
image's own Gaussian blur (σ = ``BLUR_SIGMA`` px, on the detector's input), one inference per tile. The tile
keeps its pixels at their place and scale, so a fine periodic trace stays what it was (upsampling a tile
alone to the input size, the first option, would move its frequencies). The blur keeps the colours and the
coarse layout everywhere: a detector that reads those gives the same score on every tile (a flat map), and
the map's spread says how local the evidence is. Cost: (S/p)² inferences per image, so only a few images.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.special import expit
from torchvision.transforms.v2 import functional as TF

from aigc_explain.checks.reliance import DecodeOnce, forward_logits
from aigc_explain.core.folders import Sample, balanced_subset
from aigc_explain.core.images import Normalize255
from aigc_explain.core.inference import resolve_amp
from aigc_explain.core.loader import make_loader
from aigc_explain.core.models import Detector
from aigc_explain.runs.diagnose_summary import PatchMapClass

log = logging.getLogger(__name__)

BLUR_SIGMA = 2.0  # px: keeps below ~1/8 cycles/pixel (gain exp(-2π²σ²f²) is 0.007 at 1/4)


@dataclass
class PatchMaps:
    patch: int
    paths: list[str]
    labels: np.ndarray
    images: np.ndarray  # (N, S, S, 3) uint8, what the detector saw
    scores: np.ndarray  # (N, gh, gw): p(fake) with only that tile sharp
    blurred: np.ndarray  # (N,): p(fake) of the all-blurred image
    cams: np.ndarray | None  # (N, S, S) unit-mass Grad-CAM maps, or None when they could not be computed

    def class_means(self) -> dict[str, PatchMapClass]:
        """Per class with images: the mean patch map, the mean all-blurred score and the mean spread (max − min)."""
        out = {}
        for name, label in (("real", 0), ("fake", 1)):
            sel = self.labels == label
            if sel.any():
                scores = self.scores[sel]
                out[name] = PatchMapClass(n=int(sel.sum()), mean_map=scores.mean(0).tolist(),
                                          blurred=float(self.blurred[sel].mean()),
                                          spread=float((scores.max((1, 2)) - scores.min((1, 2))).mean()))
        return out


def blur(x: torch.Tensor, sigma: float = BLUR_SIGMA) -> torch.Tensor:
    radius = min(math.ceil(3 * sigma), x.shape[-1] - 1)
    return TF.gaussian_blur(x, [2 * radius + 1] * 2, [sigma, sigma])


def tile_scores(detector: Detector, x: torch.Tensor, patch: int, *, device: torch.device,
                amp: str = "off") -> tuple[np.ndarray, float]:
    """(gh, gw) p(fake) of ``x`` (3, S, S, normalised) with only each tile sharp, and of the all-blurred image."""
    s = x.shape[-1]
    gh = gw = s // patch
    base = blur(x[None])[0]
    batch = base.repeat(gh * gw + 1, 1, 1, 1)
    for k in range(gh * gw):
        r, c = divmod(k, gw)
        rows, cols = slice(r * patch, (r + 1) * patch), slice(c * patch, (c + 1) * patch)
        batch[k, :, rows, cols] = x[:, rows, cols]
    probs = expit(forward_logits(detector, batch, device, amp).numpy().astype(np.float64))
    return probs[:-1].reshape(gh, gw), float(probs[-1])


def _cams(detector: Detector, samples: list[Sample], device: torch.device) -> np.ndarray | None:
    """Grad-CAM (auto layer, target fake) of ``samples`` at input size, unit mass; None where it fails."""
    from aigc_explain.explain.folder import CamSettings, explain_samples
    from aigc_explain.explain.maps import upsample_positive

    try:
        result = explain_samples(detector, samples, CamSettings(batch_size=16), device=device)
    except (ValueError, RuntimeError) as exc:
        log.warning("no Grad-CAM beside the patch map: %s", exc)
        return None
    up = upsample_positive(result.raw_maps, (detector.image_size, detector.image_size))
    total = up.sum(axis=(1, 2), keepdims=True)
    return np.where(total > 0, up / np.where(total > 0, total, 1), 0.0)


def patch_maps(detector: Detector, samples: list[Sample], patch: int, *, per_class: int = 4,
               device: str | torch.device = "cpu", amp: str = "off", cam: bool = True) -> PatchMaps | None:
    """Patch maps of ``per_class`` images per class (the first readable ones), with their CAMs."""
    device = torch.device(device)
    amp = resolve_amp(device, amp)[0]
    chosen = balanced_subset(samples, 2 * per_class)
    loader = make_loader(chosen, DecodeOnce(detector.image_size, []), batch_size=8)
    normalize = Normalize255(detector.mean, detector.std)
    detector = detector.to(device).eval()
    kept, images, scores, blurred = [], [], [], []
    with torch.inference_mode():
        for batch in loader:
            if batch.images.numel() == 0:
                continue
            for i, u in zip(batch.indices.tolist(), batch.images[:, 0]):
                m, b = tile_scores(detector, normalize(u), patch, device=device, amp=amp)
                kept.append(i)
                images.append(u.permute(1, 2, 0).numpy())
                scores.append(m)
                blurred.append(b)
    if not kept:
        return None
    kept_samples = [chosen[i] for i in kept]
    return PatchMaps(patch, [s.path for s in kept_samples], np.array([s.label for s in kept_samples]),
                     np.stack(images), np.stack(scores), np.array(blurred),
                     _cams(detector, kept_samples, device) if cam else None)
