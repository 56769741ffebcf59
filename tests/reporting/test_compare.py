"""The compare command: two hand-made CAM run folders with chosen values, so every number in
comparison.json is known in advance; identical runs differ by nothing; errors are one line."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aigc_explain.compare import main as compare_main
from aigc_explain.analysis.comparison import common_grid, compare_runs
from aigc_explain.runs.reader import load_cam_run, load_run, run_kind
from aigc_explain.analysis.stats import compare_groups
from aigc_explain.runs.folders import mark_complete

FAST = ["--n-perm", "200", "--n-boot", "200"]


SHARES_A = {"real": [0.8, 0.6, float("nan")], "fake": [0.9, 0.7]}
SHARES_B = {"real": [0.2, 0.4], "fake": [0.1, 0.3, 0.5]}


def test_comparison_json_holds_the_numbers_put_in(tmp_path: Path, make_cam_run):
    a = make_cam_run(tmp_path / "plain", SHARES_A)
    b = make_cam_run(tmp_path / "aug", SHARES_B, peak=(8, 8))
    out = tmp_path / "cmp"
    assert compare_main([str(a), str(b), "--out", str(out), *FAST]) == 0
    result = json.loads((out / "comparison.json").read_text())
    assert result["labels"] == ["plain", "aug"] and list(result["classes"]) == ["all", "real", "fake"]
    real = result["classes"]["real"]
    assert real["counts"]["plain"] == {"n": 3, "n_empty": 1, "empty_share": pytest.approx(1 / 3)}
    assert real["counts"]["aug"] == {"n": 2, "n_empty": 0, "empty_share": 0.0}
    assert real["corner_share"]["plain"]["mean"] == pytest.approx(0.7)
    assert real["corner_share"]["plain"]["n"] == 2  # the blank map is dropped
    assert real["corner_mass"]["aug"]["mean"] == pytest.approx(0.15)
    assert real["center_mass"]["plain"]["mean"] == pytest.approx(0.15)
    assert result["classes"]["all"]["counts"]["aug"]["n"] == 5
    assert result["classes"]["fake"]["corner_share"]["aug"]["mean"] == pytest.approx(0.3)
    test = real["corner_share"]["test"]
    assert test["diff"] == pytest.approx(0.4) and (test["n_a"], test["n_b"]) == (2, 2)
    expected = compare_groups([0.8, 0.6, np.nan], [0.2, 0.4], n_perm=200, n_boot=200, seed=0)
    assert test["p_permutation"] == pytest.approx(expected.p_permutation)
    assert test["diff_ci95"] == pytest.approx(list(expected.diff_ci95))
    lo, hi = real["corner_share"]["plain"]["ci95"]
    assert 0.6 <= lo <= 0.7 <= hi <= 0.8
    assert real["mean_map"]["max_abs_difference"] == pytest.approx(1.0)  # a spike at (0,0) vs one at (8,8)
    assert real["mean_map"]["l1_difference"] == pytest.approx(2.0)
    assert result["classes"]["fake"]["mean_map"]["max_abs_difference"] == 0.0
    assert any("1 of 3 maps are blank" in w for w in result["warnings"])
    png = Image.open(out / "comparison.png")
    assert png.format == "PNG" and png.size[0] > 1000 and png.size[1] > 500
    assert json.loads((out / "manifest.json").read_text())["command"] == "compare"


def test_identical_runs_differ_by_nothing(tmp_path: Path, make_cam_run):
    a = make_cam_run(tmp_path / "a", SHARES_A)
    result = compare_runs(load_cam_run(a), load_cam_run(a), ("x", "y"), n_perm=100, n_boot=100)
    for entry in result.classes.values():
        assert entry.mean_map.max_abs_difference == 0.0
        test = entry.corner_share.test
        assert test.diff == 0.0 and test.p_permutation == 1.0


def test_labels_and_different_input_sizes(tmp_path: Path, make_cam_run):
    a = make_cam_run(tmp_path / "a", SHARES_A, size=16)
    b = make_cam_run(tmp_path / "b", SHARES_B, size=32)
    out = tmp_path / "cmp"
    assert compare_main([str(a), str(b), "--labels", "unaugmented", "augmented", "--out", str(out), *FAST]) == 0
    result = json.loads((out / "comparison.json").read_text())
    assert list(result["runs"]) == ["unaugmented", "augmented"] and result["difference"] == "unaugmented - augmented"
    fake = result["classes"]["fake"]["mean_map"]
    assert fake["resampled"] and fake["shape"] == [16, 16]
    assert fake["max_abs_difference"] == pytest.approx(0.0, abs=1e-12)  # uniform stays uniform on any grid
    assert any("resampled" in w for w in result["warnings"])


def test_common_grid_keeps_unit_mass():
    a = np.full((8, 8), 1 / 64)
    b = np.zeros((16, 16))
    b[:4, :4] = 1 / 16
    _, resampled, changed = common_grid(a, b)
    assert changed and resampled.shape == (8, 8) and resampled.sum() == pytest.approx(1.0)
    assert resampled[:2, :2].sum() > 0.9


def test_run_kinds_and_errors(tmp_path: Path, capsys, make_cam_run):
    a = make_cam_run(tmp_path / "a", SHARES_A)
    train = tmp_path / "train"
    train.mkdir()
    (train / "history.csv").write_text("epoch,train_loss,train_acc,val_loss,val_acc\n1,0.7,0.5,0.6,0.55\n")
    mark_complete(train, "train")
    assert run_kind(a) == "cam" and run_kind(train) == "training"
    assert load_run(train).history["val_acc"].tolist() == [0.55]
    (tmp_path / "junk").mkdir()
    with pytest.raises(ValueError, match="is not a run folder: expected summary.json \\+ per_image.csv"):
        run_kind(tmp_path / "junk")
    out = str(tmp_path / "o")
    assert compare_main([str(a), str(tmp_path / "junk"), "--out", out, *FAST]) == 2
    assert compare_main([str(a), str(train), "--out", out, *FAST]) == 2
    assert compare_main([str(a), str(tmp_path / "nope"), "--out", out, *FAST]) == 2
    assert compare_main([str(a), str(a), "--labels", "x", "x", "--out", out, *FAST]) == 2
    assert compare_main([str(a), str(a), "--out", out, "--n-perm", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 5 and all(line.startswith("compare: error: ") for line in err)
    assert "RUN_B" in err[1] and "training run, not a CAM run" in err[1]
    assert "does not exist" in err[2] and "--labels" in err[3] and "--n-perm" in err[4]
    assert not Path(out).exists()
    assert compare_main([str(a), str(a), "--labels", "x", "y", "--out", out, *FAST]) == 0
    assert compare_main([str(a), str(a), "--labels", "x", "y", "--out", out, *FAST]) == 2
    assert "pass --overwrite" in capsys.readouterr().err
