"""Deterministic image perturbations for robustness sweeps: JPEG, Gaussian blur, downscaling.

``parse_perturbations(["jpeg=95,75,50", "blur=1,2", "resize=0.5"])`` turns command-line specs into
``Perturbation`` objects; each is a callable on a decoded (3, H, W) uint8 image, applied BEFORE the
detector's own eval transform (resize to S×S, normalise), the way CNNDetection and UniversalFakeDetect
degrade test images:

* ``jpeg=Q`` — re-encode at quality Q (1–100) with PIL's libjpeg, default settings (4:2:0 chroma), as
  CNNDetection does (the ``blur-jpeg`` augmentation uses the same encoder).
* ``blur=SIGMA`` — Gaussian blur, sigma > 0 pixels, kernel 2·ceil(3σ)+1 (capped to the image), reflect
  padding at the edges.
* ``resize=F`` — downscale by F (0 < F ≤ 1, antialiased bilinear, computed in float and rounded: torch's
  uint8 kernel fails on 1-pixel outputs); the detector's resize then brings the image back to S×S,
  so the detail lost at the lower resolution stays lost.

No randomness anywhere: the same image and spec always give the same pixels.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image
from torchvision.transforms.v2 import functional as F

KINDS = ("jpeg", "blur", "resize")
SPEC_HELP = "use KIND=V[,V...] with KIND jpeg (quality 1-100), blur (sigma > 0) or resize (factor 0 < F <= 1)"


@dataclass(frozen=True)
class Perturbation:
    kind: str
    value: float

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"--perturb kind {self.kind!r} is unknown; {SPEC_HELP}")
        _check_value(self.kind, self.value, str(self.value))

    @property
    def name(self) -> str:
        """``jpeg=95``, ``blur=1.5``, ``resize=0.5``: how the spec was written, and a safe folder name."""
        return f"{self.kind}={self.value:g}"

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return apply(image, self)


def _check_value(kind: str, value: float, text: str) -> None:
    if not math.isfinite(value):
        raise ValueError(f"--perturb {kind}={text}: the value must be a finite number; {SPEC_HELP}")
    if kind == "jpeg" and not (value == int(value) and 1 <= value <= 100):
        raise ValueError(f"--perturb jpeg={text}: JPEG quality must be an integer from 1 to 100, e.g. jpeg=95,75,50")
    if kind == "blur" and not value > 0:
        raise ValueError(f"--perturb blur={text}: the Gaussian sigma must be > 0 pixels, e.g. blur=1,2")
    if kind == "resize" and not 0 < value <= 1:
        raise ValueError(f"--perturb resize={text}: the downscale factor must be in (0, 1], e.g. resize=0.5")


def _parse_value(kind: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"--perturb {kind}={text!r}: {text!r} is not a number; {SPEC_HELP}") from None
    if kind == "jpeg" and not text.strip().lstrip("+").isdigit():
        raise ValueError(f"--perturb jpeg={text}: JPEG quality must be an integer from 1 to 100, e.g. jpeg=95,75,50")
    _check_value(kind, value, text)
    return value


def parse_perturbations(specs: list[str]) -> list[Perturbation]:
    """``["jpeg=95,75", "blur=1"]`` -> [jpeg=95, jpeg=75, blur=1], in the order given; strict."""
    if isinstance(specs, str):
        specs = [specs]
    out: list[Perturbation] = []
    for spec in specs:
        kind, sep, values = str(spec).partition("=")
        kind = kind.strip().lower()
        if not sep or not values.strip():
            raise ValueError(f"--perturb {spec!r} has no values; {SPEC_HELP}")
        if kind not in KINDS:
            raise ValueError(f"--perturb {spec!r}: kind {kind!r} is unknown; {SPEC_HELP}")
        for text in values.split(","):
            if not text.strip():
                raise ValueError(f"--perturb {spec!r} has an empty value; {SPEC_HELP}")
            p = Perturbation(kind, _parse_value(kind, text.strip()))
            if p in out:
                raise ValueError(f"--perturb {p.name} is listed twice; give each setting once")
            out.append(p)
    if not out:
        raise ValueError(f"--perturb needs at least one spec; {SPEC_HELP}")
    return out


def _check_image(image: Any) -> torch.Tensor:
    if not isinstance(image, torch.Tensor) or image.dtype != torch.uint8 or image.ndim != 3 or image.shape[0] != 3:
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        dtype = getattr(image, "dtype", None)
        raise ValueError(f"image must be a decoded (3, H, W) uint8 tensor (data.read_image); got {shape} {dtype}")
    return image


def blur_kernel_size(sigma: float, height: int, width: int) -> int:
    """Odd kernel covering ±3σ, but never wider than reflect padding allows on this image."""
    radius = min(math.ceil(3 * sigma), (min(height, width) - 1))
    return 2 * max(radius, 0) + 1


def apply(image: torch.Tensor, perturbation: Perturbation) -> torch.Tensor:
    """The perturbed copy of a (3, H, W) uint8 image, still uint8 (resize: smaller)."""
    image = _check_image(image)
    kind, value = perturbation.kind, perturbation.value
    h, w = image.shape[-2:]
    if kind == "jpeg":
        return _jpeg(image, int(value))
    if kind == "blur":
        k = blur_kernel_size(value, h, w)
        return F.gaussian_blur(image, [k, k], [value, value]) if k > 1 else image.clone()
    if value == 1:
        return image.clone()
    size = [max(1, round(h * value)), max(1, round(w * value))]
    return F.resize(image.float(), size, antialias=True).round_().clamp_(0, 255).to(torch.uint8)


def _jpeg(image: torch.Tensor, quality: int) -> torch.Tensor:
    buf = io.BytesIO()
    Image.fromarray(image.permute(1, 2, 0).numpy()).save(buf, format="JPEG", quality=quality)
    with Image.open(buf) as decoded:
        arr = np.array(decoded.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous()


def describe(perturbation: Perturbation | None) -> dict[str, Any]:
    """What was done to each image, for json summaries and manifests."""
    if perturbation is None:
        return {"name": "clean", "kind": "clean", "value": None}
    how = {"jpeg": "PIL JPEG encode/decode, default 4:2:0 chroma", "blur": "Gaussian, reflect padding",
           "resize": "antialiased bilinear downscale, then the detector's resize to S×S"}[perturbation.kind]
    return {"name": perturbation.name, "kind": perturbation.kind, "value": perturbation.value, "how": how}
