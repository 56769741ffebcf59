"""What a detector's decision rests on: re-run it on altered copies of each image and measure the change.

Every alteration is made on the image the detector sees — after its resize to S×S, in its normalised units
(so a removed band contributes 0; band filtering commutes with the per-channel normalisation except for the
DC term, which when removed becomes the detector's normalisation mean, a mid-grey, not black):

* ``band`` — a radial band of the 2-D Fourier spectrum (per channel) removed, or everything but it kept
  (``mode`` "remove" | "keep"). Radius = sqrt(fy² + fx²) in cycles/pixel; a band ending at 1/2 also takes
  the spectrum's corners (up to √2/2 on the diagonal), so consecutive bands cover every frequency.
* ``peaks`` — the given spectral bins (and their mirror images) zeroed: the fakes' periodic peaks.
* ``shuffle`` — the image's p×p tiles permuted, seeded per (seed, p, image); a remainder strip stays put.
* ``reencode`` — the decoded file re-encoded in memory (``core.images.Reencode``) before the resize.

``measure`` decodes each image once and runs one batched inference per variant (cost: variants × one pass).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from aigc_explain.core.folders import NoReadableImages, Sample
from aigc_explain.core.images import Normalize255, Reencode, Resize
from aigc_explain.core.inference import autocast, resolve_amp
from aigc_explain.core.loader import make_loader
from aigc_explain.core.models import Detector

log = logging.getLogger(__name__)

DEFAULT_BANDS = "0,1/16,1/8,1/4,1/2"
BANDS_HELP = "give increasing band edges in cycles/pixel from 0 to at most 1/2, e.g. --bands 0,1/16,1/8,1/4,1/2"


def parse_bands(text: str) -> list[tuple[float, float]]:
    """``"0,1/16,1/8"`` -> [(0, 0.0625), (0.0625, 0.125)]: consecutive bands between increasing edges."""
    try:
        edges = [float(Fraction(t.strip())) for t in str(text).split(",")]
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"--bands {text!r} holds something that is not a number or fraction; {BANDS_HELP}") from None
    if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:])) or edges[0] < 0 or edges[-1] > 0.5:
        raise ValueError(f"--bands {text!r}: {BANDS_HELP}")
    return list(zip(edges, edges[1:]))


def parse_patches(text: str, image_size: int) -> list[int]:
    """``"16,32"`` -> [16, 32]; each patch size from 2 to half the detector's input size."""
    try:
        sizes = [int(t) for t in str(text).split(",")]
    except ValueError:
        raise ValueError(f"--patch {text!r} must be integers, e.g. --patch 16,32") from None
    bad = [p for p in sizes if not 2 <= p <= image_size // 2]
    if bad or len(set(sizes)) != len(sizes):
        raise ValueError(f"--patch {text!r}: each size must be from 2 to {image_size // 2} px (half the "
                         f"detector's input of {image_size} px, so there are tiles to shuffle), listed once")
    return sizes


def radial_frequency(size: int) -> torch.Tensor:
    """(size, size) radius sqrt(fy² + fx²) of every unshifted FFT bin, in cycles/pixel."""
    f = torch.fft.fftfreq(size, dtype=torch.float64)
    return torch.sqrt(f[:, None] ** 2 + f[None, :] ** 2)


def band_mask(size: int, lo: float, hi: float) -> torch.Tensor:
    """(size, size) bool of the bins in [lo, hi); a band ending at 1/2 takes every radius >= lo."""
    r = radial_frequency(size)
    return (r >= lo) & ((r < hi) | (hi >= 0.5))


def spectral_filter(x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """``x`` (B, C, H, W) with only the FFT bins where ``keep`` is True (per channel; real output)."""
    spectrum = torch.fft.fft2(x.double()) * keep.to(x.device)
    return torch.fft.ifft2(spectrum).real.to(x.dtype)


def peak_mask(size: int, peaks: Sequence[tuple[int, int]]) -> torch.Tensor:
    """(size, size) bool keep-mask that drops the unshifted bins ``peaks`` and their mirrors (-k mod size)."""
    keep = torch.ones(size, size, dtype=torch.bool)
    for i, j in peaks:
        keep[i % size, j % size] = False
        keep[-i % size, -j % size] = False
    return keep


def shuffle_patches(x: torch.Tensor, patch: int, seeds: Sequence[int]) -> torch.Tensor:
    """``x`` (B, C, H, W) with each image's patch×patch tiles permuted by ``np.random.default_rng(seed)``."""
    b, c, h, w = x.shape
    gh, gw = h // patch, w // patch
    tiles = x[:, :, :gh * patch, :gw * patch].reshape(b, c, gh, patch, gw, patch).permute(0, 2, 4, 1, 3, 5)
    tiles = tiles.reshape(b, gh * gw, c, patch, patch)
    order = torch.stack([torch.from_numpy(np.random.default_rng(int(s)).permutation(gh * gw)) for s in seeds])
    tiles = tiles[torch.arange(b)[:, None], order.to(x.device)]
    out = x.clone()
    out[:, :, :gh * patch, :gw * patch] = tiles.reshape(b, gh, gw, c, patch, patch).permute(
        0, 3, 1, 4, 2, 5).reshape(b, c, gh * patch, gw * patch)
    return out


@dataclass(frozen=True)
class Variant:
    """One way of altering the detector's input. ``alter(x, ids)`` maps a normalised batch and the images'
    positions to the altered batch; re-encodings have no ``alter`` (the loader decodes them)."""
    name: str
    kind: str  # band | peaks | shuffle | reencode
    spec: dict[str, Any]
    alter: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = field(default=None, compare=False)


def band_variants(size: int, bands: Sequence[tuple[float, float]],
                  modes: Sequence[str] = ("remove", "keep")) -> list[Variant]:
    out = []
    for mode in modes:
        for lo, hi in bands:
            inside = band_mask(size, lo, hi)
            keep = ~inside if mode == "remove" else inside
            out.append(Variant(f"{mode} {lo:g}-{hi:g}", "band", {"lo": lo, "hi": hi, "mode": mode},
                               lambda x, ids, keep=keep: spectral_filter(x, keep)))
    return out


def peak_variant(size: int, peaks: Sequence[tuple[int, int]], freqs: Sequence[tuple[float, float]]) -> Variant:
    keep = peak_mask(size, peaks)
    return Variant("remove peaks", "peaks", {"bins": [list(p) for p in peaks], "freqs": [list(f) for f in freqs]},
                   lambda x, ids: spectral_filter(x, keep))


def shuffle_variants(patches: Sequence[int], seed: int = 0) -> list[Variant]:
    def shuffle(x: torch.Tensor, ids: torch.Tensor, p: int) -> torch.Tensor:
        seeds = [int(np.random.SeedSequence([seed, p, int(i)]).generate_state(1)[0]) for i in ids]
        return shuffle_patches(x, p, seeds)
    return [Variant(f"shuffle {p}px", "shuffle", {"patch": p, "seed": seed},
                    lambda x, ids, p=p: shuffle(x, ids, p)) for p in patches]


def reencode_variants(specs: Sequence[str]) -> list[Variant]:
    out = []
    for spec in specs:
        r = Reencode.parse(spec)
        if any(v.name == f"reencode {r.name}" for v in out):
            raise ValueError(f"--reencode {r.name} is listed twice; give each variant once")
        out.append(Variant(f"reencode {r.name}", "reencode", {"variant": r.name}))
    return out


class DecodeOnce:
    """Decoded file -> (1 + R, 3, S, S) uint8: the detector's resize of the image and of each re-encoding."""
    def __init__(self, size: int, reencodes: Sequence[str]) -> None:
        self.resize = Resize(size)
        self.reencodes = [Reencode.parse(spec) for spec in reencodes]

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.resize(image)] + [self.resize(r(image)) for r in self.reencodes])


@dataclass
class Measured:
    """Logits of the kept images, clean and under every variant (same order), and the skipped files."""
    paths: list[str]
    labels: np.ndarray
    clean: np.ndarray
    logits: dict[str, np.ndarray]
    variants: list[Variant]
    skipped: list[tuple[str, str]]


def forward_logits(detector: Detector, x: torch.Tensor, device: torch.device, amp: str) -> torch.Tensor:
    x = x.to(device).contiguous(memory_format=torch.channels_last)
    with autocast(device, amp):
        return detector(x).float().reshape(-1).cpu()


def measure(detector: Detector, samples: list[Sample], variants: Sequence[Variant], *, batch_size: int = 64,
            device: str | torch.device = "cpu", workers: int = 0, amp: str = "off", progress: bool = False,
            on_batch: Callable[[np.ndarray, np.ndarray], None] | None = None, clean: bool = True) -> Measured:
    """One pass over ``samples``: each batch decoded once, then run clean (unless ``clean`` is False: its logits
    are then empty) and under every variant. ``on_batch(images, labels)`` sees each batch's resized
    (B, S, S, 3) uint8 images (peak finding)."""
    device = torch.device(device)
    amp = resolve_amp(device, amp)[0]
    reencodes = [v.spec["variant"] for v in variants if v.kind == "reencode"]
    loader = make_loader(samples, DecodeOnce(detector.image_size, reencodes), batch_size=batch_size,
                         workers=workers, pin_memory=device.type == "cuda")
    normalize = Normalize255(detector.mean, detector.std)
    detector = detector.to(device).eval()
    plain, logits, kept, skipped = [], {v.name: [] for v in variants}, [], []
    with torch.inference_mode():
        for batch in tqdm(loader, desc="diagnose", disable=None if progress else True):
            skipped += [(samples[i].path, why) for i, why in batch.failed]
            if batch.images.numel() == 0:
                continue
            images, ids = batch.images, batch.indices
            if on_batch is not None:
                on_batch(images[:, 0].permute(0, 2, 3, 1).numpy(), batch.labels.numpy().astype(np.int64))
            x = normalize(images[:, 0])
            if clean:
                plain.append(forward_logits(detector, x, device, amp))
            slot = 1
            for v in variants:
                if v.kind == "reencode":
                    altered, slot = normalize(images[:, slot]), slot + 1
                else:
                    altered = v.alter(x, ids)
                logits[v.name].append(forward_logits(detector, altered, device, amp))
            kept += ids.tolist()
    if not kept:
        raise NoReadableImages(f"none of the {len(samples)} images could be read", skipped)
    return Measured([samples[i].path for i in kept], np.array([samples[i].label for i in kept], dtype=np.int64),
                    torch.cat(plain).numpy().astype(np.float64) if plain else np.empty(0),
                    {k: torch.cat(v).numpy().astype(np.float64) for k, v in logits.items()}, list(variants), skipped)
