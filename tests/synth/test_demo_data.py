"""Demo dataset builder: layout, JPEG parity between classes, determinism, refusals. Tiny sizes, offline."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, JpegImagePlugin

from aigc_explain.synth import photos
from aigc_explain.runs.demo_summary import DemoDataset
from aigc_explain.synth.demo_data import build_demo_dataset, reconstruct, train_autoencoder, UpConvAE
from aigc_explain.synth.photos import photo_sources, PhotoSource, random_crops

TINY = {"n_train": 4, "n_val": 2, "size": 32, "ae_steps": 3}


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoDataset]:
    out = tmp_path_factory.mktemp("demo") / "ds"
    return out, build_demo_dataset(out, seed=0, **TINY)


def test_layout_counts_and_images(tiny: tuple[Path, dict]) -> None:
    out, result = tiny
    expected = {"train/0_real": 4, "train/1_fake": 4, "val/0_real": 2, "val/1_fake": 2}
    assert result.counts == expected
    for folder, n in expected.items():
        files = sorted((out / folder).iterdir())
        assert [f.name for f in files] == [f"{i:05d}.jpg" for i in range(n)]
        for f in files:
            with Image.open(f) as img:
                assert (img.format, img.mode, img.size) == ("JPEG", "RGB", (32, 32))
    assert sorted(p.name for p in out.iterdir()) == ["SOURCES.md", "train", "val"]
    sources = (out / "SOURCES.md").read_text(encoding="utf-8")
    assert all(name in sources for name in result.photos) and "CC0" in sources
    assert 0.0 < result.ae_final_loss < 0.25 and result.seconds["total"] > 0


def test_real_and_fake_share_jpeg_settings(tiny: tuple[Path, dict]) -> None:
    out, _ = tiny
    seen = set()
    for path in sorted(out.rglob("*.jpg")):
        with Image.open(path) as img:
            seen.add((repr(img.quantization), JpegImagePlugin.get_sampling(img)))
    assert len(seen) == 1  # one quantisation table set and one chroma subsampling for every file
    assert next(iter(seen))[1] == 0  # 4:4:4


def test_same_seed_gives_identical_bytes(tiny: tuple[Path, dict], tmp_path: Path) -> None:
    out, _ = tiny
    build_demo_dataset(tmp_path / "again", seed=0, **TINY)
    build_demo_dataset(tmp_path / "other", seed=1, **TINY)
    assert _files(tmp_path / "again") == _files(out)
    other = _files(tmp_path / "other")
    assert other.keys() == _files(out).keys() and other != _files(out)


def test_refuses_non_empty_out_dir_unless_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    (out / "train" / "0_real").mkdir(parents=True)
    (out / "train" / "0_real" / "stale.jpg").write_bytes(b"old")
    with pytest.raises(FileExistsError, match=r"ds is not empty; pass overwrite=True"):
        build_demo_dataset(out, **TINY)
    build_demo_dataset(out, overwrite=True, **TINY)
    assert not (out / "train" / "0_real" / "stale.jpg").exists()
    assert len(list((out / "train" / "0_real").iterdir())) == 4


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"size": 30}, r"size must be a multiple of 4"),
    ({"n_val": 0}, r"n_train and n_val \(images per class\) must be >= 1"),
    ({"ae_steps": -1}, r"ae_steps must be >= 0"),
    ({"size": 512}, r"size=512 is larger than the smallest photo strip"),
])
def test_build_rejects_bad_arguments(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_demo_dataset(tmp_path / "ds", **{**TINY, **kwargs})
    assert not (tmp_path / "ds").exists()  # nothing written before the arguments are known to be good


def test_random_crops_shape_dtype_and_determinism() -> None:
    rng = np.random.default_rng(0)
    photos = [rng.integers(0, 256, (50, 70, 3), dtype=np.uint8), rng.integers(0, 256, (64, 40, 3), np.uint8)]
    crops = random_crops(photos, 6, size=16, seed=3)
    assert crops.shape == (6, 16, 16, 3) and crops.dtype == np.uint8
    assert np.array_equal(crops, random_crops(photos, 6, size=16, seed=3))
    assert not np.array_equal(crops, random_crops(photos, 6, size=16, seed=4))


def test_random_crops_known_answers() -> None:
    photo = np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)
    crops = random_crops([photo], 20, size=8, seed=0)  # window = the whole photo, so only flips vary
    flipped = [np.array_equal(c, photo[:, ::-1]) for c in crops]
    assert all(f or np.array_equal(c, photo) for c, f in zip(crops, flipped))
    assert 0 < sum(flipped) < 20
    grey = np.full((40, 60, 3), 77, np.uint8)  # a flat photo stays flat at any scale
    assert np.all(random_crops([grey], 5, size=16, seed=0) == 77)


def test_random_crops_rejects_small_photo() -> None:
    with pytest.raises(ValueError, match=r"photos\[0\] of shape \(10, 40, 3\) is smaller than size=16"):
        random_crops([np.zeros((10, 40, 3), np.uint8)], 1, size=16, seed=0)


def test_split_photo_is_disjoint_and_complete() -> None:
    photo = np.arange(10 * 20 * 3, dtype=np.uint8).reshape(10, 20, 3)
    train, val = photos.split_photo(photo, 0.3)
    assert train.shape == (10, 14, 3) and val.shape == (10, 6, 3)
    assert np.array_equal(np.concatenate([train, val], axis=1), photo)


def test_autoencoder_shapes_and_training_reduces_loss() -> None:
    x = torch.rand(2, 3, 32, 32)
    assert UpConvAE()(x).shape == x.shape
    crops = random_crops([np.asarray(Image.new("RGB", (32, 32), (200, 40, 90)))], 8, size=16, seed=0)
    state = torch.random.get_rng_state()
    model, losses = train_autoencoder(crops, steps=30, seed=0, batch_size=4)
    assert torch.equal(state, torch.random.get_rng_state())  # global RNG left alone
    assert losses[-1] < losses[0] / 2
    rec = reconstruct(model, crops)
    assert rec.shape == crops.shape and rec.dtype == np.uint8


def test_photo_sources_skips_failures(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    good = [PhotoSource(n, "scikit-learn", "CC BY 2.0") for n in ("china.jpg", "flower.jpg", "china.jpg")]
    monkeypatch.setattr(photos, "PHOTO_SOURCES", (*good, PhotoSource("nope.jpg", "scikit-learn", "-")))
    with caplog.at_level(logging.WARNING, logger="aigc_explain.synth.photos"):
        loaded = photo_sources()
    assert [n for n, _ in loaded] == ["china.jpg", "flower.jpg", "china.jpg"]
    assert "skipping demo photo nope.jpg" in caplog.text
    monkeypatch.setattr(photos, "PHOTO_SOURCES", good[:2])
    with pytest.raises(RuntimeError, match=r"only 2 demo photos could be loaded offline, need at least 3"):
        photo_sources()
