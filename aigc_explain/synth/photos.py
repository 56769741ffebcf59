"""Photographs that installed packages ship on disk (no network), with their licences, and the random
square crops both synthetic datasets (demo, planted ``photos`` content) draw from. Each photo is cut into a
train part and a val strip, so train and val crops never overlap."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

logger = logging.getLogger(__name__)

MIN_PHOTOS = 3
VAL_FRACTION = 0.3  # share of each photo's long axis kept for val crops


def _load_photo(package: str, name: str) -> np.ndarray:
    """Read one photograph a package ships; imports are local, so a missing package skips only its photos."""
    if package == "scikit-image":
        import skimage.data

        return getattr(skimage.data, name)()
    if package == "scikit-learn":
        from sklearn.datasets import load_sample_image

        return load_sample_image(name)
    if package != "matplotlib":
        raise ValueError(f"unknown photo package {package!r}")
    from matplotlib import cbook

    with Image.open(cbook.get_sample_data(name, asfileobj=False)) as img:
        return np.asarray(img.convert("RGB"))


@dataclass(frozen=True)
class PhotoSource:
    """One colour photograph that an installed package ships, with its licence as the package states it."""
    name: str
    package: str
    licence: str

    def load(self) -> np.ndarray:
        return _load_photo(self.package, self.name)


PHOTO_SOURCES: tuple[PhotoSource, ...] = (
    PhotoSource("astronaut", "scikit-image", "public domain (NASA; 'no known copyright restrictions')"),
    PhotoSource("chelsea", "scikit-image", "CC0 (photographer Stefan van der Walt)"),
    PhotoSource("coffee", "scikit-image", "CC0 (photographer Rachel Michetti)"),
    PhotoSource("rocket", "scikit-image", "public domain (SpaceX)"),
    PhotoSource("china.jpg", "scikit-learn", "CC BY 2.0 (danielbuechele, Flickr)"),
    PhotoSource("flower.jpg", "scikit-learn", "CC BY 2.0 (vultilion, Flickr)"),
    PhotoSource("grace_hopper.jpg", "matplotlib",
                "not stated in the package; public domain (US Navy) per matplotlib PR #1599"),
)


def photo_sources() -> list[tuple[str, np.ndarray]]:
    """Load the shipped colour photographs as (name, uint8 HxWx3); skip (and log) any that fail to load."""
    photos = []
    for source in PHOTO_SOURCES:
        try:
            photo = np.ascontiguousarray(source.load())
        except Exception as exc:  # missing package, file not shipped (would need pooch), unreadable file
            logger.warning("skipping demo photo %s (%s): %s", source.name, source.package, exc)
            continue
        if photo.dtype != np.uint8 or photo.ndim != 3 or photo.shape[2] != 3:
            logger.warning("skipping demo photo %s: expected uint8 HxWx3, got %s %s",
                           source.name, photo.dtype, photo.shape)
            continue
        photos.append((source.name, photo))
    if len(photos) < MIN_PHOTOS:
        raise RuntimeError(
            f"only {len(photos)} demo photos could be loaded offline, need at least {MIN_PHOTOS}; "
            "install scikit-image, scikit-learn and matplotlib (see the log for what failed)")
    return photos


def random_crops(photos: Sequence[np.ndarray], n: int, *, size: int, seed: int,
                 max_scale: float = 2.0) -> np.ndarray:
    """Crop `n` random squares (random position, side in [size, max_scale*size], h-flip) at `size`.

    Crop i comes from photos[i % len(photos)], so any run of crops draws on the photos evenly (the real
    and the fake half of a split then share their content mix). Larger windows are resized down with
    PIL's antialiased bicubic filter. Returns (n, size, size, 3) uint8; the same seed, the same crops.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if size < 1 or max_scale < 1:
        raise ValueError(f"need size >= 1 and max_scale >= 1, got size={size}, max_scale={max_scale}")
    if not photos:
        raise ValueError("photos is empty; pass at least one HxWx3 uint8 array")
    for i, photo in enumerate(photos):
        if photo.dtype != np.uint8 or photo.ndim != 3 or photo.shape[2] != 3:
            raise ValueError(f"photos[{i}] must be uint8 HxWx3, got {photo.dtype} {photo.shape}")
        if min(photo.shape[:2]) < size:
            raise ValueError(f"photos[{i}] of shape {photo.shape} is smaller than size={size}; "
                             "use a smaller size or drop that photo")
    rng = np.random.default_rng(seed)
    out = np.empty((n, size, size, 3), dtype=np.uint8)
    for i in range(n):
        photo = photos[i % len(photos)]
        h, w = photo.shape[:2]
        side = int(rng.integers(size, min(h, w, int(max_scale * size)) + 1))
        y, x = int(rng.integers(h - side + 1)), int(rng.integers(w - side + 1))
        crop = photo[y:y + side, x:x + side]
        if side != size:
            crop = np.asarray(Image.fromarray(crop).resize((size, size), Image.Resampling.BICUBIC))
        out[i] = crop[:, ::-1] if rng.random() < 0.5 else crop
    return out


def split_photo(photo: np.ndarray, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Cut a photo across its long axis into a train part and a val strip, so their crops never overlap."""
    axis = 0 if photo.shape[0] > photo.shape[1] else 1
    cut = photo.shape[axis] - round(photo.shape[axis] * val_fraction)
    train, val = np.split(photo, [cut], axis=axis)
    return train, val


def photo_strips(val_fraction: float = VAL_FRACTION) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, train part, val strip) of every shipped photo that loads."""
    return [(name, *split_photo(photo, val_fraction)) for name, photo in photo_sources()]
