"""The planted-artifact dataset: twins differ only inside the region, builds are deterministic, seeded and never overwrite, and the known answer needs the whole interval on its side."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aigc_explain.synth.planted import (build_planted_dataset, checkerboard, content_image, known_answer,
                                        meets_known_answer, planted_pair, PlantSpec)
from aigc_explain.analysis.regions import region_masks

SMALL = dict(n_train=3, n_val=2, size=32, seed=1, strength=8)


def _read(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path)).astype(np.int16)


@pytest.mark.parametrize("region", ["corner", "center"])
def test_fake_twin_differs_only_inside_the_region(tmp_path: Path, region: str):
    info = build_planted_dataset(tmp_path / "d", region=region, **SMALL)
    mask = region_masks(32, 32)[region]
    assert info["plant_fraction"] == pytest.approx(0.25) and info["counts"]["val/1_fake"] == 2
    for split, n in (("train", 3), ("val", 2)):
        for i in range(n):
            real = _read(tmp_path / "d" / split / "0_real" / f"{i:05d}.png")
            fake = _read(tmp_path / "d" / split / "1_fake" / f"{i:05d}.png")
            diff = fake - real
            assert np.all(diff[~mask] == 0)
            # the PNG kept the plant bit for bit: +-8 in a period-2 checkerboard (less only where clipped)
            planted = 8 * checkerboard(32, 32)[..., None] * np.ones((1, 1, 3), np.int16)
            unclipped = (real >= 8) & (real <= 247)
            assert np.array_equal(diff[mask[..., None] & unclipped], planted[mask[..., None] & unclipped])
            assert unclipped[mask].mean() > 0.9


def test_planted_pair_matches_region_masks_and_content():
    spec = PlantSpec(region="corner", size=40, strength=3, corner_frac=0.2)
    real, fake = planted_pair(5, "val", 7, spec)
    assert np.array_equal(real, content_image(5, "val", 0, 7, size=40))
    changed = (fake != real).any(axis=2)
    assert not changed[~region_masks(40, 40, corner_frac=0.2)["corner"]].any()
    assert changed[:8, :8].all() and not changed[8:32, 8:32].any()  # 0.2 * 40 = 8-pixel corner squares
    assert not np.array_equal(real, content_image(5, "val", 0, 8, size=40))  # every image its own content


def test_build_is_deterministic_and_seeded(tmp_path: Path):
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        build_planted_dataset(tmp_path / name, region="center", **{**SMALL, "seed": seed})
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.png"))
    assert len(files) == 10
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    assert any((tmp_path / "a" / r).read_bytes() != (tmp_path / "c" / r).read_bytes() for r in files)


def test_unpaired_fakes_have_their_own_content(tmp_path: Path):
    build_planted_dataset(tmp_path / "d", region="corner", paired=False, **SMALL)
    real, fake = (_read(tmp_path / "d" / "train" / c / "00000.png") for c in ("0_real", "1_fake"))
    own = content_image(1, "train", 1, 0, size=32).astype(np.int16)
    outside = ~region_masks(32, 32)["corner"]
    assert np.array_equal(fake[outside], own[outside]) and not np.array_equal(fake[outside], real[outside])


def test_photo_content_twins_and_splits(tmp_path: Path):
    build_planted_dataset(tmp_path / "d", region="center", content="photos", **{**SMALL, "n_train": 2, "n_val": 1})
    real, fake = (_read(tmp_path / "d" / "val" / c / "00000.png") for c in ("0_real", "1_fake"))
    assert np.all((fake - real)[~region_masks(32, 32)["center"]] == 0) and (fake != real).any()
    assert real.std() > 5  # a photo crop, not a flat field


def test_known_answer_needs_the_whole_interval_on_the_right_side():
    assert known_answer("corner") == "corner_share > 0.5" and known_answer("center") == "corner_share < 0.5"
    assert meets_known_answer("corner", (0.51, 0.9)) and not meets_known_answer("corner", (0.45, 0.9))
    assert meets_known_answer("center", (0.1, 0.49)) and not meets_known_answer("center", (0.1, 0.5))
    assert not meets_known_answer("corner", (None, None))


def test_planted_module_does_not_import_torch():
    code = "import sys, aigc_explain.synth.planted; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_refuses_a_non_empty_folder_and_bad_arguments(tmp_path: Path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError, match="out_dir .* is not empty; choose a new or empty folder"):
        build_planted_dataset(tmp_path / "d", **SMALL)
    assert [p.name for p in (tmp_path / "d").iterdir()] == ["keep.txt"]
    with pytest.raises(ValueError, match="region='edge' must be one of corner, center"):
        build_planted_dataset(tmp_path / "e", region="edge", **SMALL)
    with pytest.raises(ValueError, match=r"strength must be an int in \[1, 64\]"):
        build_planted_dataset(tmp_path / "e", **{**SMALL, "strength": 0})
    with pytest.raises(ValueError, match="n_train .* must be an int >= 1"):
        build_planted_dataset(tmp_path / "e", **{**SMALL, "n_train": 0})
    with pytest.raises(ValueError, match="content='noise' must be one of shapes, photos"):
        build_planted_dataset(tmp_path / "e", content="noise", **SMALL)
    assert not (tmp_path / "e").exists()
