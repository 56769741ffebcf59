"""Checkpoints are validated before use: every malformed field is one clear line, a folder is named as such."""

from pathlib import Path

import pytest
import torch

from aigc_explain.cam import main as cam_main
from aigc_explain.core.checkpoint import load_detector
from aigc_explain.evaluate import main as evaluate_main


CAM = ["--layer", "layer1", "--no-progress", "--device", "cpu", "--overlays", "1"]


def _payload(path: Path) -> dict:
    return torch.load(path, weights_only=True)


@pytest.mark.parametrize("change, message", [
    ({"std": [0.229, 0.0, 0.225]}, "std [0.229, 0.0, 0.225] has a value <= 0"),
    ({"std": [float("nan")] * 3}, "std is [nan, nan, nan]; it must be three finite numbers"),
    ({"mean": [0.5]}, "mean is [0.5]; it must be three finite numbers"),
    ({"arch": None}, "'arch' is None, not a model name"),
    ({"image_size": 10**6}, "image_size is 1000000; it must be an integer from 16"),
    ({"image_size": "32"}, "image_size is '32'"),
    ({"state_dict": [1, 2]}, "'state_dict' is missing or does not hold tensors"),
    ({"format_version": "one"}, "format_version is 'one', not an integer"),
    ({"class_names": ["real"]}, "class_names is ['real']; it must be two names"),
])
def test_malformed_checkpoints_are_one_line(tiny_ckpt, dataset, tmp_path, capsys, change, message, error_line):
    payload = {**_payload(tiny_ckpt), **change}
    bad = tmp_path / "bad.pth"
    torch.save(payload, bad)
    with pytest.raises(ValueError, match="is malformed|format version"):
        load_detector(bad)
    assert cam_main(["--ckpt", str(bad), "--images", str(dataset / "val"), "--out", str(tmp_path / "o"), *CAM]) == 2
    line = error_line()
    assert message in line and line.startswith("cam: error: checkpoint")
    assert not (tmp_path / "o").exists()


def test_missing_arch_key_is_one_line(tiny_ckpt, dataset, tmp_path, capsys, error_line):
    payload = _payload(tiny_ckpt)
    del payload["arch"]
    torch.save(payload, tmp_path / "bad.pth")
    assert evaluate_main(["--ckpt", str(tmp_path / "bad.pth"), "--data", str(dataset), "--out",
                          str(tmp_path / "o")]) == 2
    assert "'arch' is None" in error_line()


def test_a_checkpoint_folder_is_named_as_such(tiny_ckpt, dataset, tmp_path, capsys, error_line):
    assert cam_main(["--ckpt", str(tiny_ckpt.parent), "--images", str(dataset / "val"), *CAM]) == 2
    line = error_line()
    assert "is a folder, not a file (it holds det.pth)" in line and "does not exist" not in line
