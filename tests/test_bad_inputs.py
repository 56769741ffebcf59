"""Misuses that used to give silently wrong numbers or tracebacks: malformed checkpoints, file names that
are not UTF-8, dangling and looping links, one-class folders, saturated logits, shards that do not add up."""

import csv
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from aigc_explain.cam import main as cam_main
from aigc_explain.checkpoint import load_detector, save_checkpoint
from aigc_explain.evaluate import main as evaluate_main
from aigc_explain.evaluation import Predictions
from aigc_explain.models import build_detector
from aigc_explain.run_folders import load_cam_run
from aigc_explain.runs import open_text
from aigc_explain.train import main as train_main
from conftest import make_dataset, one_error_line, write_image

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
def test_malformed_checkpoints_are_one_line(tiny_ckpt, dataset, tmp_path, capsys, change, message):
    payload = {**_payload(tiny_ckpt), **change}
    bad = tmp_path / "bad.pth"
    torch.save(payload, bad)
    with pytest.raises(ValueError, match="is malformed|format version"):
        load_detector(bad)
    assert cam_main(["--ckpt", str(bad), "--images", str(dataset / "val"), "--out", str(tmp_path / "o"), *CAM]) == 2
    line = one_error_line(capsys)
    assert message in line and line.startswith("cam: error: checkpoint")
    assert not (tmp_path / "o").exists()


def test_missing_arch_key_is_one_line(tiny_ckpt, dataset, tmp_path, capsys):
    payload = _payload(tiny_ckpt)
    del payload["arch"]
    torch.save(payload, tmp_path / "bad.pth")
    assert evaluate_main(["--ckpt", str(tmp_path / "bad.pth"), "--data", str(dataset), "--out",
                          str(tmp_path / "o")]) == 2
    assert "'arch' is None" in one_error_line(capsys)


def test_a_checkpoint_folder_is_named_as_such(tiny_ckpt, dataset, tmp_path, capsys):
    assert cam_main(["--ckpt", str(tiny_ckpt.parent), "--images", str(dataset / "val"), *CAM]) == 2
    line = one_error_line(capsys)
    assert "is a folder, not a file (it holds det.pth)" in line and "does not exist" not in line


def test_saturated_logits_give_probabilities_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        probs = Predictions(["a", "b", "c"], np.array([0, 1, 1]), np.array([-1000.0, 1000.0, 0.0])).probs
    assert probs.tolist() == [0.0, 1.0, 0.5]


def _undecodable_dataset(tmp_path: Path) -> tuple[Path, bytes]:
    root = make_dataset(tmp_path / "data")
    name = b"caf\xe9_\xff.png"  # Latin-1 bytes: not valid UTF-8
    target = os.path.join(os.fsencode(root / "val" / "1_fake"), name)
    with open(target, "wb") as fh:
        fh.write((root / "val" / "1_fake" / "000.png").read_bytes())
    (root / "train" / "0_real" / "000.png").rename(os.fsdecode(os.path.join(os.fsencode(root / "train" / "0_real"),
                                                                              name)))
    return root, name


def test_file_names_that_are_not_utf8_round_trip(tiny_ckpt, tmp_path):
    root, name = _undecodable_dataset(tmp_path)
    out = tmp_path / "cam"
    assert cam_main(["--ckpt", str(tiny_ckpt), "--images", str(root / "val"), "--out", str(out), *CAM]) == 0
    run = load_cam_run(out)
    odd = [p for p in run.predictions.paths if os.fsencode(p).endswith(name)]
    assert len(odd) == 1 and os.path.isfile(odd[0])  # read back as the same name: it opens
    assert name in (out / "per_image.csv").read_bytes()  # the bytes themselves, not a replacement
    assert evaluate_main(["--ckpt", str(tiny_ckpt), "--data", str(root), "--out", str(tmp_path / "ev")]) == 0
    with open_text(tmp_path / "ev" / "predictions.csv") as fh:
        assert any(os.fsencode(r["path"]).endswith(name) for r in csv.DictReader(fh))


def test_training_and_resume_with_a_name_that_is_not_utf8(tmp_path):
    root, _ = _undecodable_dataset(tmp_path)
    bad = os.path.join(os.fsencode(root / "train" / "1_fake"), b"\xfe.jpg")
    with open(bad, "wb") as fh:
        fh.write(b"broken")  # an unreadable file with an undecodable name goes to skipped.csv
    run = tmp_path / "run"
    args = ["--data", str(root), "--out", str(run), "--model", "test_resnet", "--weights", "none", "--image-size",
            "32", "--batch-size", "4", "--no-progress"]
    assert train_main([*args, "--epochs", "1"]) == 0
    assert train_main([*args, "--epochs", "2", "--resume"]) == 0
    assert b"\xfe.jpg" in (run / "skipped.csv").read_bytes()
    with open(run / "history.csv") as fh:
        assert [r["epoch"] for r in csv.DictReader(fh)] == ["1", "2"]


def test_dangling_links_are_listed_and_loops_reported_once(tiny_ckpt, dataset, tmp_path):
    fake = dataset / "val" / "1_fake"
    (fake / "gone.png").symlink_to(tmp_path / "nowhere.png")
    (fake / "loop").symlink_to(fake)  # a folder link back into itself
    (fake / "a.png").symlink_to(fake / "b.png")
    (fake / "b.png").symlink_to(fake / "a.png")  # two file links pointing at each other
    out = tmp_path / "o"
    assert cam_main(["--ckpt", str(tiny_ckpt), "--images", str(dataset / "val"), "--out", str(out), *CAM]) == 0
    with open(out / "skipped.csv") as fh:
        reasons = {Path(r["path"]).name: r["reason"] for r in csv.DictReader(fh)}
    assert reasons["gone.png"].startswith("dangling symbolic link")
    assert list(reasons).count("loop") == 1 and "symbolic link loop" in reasons["loop"]
    assert "symbolic link loop" in reasons["a.png"] and "symbolic link loop" in reasons["b.png"]
    assert json.loads((out / "summary.json").read_text())["n_images"] == 8


def test_one_class_folders_warn_in_log_and_results(tiny_ckpt, dataset, tmp_path, capsys):
    for p in (dataset / "val" / "0_real").iterdir():
        p.unlink()
    assert evaluate_main(["--ckpt", str(tiny_ckpt), "--data", str(dataset), "--out", str(tmp_path / "ev")]) == 0
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert metrics["n_real"] == 0 and "holds fake images only" in metrics["warnings"][0]
    assert "holds fake images only" in capsys.readouterr().err
    assert cam_main(["--ckpt", str(tiny_ckpt), "--images", str(dataset / "val"), "--out", str(tmp_path / "c"),
                     *CAM]) == 0
    summary = json.loads((tmp_path / "c" / "summary.json").read_text())
    assert any("fake images only" in w for w in summary["warnings"])


def _shard(ckpt: Path, images: Path, out: Path, k: int, n: int, *extra: str) -> None:
    assert cam_main(["--ckpt", str(ckpt), "--images", str(images), "--out", str(out), "--shard", f"{k}/{n}",
                     *CAM, *extra]) == 0


def test_merge_needs_every_shard_of_one_run(tiny_ckpt, dataset, tmp_path, capsys):
    val = dataset / "val"
    s = {k: tmp_path / f"s{k}of3" for k in (1, 2, 3)}
    for k, folder in s.items():
        _shard(tiny_ckpt, val, folder, k, 3)
    assert cam_main(["merge", str(s[1]), str(s[2]), "--out", str(tmp_path / "m")]) == 2
    assert "shard(s) 3/3 missing" in one_error_line(capsys)
    assert cam_main(["merge", str(s[1]), str(s[2]), str(s[2]), "--out", str(tmp_path / "m")]) == 2
    assert "given twice" in one_error_line(capsys)
    other = make_dataset(tmp_path / "other", seed=5)
    _shard(tiny_ckpt, other / "val", tmp_path / "o3", 3, 3)
    assert cam_main(["merge", str(s[1]), str(s[2]), str(tmp_path / "o3"), "--out", str(tmp_path / "m")]) == 2
    assert "differ in image selection" in one_error_line(capsys)
    _shard(tiny_ckpt, val, tmp_path / "t2", 2, 2)
    assert cam_main(["merge", str(s[1]), str(tmp_path / "t2"), "--out", str(tmp_path / "m")]) == 2
    assert "shards of different splits" in one_error_line(capsys)
    _shard(tiny_ckpt, val, tmp_path / "x3", 3, 3, "--target", "real")
    assert cam_main(["merge", str(s[1]), str(s[2]), str(tmp_path / "x3"), "--out", str(tmp_path / "m")]) == 2
    assert "differ in settings" in one_error_line(capsys)
    torch.manual_seed(1)
    save_checkpoint(tmp_path / "other.pth", build_detector("test_resnet", image_size=32))
    _shard(tmp_path / "other.pth", val, tmp_path / "c3", 3, 3)
    assert cam_main(["merge", str(s[1]), str(s[2]), str(tmp_path / "c3"), "--out", str(tmp_path / "m")]) == 2
    assert "differ in checkpoint" in one_error_line(capsys)
    assert not (tmp_path / "m").exists()
    assert cam_main(["merge", *map(str, s.values()), "--out", str(tmp_path / "m")]) == 0
