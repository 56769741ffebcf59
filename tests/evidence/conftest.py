"""Datasets with known answers for the audit, built in the test: reals and fakes are DIFFERENT photos
(crops of the photographs installed packages ship), as in every real dataset."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aigc_explain.analysis.regions import region_masks
from aigc_explain.synth.photos import photo_sources, random_crops


def block_checkerboard(size: int, amp: int, block: int = 2) -> np.ndarray:
    """±amp in 2×2 blocks (period 4): a faint pattern, not the period-2 one the residual filter passes whole."""
    r, c = np.indices((size, size)) // block
    return np.where((r + c) % 2 == 0, amp, -amp)


def jpeg_bytes(image: np.ndarray, quality: int) -> bytes:
    out = io.BytesIO()
    Image.fromarray(image).save(out, format="JPEG", quality=quality)
    return out.getvalue()


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def save(folder: Path, images, fmt: str = "PNG", quality: int = 95) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images):
        if fmt == "PNG":
            Image.fromarray(img).save(folder / f"{i:03d}.png")
        else:
            (folder / f"{i:03d}.jpg").write_bytes(jpeg_bytes(img, quality))


@pytest.fixture(scope="session")
def photos() -> list[np.ndarray]:
    return [p for _, p in photo_sources()]


@pytest.fixture
def photo_classes(tmp_path: Path, photos):
    """``build(n, size, plant=None|"corner"|"center", amp=10, seed=0, disjoint=False)`` -> a class folder whose
    fakes are other crops than the reals (``disjoint``: crops of other photographs, so the classes' content
    differs too), with the faint block checkerboard planted in one region of every fake."""
    def build(n: int = 48, size: int = 160, plant: str | None = None, amp: int = 10, seed: int = 0,
              name: str = "data", disjoint: bool = False) -> Path:
        real_photos, fake_photos = (photos[0::2], photos[1::2]) if disjoint else (photos, photos)
        reals = random_crops(real_photos, n, size=size, seed=seed)
        fakes = random_crops(fake_photos, n, size=size, seed=seed + 1000)
        if plant:
            delta = block_checkerboard(size, amp) * region_masks(size, size)[plant]
            fakes = np.clip(fakes.astype(int) + delta[..., None], 0, 255).astype(np.uint8)
        root = tmp_path / name
        save(root / "0_real", reals)
        save(root / "1_fake", fakes)
        return root
    return build


@pytest.fixture
def image_io():
    """The writers above for test modules (``--import-mode=importlib`` does not import conftest by name)."""
    from types import SimpleNamespace

    return SimpleNamespace(save=save, jpeg_bytes=jpeg_bytes, decode=decode)
