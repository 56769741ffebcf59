"""A dataset with a known answer: real and fake differ only by a faint artifact planted in one region.

Every image is natural-looking content drawn the same way for both classes; a fake is that content plus
a faint period-2 checkerboard (the signature of stride-2 up-sampling, Odena et al. 2016) added ONLY
inside the four corner squares or ONLY inside the centre rectangle of ``regions.region_masks``. With
``paired=True`` (default) fake ``i`` is real ``i`` plus the plant, so the two files differ nowhere else.
Images are written as PNG (lossless, the same settings for both classes), so the faint pattern survives
bit for bit. A detector trained on it can only use the planted region: a CAM that measures attention
honestly must put fakes' attention there. Pure numpy + Pillow.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from aigc_explain.analysis.regions import region_masks
from aigc_explain.synth.photos import photo_strips, random_crops

log = logging.getLogger(__name__)

PLANT_REGIONS = ("corner", "center")
CONTENTS = ("shapes", "photos")
CLASS_DIRS = ("0_real", "1_fake")
SPLITS = ("train", "val")
PNG_SETTINGS = {"compress_level": 6, "optimize": False}  # identical for both classes
NOISE_SIGMA = 3.0  # sensor-like noise (8-bit levels) in "shapes" content, so the plant is not alone in high frequencies


@dataclass(frozen=True)
class PlantSpec:
    """Where and how strongly the artifact is planted; ``strength`` is its amplitude in 8-bit levels."""
    region: str = "corner"
    size: int = 160
    strength: int = 8
    corner_frac: float = 0.25
    center_frac: float = 0.5

    def __post_init__(self) -> None:
        if self.region not in PLANT_REGIONS:
            raise ValueError(f"region={self.region!r} must be one of {', '.join(PLANT_REGIONS)}")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 16:
            raise ValueError(f"size must be an int >= 16 (pixels; use the detector's --image-size), got {self.size!r}")
        if isinstance(self.strength, bool) or not isinstance(self.strength, int) or not 1 <= self.strength <= 64:
            raise ValueError(f"strength must be an int in [1, 64] (8-bit levels, e.g. 8), got {self.strength!r}")
        self.mask()  # checks corner_frac / center_frac against size

    def mask(self) -> np.ndarray:
        """(size, size) bool: where the artifact goes (the regions' own masks, so CAM and plant agree)."""
        masks = region_masks(self.size, self.size, corner_frac=self.corner_frac, center_frac=self.center_frac)
        return masks[self.region]


def known_answer(region: str) -> str:
    """What an honest CAM must show on the fakes: attention where the plant is."""
    return {"corner": "corner_share > 0.5", "center": "corner_share < 0.5"}[region]


def meets_known_answer(region: str, ci95: tuple[float | None, float | None]) -> bool:
    """Whether a 95% interval of the fakes' mean corner_share lies wholly on the side ``region`` predicts."""
    lo, hi = ci95
    if lo is None or hi is None:
        return False
    return lo > 0.5 if region == "corner" else hi < 0.5


def checkerboard(h: int, w: int) -> np.ndarray:
    """(h, w) int16 of +1/-1 with period 2 in both directions, +1 at the top-left pixel."""
    rows, cols = np.indices((h, w))
    return np.where((rows + cols) % 2 == 0, 1, -1).astype(np.int16)


def plant_artifact(image: np.ndarray, spec: PlantSpec) -> np.ndarray:
    """``image`` (size, size, 3) uint8 plus ``strength`` × checkerboard inside the region, clipped to 0–255."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.shape != (spec.size, spec.size, 3):
        raise ValueError(f"image must be uint8 of shape {(spec.size, spec.size, 3)}, got {image.dtype} {image.shape}")
    delta = spec.strength * checkerboard(spec.size, spec.size) * spec.mask()
    return np.clip(image.astype(np.int16) + delta[..., None], 0, 255).astype(np.uint8)


def shapes_content(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth random colour field with a few random shapes and mild noise, (size, size, 3) uint8."""
    k = int(rng.integers(2, 6))
    low = rng.uniform(40, 215, size=(k, k, 3)).astype(np.uint8)
    img = Image.fromarray(low).resize((size, size), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(2, 7))):
        x0, y0 = (rng.uniform(-0.2, 0.9, 2) * size).tolist()
        w, h = (rng.uniform(0.1, 0.5, 2) * size).tolist()
        colour = tuple(int(c) for c in rng.integers(30, 226, 3))
        kind = int(rng.integers(3))
        if kind == 0:
            draw.ellipse([x0, y0, x0 + w, y0 + h], fill=colour)
        elif kind == 1:
            draw.rectangle([x0, y0, x0 + w, y0 + h], fill=colour)
        else:
            points = [(x0 + float(rng.uniform(0, w)), y0 + float(rng.uniform(0, h))) for _ in range(3)]
            draw.polygon(points, fill=colour)
    arr = np.asarray(img, dtype=np.float64) + rng.normal(0.0, NOISE_SIGMA, size=(size, size, 3))
    return np.clip(np.rint(arr), 0, 255).astype(np.uint8)


def _photo_strips(size: int) -> dict[str, list[np.ndarray]]:
    """The shipped photographs' train parts and val strips (``synth.photos``); parts narrower than ``size``
    are left out."""
    strips: dict[str, list[np.ndarray]] = {split: [] for split in SPLITS}
    for _, *parts in photo_strips():
        for split, part in zip(SPLITS, parts):
            if min(part.shape[:2]) >= size:
                strips[split].append(part)
    for split, parts in strips.items():
        if not parts:
            raise ValueError(f"size={size} is larger than every {split} photo strip; use a smaller size or "
                             f"content='shapes'")
    return strips


def _seed(seed: int, split: str, stream: int, index: int) -> int:
    """One independent seed per (seed, split, stream, image): any image can be regenerated alone."""
    return int(np.random.SeedSequence([seed, SPLITS.index(split), stream, index]).generate_state(1)[0])


def content_image(seed: int, split: str, stream: int, index: int, *, size: int, content: str = "shapes",
                  photos: list[np.ndarray] | None = None) -> np.ndarray:
    """The content of image ``index`` of ``split``; ``stream`` 0 = real (and paired fakes), 1 = unpaired fakes."""
    rng = np.random.default_rng(_seed(seed, split, stream, index))
    if content == "shapes":
        return shapes_content(rng, size)
    if not photos:
        raise ValueError("content='photos' needs the photo strips; call build_planted_dataset")
    return random_crops(photos, 1, size=size, seed=int(rng.integers(2**31)))[0]


def planted_pair(seed: int, split: str, index: int, spec: PlantSpec, *, content: str = "shapes",
                 photos: list[np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(real, fake) twins: the same content, the fake with the plant; they differ only inside the region."""
    real = content_image(seed, split, 0, index, size=spec.size, content=content, photos=photos)
    return real, plant_artifact(real, spec)


def _check_args(out_dir: Path, n_train: int, n_val: int, seed: int, content: str) -> None:
    for name, value in (("n_train", n_train), ("n_val", n_val)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} (images per class) must be an int >= 1, got {value!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    if content not in CONTENTS:
        raise ValueError(f"content={content!r} must be one of {', '.join(CONTENTS)}")
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f"out_dir {out_dir} exists and is not a folder; pass a new folder path")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        raise FileExistsError(f"out_dir {out_dir} is not empty; choose a new or empty folder (or delete this "
                              f"one yourself) — a planted dataset is never written over another")


def _save_png(path: Path, image: np.ndarray) -> None:
    Image.fromarray(image).save(path, format="PNG", **PNG_SETTINGS)


def _write_split(out_dir: Path, split: str, n: int, spec: PlantSpec, seed: int, content: str, paired: bool,
                 photos: list[np.ndarray] | None) -> None:
    real_dir, fake_dir = (out_dir / split / name for name in CLASS_DIRS)
    real_dir.mkdir(parents=True)
    fake_dir.mkdir(parents=True)
    for i in range(n):
        real, fake = planted_pair(seed, split, i, spec, content=content, photos=photos)
        if not paired:  # the fake's content is an independent draw from the same distribution
            other = content_image(seed, split, 1, i, size=spec.size, content=content, photos=photos)
            fake = plant_artifact(other, spec)
        _save_png(real_dir / f"{i:05d}.png", real)
        _save_png(fake_dir / f"{i:05d}.png", fake)


def build_planted_dataset(out_dir: str | Path, *, region: str = "corner", n_train: int = 400, n_val: int = 100,
                          size: int = 160, seed: int = 0, strength: int = 8, corner_frac: float = 0.25,
                          center_frac: float = 0.5, content: str = "shapes", paired: bool = True) -> dict[str, Any]:
    """Write ``out_dir/{train,val}/{0_real,1_fake}/*.png`` (n per class) and ``dataset.json``; returns its dict.

    Deterministic: the same arguments give byte-identical files. ``size`` should equal the detector's input
    size: resizing would blur or alias the period-2 plant. Refuses a non-empty ``out_dir``.
    """
    out_dir = Path(out_dir)
    spec = PlantSpec(region=region, size=size, strength=strength, corner_frac=corner_frac, center_frac=center_frac)
    _check_args(out_dir, n_train, n_val, seed, content)
    start = time.perf_counter()
    strips = _photo_strips(size) if content == "photos" else {}
    for split, n in (("train", n_train), ("val", n_val)):
        _write_split(out_dir, split, n, spec, seed, content, paired, strips.get(split))
    mask = spec.mask()
    info = {"out_dir": str(out_dir), "region": region, "n_train": n_train, "n_val": n_val, "size": size,
            "seed": seed, "strength": strength, "corner_frac": corner_frac, "center_frac": center_frac,
            "content": content, "paired": paired, "pattern": "period-2 checkerboard, +/-strength on all channels",
            "plant_fraction": float(mask.mean()), "format": {"PNG": PNG_SETTINGS},
            "counts": {f"{s}/{c}": n for s, n in (("train", n_train), ("val", n_val)) for c in CLASS_DIRS},
            "seconds": round(time.perf_counter() - start, 3)}
    (out_dir / "dataset.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    log.info("planted dataset (%s plant, %d+%d per class, %d px) in %s, %.1f s", region, n_train, n_val, size,
             out_dir, info["seconds"])
    return info
