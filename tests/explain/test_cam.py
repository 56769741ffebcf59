"""The cam command and explain_folder: output contract, numbers that agree across files, errors."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from aigc_explain.cam import main as cam_main
from aigc_explain.explain.folder import CamSettings, explain_folder
from aigc_explain.core.models import build_detector




def _rows(path: Path) -> list[dict]:
    return list(csv.DictReader(Path(path).read_text().splitlines()))


def _nanmean(values: list[str]) -> float | None:
    arr = np.array([float(v) for v in values])
    return float(np.nanmean(arr)) if np.isfinite(arr).any() else None


def test_cam_run_writes_the_contract(dataset: Path, ckpt: Path, tmp_path: Path):
    (dataset / "val" / "1_fake" / "broken.png").write_bytes(b"junk")
    out = tmp_path / "run"
    assert cam_main(["--ckpt", str(ckpt), "--images", str(dataset / "val"), "--out", str(out), "--batch-size", "3",
                     "--overlays", "1", "--no-progress", "--device", "cpu"]) == 0
    rows = _rows(out / "per_image.csv")
    assert list(rows[0]) == ["path", "label", "prob_fake", "pred", "cam_empty", "corner_mass", "center_mass",
                             "border_mass", "corner_share"]
    assert len(rows) == 8 and {r["label"] for r in rows} == {"real", "fake"}
    summary = json.loads((out / "summary.json").read_text())
    # --layer auto on a 64-px ResNet-18: layer4 gives 2x2, so the deepest block with a side >= 7 (layer2, 8x8)
    assert summary["n_skipped"] == 1 and summary["layer"] == "layer2.1" and summary["map_size"] == [8, 8]
    assert summary["layer_choice"]["asked"] == "auto" and "layer4.1 gives only 2x2" in summary["layer_choice"]["reason"]
    assert not any("too coarse" in w for w in summary["warnings"])
    for key in ("method", "target", "preprocessing", "regions", "checkpoint_sha256", "versions", "accuracy"):
        assert key in summary
    assert summary["preprocessing"]["center_crop"] is False
    for group, entry in summary["groups"].items():
        members = [r for r in rows if group == "all" or r["label"] == group or f"pred_{r['pred']}" == group]
        assert entry["n"] == len(members)
        assert entry["n_empty"] == sum(r["cam_empty"] == "True" for r in members)
        for key in ("corner_mass", "center_mass", "border_mass", "corner_share"):
            expected = _nanmean([r[key] for r in members])
            assert entry[key]["mean"] == (pytest.approx(expected) if expected is not None else None)
        mean_map = np.load(out / f"mean_cam_{group}.npy")
        assert mean_map.shape == (64, 64)
        if entry["n"] > entry["n_empty"]:
            assert mean_map.sum() == pytest.approx(1.0)
        assert (out / f"mean_cam_{group}.png").stat().st_size > 1000
    accuracy = np.mean([r["label"] == r["pred"] for r in rows])
    assert summary["accuracy"] == pytest.approx(accuracy)
    cams = np.load(out / "cams.npz")
    assert cams["maps"].shape == (8, 8, 8) and str(cams["layer"]) == "layer2.1" and list(cams["input_size"]) == [64, 64]
    assert [Path(p).name for p in cams["paths"]] == [Path(r["path"]).name for r in rows]
    assert np.allclose(cams["prob_fake"], [float(r["prob_fake"]) for r in rows])
    assert Image.open(out / "overlays.png").size[0] > 200 and len(list((out / "overlays").glob("*.png"))) >= 4
    assert [Path(r["path"]).name for r in _rows(out / "skipped.csv")] == ["broken.png"]
    assert json.loads((out / "manifest.json").read_text())["checkpoint_sha256"] == summary["checkpoint_sha256"]


def test_streaming_mean_equals_direct_mean(dataset: Path, ckpt: Path, unit_mass):
    from aigc_explain.core.checkpoint import load_detector
    from aigc_explain.explain.maps import upsample_positive

    result = explain_folder(load_detector(ckpt), dataset / "val", CamSettings(batch_size=3))
    up = upsample_positive(result.raw_maps, (64, 64))
    for group, idx in result.group_indices().items():
        unit = unit_mass(up[idx])
        nonempty = unit.reshape(len(idx), -1).sum(1) > 0
        expected = unit[nonempty].mean(0) if nonempty.any() else np.zeros((64, 64))
        assert np.allclose(result.accumulators[group].mean(), expected, atol=1e-12)


def test_targets_have_the_right_sign(dataset: Path, ckpt: Path):
    from aigc_explain.core.checkpoint import load_detector

    det = load_detector(ckpt)
    runs = {t: explain_folder(det, dataset / "val", CamSettings(target=t)) for t in ("fake", "real", "predicted")}
    assert np.array_equal(runs["real"].raw_maps, -runs["fake"].raw_maps)  # gradcam is linear in the target
    fake_pred = runs["fake"].prob_fake >= 0.5
    expected = np.where(fake_pred[:, None, None], runs["fake"].raw_maps, runs["real"].raw_maps)
    assert np.allclose(runs["predicted"].raw_maps, expected)


@pytest.mark.parametrize("arch,size,grid", [("test_vit", 64, (4, 4)), ("mobilenet_v2", 64, (8, 8))])
def test_other_architectures(dataset: Path, arch: str, size: int, grid: tuple[int, int]):
    torch.manual_seed(0)
    result = explain_folder(build_detector(arch, image_size=size), dataset / "val", CamSettings(limit=4))
    assert result.raw_maps.shape == (4, *grid) and len(result.paths) == 4


@pytest.mark.parametrize("method", ["gradcam++", "eigencam", "layercam", "scorecam", "ablationcam", "fullgrad"])
def test_methods_run_batched(dataset: Path, method: str):
    """Every family of method through the folder pipeline (a 16-channel ResNet keeps the
    one-forward-per-channel methods fast)."""
    from timm.models.resnet import BasicBlock, ResNet

    from aigc_explain.core.models import Detector

    torch.manual_seed(0)
    backbone = ResNet(BasicBlock, [1, 1, 1, 1], num_classes=1, channels=(8, 8, 16, 16), stem_width=8)
    det = Detector(backbone, arch="tiny", source="timm", image_size=64)
    result = explain_folder(det, dataset / "val", CamSettings(method=method, limit=4, batch_size=2))
    grid = (64, 64) if method == "fullgrad" else (8, 8)  # auto: layer2 (layer4 is 2x2); fullgrad: input size
    assert result.raw_maps.shape == (4, *grid) and np.isfinite(result.raw_maps).all()
    # batches of 2 give the maps one batch of 4 gives (eval mode: no image's map depends on its neighbours)
    whole = explain_folder(det, dataset / "val", CamSettings(method=method, limit=4, batch_size=4))
    assert result.paths == whole.paths
    np.testing.assert_allclose(result.raw_maps, whole.raw_maps, rtol=1e-4, atol=1e-6)


def test_earlier_layer_and_list_layers(dataset: Path, ckpt: Path, tmp_path: Path, capsys):
    assert cam_main(["--ckpt", str(ckpt), "--list-layers"]) == 0
    lines = [line for line in capsys.readouterr().out.strip().splitlines() if "\t" in line]
    listed = {line[2:].split("\t")[0]: line.split("\t")[1] for line in lines}
    assert listed["layer3"] == "4x4" and listed["layer4"] == "2x2"
    assert [line[2:].split("\t")[0] for line in lines if line.startswith("*")] == ["layer2.1"]  # 8x8 at 64 px
    out = tmp_path / "l2"
    assert cam_main(["--ckpt", str(ckpt), "--images", str(dataset / "val"), "--out", str(out), "--layer", "layer2",
                     "--overlays", "0", "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())  # 8x8: a corner spans 2 cells, no warning
    assert summary["map_size"] == [8, 8] and summary["warnings"] == [] and summary["layer"] == "layer2"


def test_user_errors_are_one_line(dataset: Path, ckpt: Path, tmp_path: Path, capsys, monkeypatch):
    out = tmp_path / "run"
    args = ["--ckpt", str(ckpt), "--images", str(dataset / "val"), "--overlays", "0", "--no-progress"]
    assert cam_main(args + ["--out", str(out)]) == 0
    capsys.readouterr()
    assert cam_main(args + ["--out", str(out)]) == 2
    assert "already holds a run; pass --overwrite" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert cam_main(["--ckpt", str(ckpt), "--images", str(tmp_path / "empty"), "--out", str(tmp_path / "e")]) == 2
    assert "no images found" in capsys.readouterr().err
    (tmp_path / "bad.pth").write_bytes(b"junk")
    assert cam_main(["--ckpt", str(tmp_path / "bad.pth"), "--images", str(dataset)]) == 2
    assert cam_main(args + ["--out", str(tmp_path / "m"), "--method", "magiccam"]) == 2
    assert cam_main(args + ["--out", str(tmp_path / "l"), "--layer", "layer9"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and "magiccam" in err[1] and "--list-layers" in err[2]
    monkeypatch.chdir(tmp_path)  # the default run folder: reports/cam/<ckpt-stem>-<images-name>
    assert cam_main(args) == 0
    assert (tmp_path / "reports" / "cam" / "det-val" / "summary.json").is_file()






