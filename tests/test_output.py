"""Output for people: a short summary on stdout (one JSON line with --json), default run folders that do not
collide between two detectors' best_model.pth, and sub-folders that are not class folders said once."""

import json
import logging
from pathlib import Path

import numpy as np

from aigc_explain._cli import default_out
from aigc_explain.cam import main as cam_main
from aigc_explain.core.folders import find_samples


def test_cam_prints_a_summary_or_json(dataset: Path, tiny_ckpt: Path, tmp_path: Path, capsys):
    base = ["--ckpt", str(tiny_ckpt), "--images", str(dataset / "val"), "--overlays", "0", "--no-progress",
            "--device", "cpu"]
    assert cam_main([*base, "--out", str(tmp_path / "a")]) == 0
    text = capsys.readouterr().out
    assert "gradcam at layer" in text and "corner share" in text and f"run folder: {tmp_path / 'a'}" in text
    assert "{" not in text and "0.4999999" not in text  # no JSON, no 17-digit floats
    assert cam_main([*base, "--out", str(tmp_path / "b"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out.strip())
    assert data["out"] == str(tmp_path / "b") and set(data["groups"]) >= {"real", "fake"}


def test_default_folders_of_two_detectors_do_not_collide(tmp_path: Path):
    a = default_out("cam", str(tmp_path / "plain" / "best_model.pth"), str(tmp_path / "val"))
    b = default_out("cam", str(tmp_path / "augmented" / "best_model.pth"), str(tmp_path / "val"))
    assert a != b and a.name == "plain-best_model-val" and b.name == "augmented-best_model-val"
    assert default_out("cam", "npr.pth", str(tmp_path / "val")).name == "npr-val"


def test_subfolders_that_are_not_classes_are_said(tmp_path: Path, write_image, caplog):
    for name in ("cats", "dogs"):
        write_image(tmp_path / "pets" / name / "x.png", np.zeros((8, 8, 3), np.uint8))
    with caplog.at_level(logging.WARNING):
        samples = find_samples(tmp_path / "pets")
    assert len(samples) == 2 and all(s.label == -1 for s in samples)
    said = [r.getMessage() for r in caplog.records if "not class folders" in r.getMessage()]
    assert len(said) == 1 and "cats, dogs" in said[0]

