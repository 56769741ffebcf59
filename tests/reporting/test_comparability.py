"""Comparable or refused: runs that differ in method, target or layer are refused unless the difference is
intended (then it is stated); different image sets are said, the same images are compared pair by pair;
a corner share that cannot vary (a map side < 4, or one value for every image) is "not measurable", never
given a p-value or a headline."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from aigc_explain.analysis.comparability import not_measurable
from aigc_explain.analysis.stats import compare_paired
from aigc_explain.cam import main as cam_main
from aigc_explain.compare import main as compare_main
from aigc_explain.report import main as report_main

FAST = ["--n-perm", "200", "--n-boot", "200"]


def test_a_2x2_layer_and_a_different_image_set_as_a_user_met_them(tmp_path: Path, make_data, error_line, capsys):
    """A 64-px MobileNetV2: one run at features.18 (2x2) over val/1_fake, one at features.6 (8x8) over val."""
    from aigc_explain.core.checkpoint import save_checkpoint
    from aigc_explain.core.models import build_detector

    torch.manual_seed(0)
    ckpt = tmp_path / "mnv2.pth"
    save_checkpoint(ckpt, build_detector("mobilenet_v2", weights="none", image_size=64))
    data = make_data(tmp_path / "data", n_train=1, n_val=4, size=64)
    common = ["--ckpt", str(ckpt), "--overlays", "0", "--no-progress", "--device", "cpu"]
    assert cam_main([*common, "--images", str(data / "val" / "1_fake"), "--layer", "features.18",
                     "--out", str(tmp_path / "deep")]) == 0
    assert cam_main([*common, "--images", str(data / "val"), "--layer", "features.6",
                     "--out", str(tmp_path / "early")]) == 0
    runs = [str(tmp_path / "deep"), str(tmp_path / "early")]
    capsys.readouterr()
    assert report_main(["--runs", *runs, "--out", str(tmp_path / "r"), *FAST]) == 2
    line = error_line()
    assert "not comparable" in line and "layer (deep: features.18, early: features.6)" in line
    assert "--allow-different" in line and not (tmp_path / "r").exists()
    assert compare_main([*runs, "--out", str(tmp_path / "c"), *FAST]) == 2
    assert "not comparable" in error_line()
    assert report_main(["--runs", *runs, "--out", str(tmp_path / "r"), *FAST, "--allow-different"]) == 0
    comparison = json.loads((tmp_path / "r" / "comparison.json").read_text())
    fake = comparison["classes"]["fake"]
    assert "2x2 map is too coarse" in fake["not_measurable"]
    assert fake["corner_share"]["test"]["p_permutation"] is None and "paired" not in fake["corner_share"]
    assert comparison["images"] == {"same": False, "n_a": 4, "n_b": 8, "n_shared": 4}
    index = (tmp_path / "r" / "index.md").read_text()
    assert "fake: corner share not measurable at this layer" in index and "p_perm=0" not in index
    assert "the runs differ in layer (deep: features.18, early: features.6)" in index
    assert "the runs explain different images" in index


def test_zero_variance_is_not_measurable_and_same_images_are_paired(tmp_path: Path, make_cam_run):
    flat = make_cam_run(tmp_path / "flat", {"real": [0.3, 0.6, 0.4], "fake": [0.5, 0.5, 0.5]})
    other = make_cam_run(tmp_path / "other", {"real": [0.2, 0.5, 0.3], "fake": [0.6, 0.7, 0.9]})
    out = tmp_path / "cmp"
    assert compare_main([str(flat), str(other), "--out", str(out), *FAST]) == 0
    result = json.loads((out / "comparison.json").read_text())
    assert result["images"]["same"] is True and result["differences"] == []
    fake, real = result["classes"]["fake"], result["classes"]["real"]
    assert "0.5 for every image" in fake["not_measurable"] and fake["corner_share"]["test"]["p_permutation"] is None
    assert real["not_measurable"] is None
    paired = real["corner_share"]["paired"]  # every real image's share fell by exactly 0.1
    assert paired["n_pairs"] == 3 and paired["mean_diff"] == pytest.approx(0.1)
    assert paired["p_sign_flip"] == pytest.approx(2 / 8, abs=0.08)  # 2 of the 8 sign patterns are as extreme


def test_a_different_method_is_refused(tmp_path: Path, make_cam_run, error_line):
    a = make_cam_run(tmp_path / "a", {"real": [0.3, 0.6], "fake": [0.5, 0.7]})
    b = make_cam_run(tmp_path / "b", {"real": [0.3, 0.6], "fake": [0.5, 0.7]}, layer="layer3")
    assert compare_main([str(a), str(b), "--out", str(tmp_path / "c"), *FAST]) == 2
    assert "differ in layer (a: layer2, b: layer3)" in error_line()
    assert compare_main([str(a), str(b), "--out", str(tmp_path / "c"), *FAST, "--allow-different"]) == 0


def test_not_measurable_rules():
    assert "too coarse" in not_measurable([2, 2], np.array([0.1, 0.9]))
    assert "too coarse" in not_measurable([3, 8], np.array([0.1, 0.9]))
    assert not_measurable([4, 4], np.array([0.1, 0.9])) is None
    assert "does not vary" in not_measurable([8, 8], np.array([0.5, 0.5, np.nan]))
    assert "too few" in not_measurable([8, 8], np.array([0.5, np.nan]))


def test_paired_test_known_answers():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.2, 0.8, 200)
    shifted = compare_paired(base + 0.02 + rng.normal(0, 0.01, 200), base, n_perm=2000)
    assert shifted.p_sign_flip < 0.001 and shifted.p_wilcoxon < 0.001
    null = compare_paired(base + rng.normal(0, 0.01, 200), base, n_perm=2000)  # no shift: the null holds
    assert null.p_sign_flip > 0.05 and null.p_wilcoxon > 0.05
    # unpaired, the same faint shift is lost in the spread between images
    from aigc_explain.analysis.stats import permutation_test

    assert permutation_test(base + 0.02 + rng.normal(0, 0.01, 200), base, n_perm=2000) > 0.05


def test_a_setting_difference_reads_the_same_in_the_index_and_on_the_panel():
    from aigc_explain.runs.comparison_summary import SettingDifference

    d = SettingDifference(setting="layer", values={"deep": "features.18", "early": "features.6"})
    assert d.describe() == "layer (deep: features.18, early: features.6)"
    assert d.describe("differs") == "layer differs (deep: features.18, early: features.6)"  # the panel's words
    assert SettingDifference.from_json(d.to_json()) == d
    assert d.to_json() == {"setting": "layer", "deep": "features.18", "early": "features.6"}  # the file's shape
