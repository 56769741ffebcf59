"""Decoding images and the recorded transforms: per-image uint8 steps, then one normalisation per batch.

Evaluation preprocessing is resize to S×S (bilinear, antialiased) — never a centre crop: the corners must
survive. ``prepend`` puts uint8 steps in front of a transform: a ``Reencode`` (``--reencode``), a
robustness perturbation.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from aigc_explain.core.bounds import check_image_size, MAX_IMAGE_SIZE
from aigc_explain.core.perturb import Perturbation, apply

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
AUGMENTATIONS = ("none", "report", "blur-jpeg")


def _to_rgb_array(img: Image.Image) -> np.ndarray:
    """Any PIL mode -> (H, W, 3) uint8; 16-bit and float images are scaled, not clipped."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        if img.mode == "F":
            top = max(float(arr.max()), 1.0) if arr.max() > 1.0 else 1.0
        gray = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    return np.array(img.convert("RGB"), dtype=np.uint8)


MAX_IMAGE_BYTES = 64 << 20  # larger files are refused unread: junk that size takes Pillow tens of seconds
MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485  # Pillow's decompression-bomb limit, ~89.5 megapixels


def read_image(path: str | Path) -> torch.Tensor:
    """Decode an image as a (3, H, W) uint8 tensor. Raises on unreadable, truncated or bomb files.

    Bounded before decoding: a file over ``MAX_IMAGE_BYTES`` is refused unread, and the header's pixel count
    over ``MAX_IMAGE_PIXELS`` before any pixel is decoded; Pillow names the problem of any other bad file. The
    reason ends up in ``skipped.csv``.
    """
    return _array_to_chw(read_rgb(path))


def read_rgb(path: str | Path) -> np.ndarray:
    """``read_image``'s pixels as the decoder gives them, (H, W, 3) uint8, with the same bounds: for numpy
    consumers (the audit), which would otherwise copy them to (3, H, W) and back."""
    size = os.stat(path).st_size
    if size > MAX_IMAGE_BYTES:
        raise ValueError(f"image file of {size / 2**20:.0f} MiB is larger than the {MAX_IMAGE_BYTES >> 20} MiB "
                         f"limit for one image")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path) as img:
            w, h = img.size
            if w * h > MAX_IMAGE_PIXELS:
                raise ValueError(f"image of {w}x{h} pixels is larger than the {MAX_IMAGE_PIXELS:,}-pixel limit")
            img.load()
            return _to_rgb_array(img)


def _array_to_chw(arr: np.ndarray) -> torch.Tensor:
    # CHW contiguous: a channels-last batch silently takes a much slower convolution path on CPU
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous()


class Normalize255:
    """uint8 -> float ``(x/255 - mean)/std`` in one pass over one buffer (ToDtype + Normalize take two);
    works on one image or a batch."""
    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        self.shift = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1) * 255.0
        self.scale = 1.0 / (torch.tensor(std, dtype=torch.float32).view(3, 1, 1) * 255.0)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return image.float().sub_(self.shift).mul_(self.scale)


class Resize:
    """Resize a uint8 image to size×size (bilinear, antialiased); a no-op at that size already."""
    def __init__(self, size: int) -> None:
        self.size = int(size)
        if not 1 <= self.size <= MAX_IMAGE_SIZE:  # a larger resize would fail allocating, blamed on the image
            check_image_size(self.size, what="input size")

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        if tuple(image.shape[-2:]) == (self.size, self.size):
            return image
        return TF.resize(image, [self.size, self.size], antialias=True)

    def rgb(self, rgb: np.ndarray) -> np.ndarray:
        """The same resize of an (H, W, 3) uint8 array, to (size, size, 3): the same numbers as ``__call__``
        (one kernel, run on the channels-last view), without copying to (3, H, W) and back."""
        out = self(torch.from_numpy(rgb).permute(2, 0, 1)).permute(1, 2, 0)
        return np.ascontiguousarray(out.numpy())


class RandomJPEG:
    """Re-encode with a random JPEG quality in [low, high] through Pillow's libjpeg (CNNDetection's
    augmentation; torchvision's own JPEG encoder is deprecated)."""
    def __init__(self, low: int, high: int) -> None:
        self.low, self.high = int(low), int(high)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        quality = int(torch.randint(self.low, self.high + 1, ()).item())
        return apply(image, Perturbation("jpeg", quality))


class ImagePipeline:
    """Per-image uint8 steps, then normalisation. Called on one image it does both; ``make_loader``
    runs the steps per image and normalises each stacked batch once (stacking uint8 moves 4x fewer bytes)."""
    def __init__(self, steps: Callable[[torch.Tensor], torch.Tensor], normalize: Normalize255) -> None:
        self.steps, self.normalize = steps, normalize

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return self.normalize(self.steps(image))


def eval_transform(size: int, mean: tuple[float, ...] = IMAGENET_MEAN, std: tuple[float, ...] = IMAGENET_STD):
    """Resize to size×size (bilinear, antialiased), scale to [0, 1], normalise. No centre crop."""
    return ImagePipeline(Resize(size), Normalize255(mean, std))


def train_transform(size: int, augment: str = "none", mean: tuple[float, ...] = IMAGENET_MEAN,
                    std: tuple[float, ...] = IMAGENET_STD, *, reencode: "Reencode | None" = None):
    """``none`` = the report's plain setting; ``report`` = flip, rotation ±10°, RandomCrop(padding 4);
    ``blur-jpeg`` = ``report`` plus CNNDetection-style blur (σ 0–3) and JPEG (q 30–100), p=0.5 each.
    ``reencode`` comes first of all."""
    if augment not in AUGMENTATIONS:
        raise ValueError(f"augment={augment!r} is not one of {', '.join(AUGMENTATIONS)}")
    if augment == "none":
        return prepend(eval_transform(size, mean, std), reencode)
    steps: list[Any] = [Resize(size)]
    if augment == "blur-jpeg":
        kernel = 2 * min(9, (size - 1) // 2) + 1  # 3σ at σ=3, but never wider than the image
        steps += [v2.RandomApply([v2.GaussianBlur(kernel, sigma=(1e-3, 3.0))], p=0.5),
                  v2.RandomApply([RandomJPEG(30, 100)], p=0.5)]
    if augment in ("report", "blur-jpeg"):
        steps += [v2.RandomHorizontalFlip(), v2.RandomRotation(10), v2.RandomCrop(size, padding=4)]
    return prepend(ImagePipeline(v2.Compose(steps), Normalize255(mean, std)), reencode)


def describe_preprocessing(size: int, mean: tuple[float, ...], std: tuple[float, ...], *,
                           reencode: "Reencode | str | None" = None) -> dict:
    """What evaluation did to each image, for manifests and summaries."""
    out = {"resize": [size, size], "interpolation": "bilinear, antialiased", "center_crop": False,
           "scale": "uint8/255", "mean": list(mean), "std": list(std)}
    if reencode is not None:
        out["reencode"] = Reencode.parse(reencode).name
    return out


def prepend(transform: Any, *steps: Callable[[torch.Tensor], torch.Tensor] | None) -> Any:
    """``transform`` preceded by the uint8 ``steps`` that are not None, in order (a re-encoding, a robustness
    perturbation); picklable, so DataLoader workers can use it."""
    steps = tuple(s for s in steps if s is not None)
    if not steps:
        return transform
    if isinstance(transform, ImagePipeline):  # keep the loader's one-normalisation-per-batch path
        return ImagePipeline(v2.Compose([*steps, transform.steps]), transform.normalize)
    return v2.Compose([*steps, transform])


REENCODE_HELP = "use jpeg:Q (quality 1-100, 4:2:0 chroma) or png"


@dataclass(frozen=True)
class Reencode:
    """Re-encode every image identically in memory (``--reencode jpeg:95|png``) before anything else, so a
    storage cue (format, JPEG quality, metadata) is the same for both classes. PNG is lossless: the pixels a
    detector sees do not change, only what the file said does (which the audit's cue classifier reads)."""

    kind: str
    quality: int | None = None

    @classmethod
    def parse(cls, spec: str | None) -> "Reencode | None":
        if spec is None or isinstance(spec, Reencode):
            return spec
        kind, _, value = str(spec).strip().lower().partition(":")
        if kind == "png" and not value:
            return cls("png")
        if kind == "jpeg" and value.isdigit() and 1 <= int(value) <= 100:
            return cls("jpeg", int(value))
        raise ValueError(f"--reencode {spec!r}: {REENCODE_HELP}, e.g. --reencode jpeg:95")

    @property
    def name(self) -> str:
        return "png" if self.kind == "png" else f"jpeg:{self.quality}"

    def encode(self, rgb: np.ndarray) -> bytes:
        """The (H, W, 3) uint8 image as the bytes of the re-encoded file."""
        buf = io.BytesIO()
        if self.kind == "png":
            Image.fromarray(rgb).save(buf, format="PNG")
        else:
            Image.fromarray(rgb).save(buf, format="JPEG", quality=self.quality)
        return buf.getvalue()

    @staticmethod
    def decode(data: bytes) -> torch.Tensor:
        """The pixels a decoder gets back from ``encode``'s bytes, as a (3, H, W) uint8 tensor."""
        return _array_to_chw(Reencode.decode_rgb(data))

    @staticmethod
    def decode_rgb(data: bytes) -> np.ndarray:
        """``decode``'s pixels as (H, W, 3) uint8."""
        with Image.open(io.BytesIO(data)) as img:
            return np.array(img.convert("RGB"), dtype=np.uint8)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        if self.kind == "png":
            return image  # lossless: decoding the PNG gives these very pixels back
        return self.decode(self.encode(image.permute(1, 2, 0).numpy()))
