"""Misuses that used to give silently wrong numbers or tracebacks: malformed checkpoints, file names that
are not UTF-8, dangling and looping links, one-class folders, saturated logits, shards that do not add up."""

import csv
import json
import os
from pathlib import Path


from aigc_explain.cam import main as cam_main
from aigc_explain.evaluate import main as evaluate_main
from aigc_explain.runs.reader import load_cam_run
from aigc_explain.runs.files import open_text
from aigc_explain.train import main as train_main


CAM = ["--layer", "layer1", "--no-progress", "--device", "cpu", "--overlays", "1"]












def _undecodable_dataset(tmp_path: Path, make_data) -> tuple[Path, bytes]:
    root = make_data(tmp_path / "data")
    name = b"caf\xe9_\xff.png"  # Latin-1 bytes: not valid UTF-8
    target = os.path.join(os.fsencode(root / "val" / "1_fake"), name)
    with open(target, "wb") as fh:
        fh.write((root / "val" / "1_fake" / "000.png").read_bytes())
    (root / "train" / "0_real" / "000.png").rename(os.fsdecode(os.path.join(os.fsencode(root / "train" / "0_real"),
                                                                              name)))
    return root, name


def test_file_names_that_are_not_utf8_round_trip(tiny_ckpt, tmp_path, make_data):
    root, name = _undecodable_dataset(tmp_path, make_data)
    out = tmp_path / "cam"
    assert cam_main(["--ckpt", str(tiny_ckpt), "--images", str(root / "val"), "--out", str(out), *CAM]) == 0
    run = load_cam_run(out)
    odd = [p for p in run.predictions.paths if os.fsencode(p).endswith(name)]
    assert len(odd) == 1 and os.path.isfile(odd[0])  # read back as the same name: it opens
    assert name in (out / "per_image.csv").read_bytes()  # the bytes themselves, not a replacement
    assert evaluate_main(["--ckpt", str(tiny_ckpt), "--data", str(root), "--out", str(tmp_path / "ev")]) == 0
    with open_text(tmp_path / "ev" / "predictions.csv") as fh:
        assert any(os.fsencode(r["path"]).endswith(name) for r in csv.DictReader(fh))


def test_training_and_resume_with_a_name_that_is_not_utf8(tmp_path, make_data):
    root, _ = _undecodable_dataset(tmp_path, make_data)
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




