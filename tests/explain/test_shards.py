"""Shards of a CAM run: --shard K/N runs merge into the single run; under torchrun too; merges check that the shards add up."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from aigc_explain.cam import main as cam_main
from aigc_explain.core.checkpoint import save_checkpoint
from aigc_explain.core.models import build_detector

CAM = ["--layer", "layer1", "--no-progress", "--device", "cpu", "--overlays", "1"]


def _rows(path: Path) -> list[dict]:
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_shards_merge_into_the_single_run(dataset: Path, ckpt: Path, tmp_path: Path):
    common = ["--ckpt", str(ckpt), "--images", str(dataset / "val"), "--overlays", "0", "--no-progress",
              "--batch-size", "3", "--layer", "layer2"]
    assert cam_main(common + ["--out", str(tmp_path / "full")]) == 0
    for k in (1, 2, 3):
        assert cam_main(common + ["--out", str(tmp_path / f"s{k}"), "--shard", f"{k}/3"]) == 0
    assert cam_main(["merge", str(tmp_path / "s2"), str(tmp_path / "s1"), str(tmp_path / "s3"),
                     "--out", str(tmp_path / "merged"), "--overlays", "0"]) == 0
    full, merged = tmp_path / "full", tmp_path / "merged"
    assert_same_run(full, merged)
    assert cam_main(["merge", str(tmp_path / "s1"), str(tmp_path / "s1"), "--out", str(tmp_path / "bad")]) == 2


def assert_same_run(full: Path, other: Path) -> None:
    """Same images in the same order, same labels; numbers equal up to float32 rounding (another batch
    composition changes the last bits of a convolution)."""
    a, b = _rows(full / "per_image.csv"), _rows(other / "per_image.csv")
    assert [(r["path"], r["label"], r["pred"], r["cam_empty"]) for r in a] == \
        [(r["path"], r["label"], r["pred"], r["cam_empty"]) for r in b]
    for key in ("prob_fake", "corner_mass", "center_mass", "border_mass", "corner_share"):
        assert np.allclose([float(r[key]) for r in a], [float(r[key]) for r in b], atol=1e-5, equal_nan=True)
    for group in ("all", "real", "fake"):
        assert np.allclose(np.load(full / f"mean_cam_{group}.npy"), np.load(other / f"mean_cam_{group}.npy"), atol=1e-6)
    sa, sb = (json.loads((f / "summary.json").read_text()) for f in (full, other))
    assert sa["accuracy"] == sb["accuracy"] and sa["groups"].keys() == sb["groups"].keys()
    for group in sa["groups"]:
        assert sa["groups"][group]["n"] == sb["groups"][group]["n"]
        assert sa["groups"][group]["corner_share"]["mean"] == pytest.approx(sb["groups"][group]["corner_share"]["mean"],
                                                                            abs=1e-5)
    assert np.allclose(np.load(full / "cams.npz")["maps"], np.load(other / "cams.npz")["maps"], atol=1e-5)


@pytest.mark.slow
def test_cam_under_torchrun_equals_single_run(dataset: Path, ckpt: Path, tmp_path: Path):
    import os
    import subprocess
    import sys

    common = ["--ckpt", str(ckpt), "--images", str(dataset / "val"), "--overlays", "0", "--no-progress",
              "--device", "cpu", "--layer", "layer2"]
    assert cam_main(common + ["--out", str(tmp_path / "full")]) == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                           "--master-port", "29533", "-m", "aigc_explain.cam", *common, "--out", str(tmp_path / "dist")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert_same_run(tmp_path / "full", tmp_path / "dist")


def _shard(ckpt: Path, images: Path, out: Path, k: int, n: int, *extra: str) -> None:
    assert cam_main(["--ckpt", str(ckpt), "--images", str(images), "--out", str(out), "--shard", f"{k}/{n}",
                     *CAM, *extra]) == 0


def test_merge_needs_every_shard_of_one_run(tiny_ckpt, dataset, tmp_path, capsys, error_line, make_data):
    val = dataset / "val"
    s = {k: tmp_path / f"s{k}of3" for k in (1, 2, 3)}
    for k, folder in s.items():
        _shard(tiny_ckpt, val, folder, k, 3)
    assert cam_main(["merge", str(s[1]), str(s[2]), "--out", str(tmp_path / "m")]) == 2
    assert "shard(s) 3/3 missing" in error_line()
    assert cam_main(["merge", str(s[1]), str(s[2]), str(s[2]), "--out", str(tmp_path / "m")]) == 2
    assert "given twice" in error_line()
    other = make_data(tmp_path / "other", seed=5)
    _shard(tiny_ckpt, other / "val", tmp_path / "o3", 3, 3)
    assert cam_main(["merge", str(s[1]), str(s[2]), str(tmp_path / "o3"), "--out", str(tmp_path / "m")]) == 2
    assert "differ in image selection" in error_line()
    _shard(tiny_ckpt, val, tmp_path / "t2", 2, 2)
    assert cam_main(["merge", str(s[1]), str(tmp_path / "t2"), "--out", str(tmp_path / "m")]) == 2
    assert "shards of different splits" in error_line()
    _shard(tiny_ckpt, val, tmp_path / "x3", 3, 3, "--target", "real")
    assert cam_main(["merge", str(s[1]), str(s[2]), str(tmp_path / "x3"), "--out", str(tmp_path / "m")]) == 2
    assert "differ in settings" in error_line()
    torch.manual_seed(1)
    save_checkpoint(tmp_path / "other.pth", build_detector("test_resnet", image_size=32))
    _shard(tmp_path / "other.pth", val, tmp_path / "c3", 3, 3)
    assert cam_main(["merge", str(s[1]), str(s[2]), str(tmp_path / "c3"), "--out", str(tmp_path / "m")]) == 2
    assert "differ in checkpoint" in error_line()
    assert not (tmp_path / "m").exists()
    assert cam_main(["merge", *map(str, s.values()), "--out", str(tmp_path / "m")]) == 0
