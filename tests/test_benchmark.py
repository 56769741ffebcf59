"""The planted-artifact dataset and the known-answer benchmark: twins differ only inside the region,
builds are deterministic and never overwrite; end to end, a corner plant gives corner_share > 0.5 and a
centre plant < 0.5."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from aigc_explain.benchmark import CSV_COLUMNS, default_layers
from aigc_explain.benchmark import main as benchmark_main
from aigc_explain.models import build_detector
from aigc_explain.planted import (PlantSpec, build_planted_dataset, checkerboard, content_image, known_answer,
                                  meets_known_answer, planted_pair)
from aigc_explain.regions import region_masks

SMALL = dict(n_train=3, n_val=2, size=32, seed=1, strength=8)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


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
    code = "import sys, aigc_explain.planted; print('torch' in sys.modules)"
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


def test_default_layers_are_auto_and_the_2x_4x_maps():
    assert default_layers(build_detector("test_resnet", image_size=64).backbone, 64) == ["auto", "layer3", "layer2"]
    mobilenet = build_detector("mobilenet_v2", image_size=160).backbone  # 5x5 -> 10x10 -> 20x20
    assert default_layers(mobilenet, 160) == ["auto", "features.13", "features.6"]


def test_cli_errors_are_one_line_and_write_nothing(tmp_path: Path, capsys):
    with pytest.raises(SystemExit) as exc:
        benchmark_main(["planted", "--region", "edge"])
    assert exc.value.code == 2
    base = ["planted", "--region", "corner", "--model", "test_resnet", "--weights", "none", "--image-size", "64",
            "--out", str(tmp_path / "run")]
    capsys.readouterr()
    assert benchmark_main(base + ["--layers", "auto,layer9"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("benchmark: error: --layers: layer='layer9' is not a module")
    assert benchmark_main(base + ["--methods", "gradcam,nocam"]) == 2
    assert "unknown nocam; use some of:" in capsys.readouterr().err
    assert benchmark_main(base + ["--strength", "0"]) == 2
    assert not (tmp_path / "run").exists()


def test_list_layers_needs_no_region(capsys):
    assert benchmark_main(["planted", "--list-layers", "--model", "test_resnet", "--image-size", "64"]) == 0
    assert "layer3\t4x4" in capsys.readouterr().out


E2E = ["--model", "test_resnet", "--weights", "none", "--image-size", "64", "--n-train", "96", "--n-val", "24",
       "--epochs", "3", "--batch-size", "16", "--lr", "1e-3", "--strength", "16", "--methods", "gradcam",
       "--layers", "auto,layer3", "--no-progress", "--device", "cpu"]


@pytest.fixture(scope="module")
def planted_runs(tmp_path_factory, one_thread) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bench")
    for region in ("corner", "center"):
        assert benchmark_main(["planted", "--region", region, "--out", str(root / region), *E2E]) == 0
    return {region: root / region for region in ("corner", "center")}


def _report(run: Path) -> dict:
    return json.loads((run / "planted.json").read_text())


def _share(report: dict, layer: str) -> float:
    return next(r for r in report["rows"] if r["layer"] == layer)["masses"]["corner_share"]["mean"]


@pytest.mark.slow
def test_known_answers_corner_above_and_centre_below_half(planted_runs: dict[str, Path]):
    corner, center = _report(planted_runs["corner"]), _report(planted_runs["center"])
    assert corner["best_val_acc"] >= 0.9 and center["best_val_acc"] >= 0.9
    assert corner["expected"] == "corner_share > 0.5" and center["expected"] == "corner_share < 0.5"
    layer3 = [next(r for r in rep["rows"] if r["layer"] == "layer3") for rep in (corner, center)]
    assert all(r["map_size"] == [4, 4] and r["passes"] for r in layer3)
    assert _share(corner, "layer3") > 0.8 and _share(center, "layer3") < 0.2
    assert _share(corner, "layer3") - _share(center, "layer3") > 0.6
    # the 2x2 auto layer cannot tell corners from centre at all: bilinear upsampling gives exactly 0.5
    assert _share(corner, "auto") == pytest.approx(0.5) and not corner["rows"][0]["passes"]
    assert any("too coarse" in w for w in corner["warnings"])


@pytest.mark.slow
def test_run_folder_contract(planted_runs: dict[str, Path], capsys):
    run = planted_runs["corner"]
    for name in ("planted.csv", "planted.md", "planted.json", "manifest.json", "data/dataset.json",
                 "train/best_model.pth"):
        assert (run / name).is_file(), name
    rows = list(csv.DictReader(open(run / "planted.csv")))
    assert tuple(rows[0]) == CSV_COLUMNS and [r["layer"] for r in rows] == ["auto", "layer3"]
    report = _report(run)
    assert float(rows[1]["corner_share"]) == pytest.approx(_share(report, "layer3"))
    assert "| gradcam | layer3 | 4x4 |" in (run / "planted.md").read_text()
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["command"] == "benchmark planted" and len(manifest["checkpoint_sha256"]) == 64
    assert report["dataset"]["region"] == "corner" and report["config"]["strength"] == 16
    assert benchmark_main(["planted", "--region", "corner", "--out", str(run), *E2E]) == 2
    assert "already holds a run; pass --overwrite" in capsys.readouterr().err
