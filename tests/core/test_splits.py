"""Splits never overlap: a folder without train/ and val/ is refused unless --val-split asks for a seeded,
class-stratified split, which is recorded so evaluate and cam can use exactly the held-out part; files whose
bytes are identical in both splits are reported; --resume never shortens a run."""

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from aigc_explain.core.folders import find_samples
from aigc_explain.core.splits import cross_split_duplicates, stratified_split, training_splits
from aigc_explain.evaluate import main as evaluate_main
from aigc_explain.train import main as train_main


def _class_folder(root: Path, write_image, n: int = 10, size: int = 32) -> Path:
    rng = np.random.default_rng(0)
    for name in ("0_real", "1_fake"):
        for i in range(n):
            write_image(root / name / f"{i:03d}.png", rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
    return root


def _train(data: Path, out: Path, *extra: str) -> int:
    return train_main(["--data", str(data), "--out", str(out), "--model", "test_resnet", "--weights", "none",
                       "--image-size", "32", "--batch-size", "4", "--epochs", "1", "--no-progress", *extra])


def _listed(path: Path) -> list[str]:
    with open(path) as fh:
        return [row["path"] for row in csv.DictReader(fh)]


def test_a_class_only_folder_is_refused_without_val_split(tmp_path, write_image, error_line):
    data = _class_folder(tmp_path / "data", write_image)
    assert _train(data, tmp_path / "run") == 2
    line = error_line()
    assert "would validate on its own training images" in line and "--val-split" in line
    assert not (tmp_path / "run" / "best_model.pth").exists()


def test_val_split_is_seeded_stratified_disjoint_and_recorded(tmp_path, write_image):
    data = _class_folder(tmp_path / "data", write_image, n=10)
    run = tmp_path / "run"
    assert _train(data, run, "--val-split", "0.2") == 0
    train, val = _listed(run / "train_files.csv"), _listed(run / "val_files.csv")
    assert not set(train) & set(val) and len(train) + len(val) == 20
    assert sum("/0_real/" in p for p in val) == 2 and sum("/1_fake/" in p for p in val) == 2  # stratified
    manifest = json.loads((run / "manifest.json").read_text())
    splits = manifest["dataset"]["splits"]
    assert splits["source"] == "val-split" and splits["val_split"] == 0.2
    assert splits["duplicates_across_splits"]["count"] == 0
    assert manifest["dataset"]["val"] == {"real": 2, "fake": 2}
    # the same seed gives the same split; another seed another
    again = training_splits(data, val_split=0.2, seed=0)
    assert sorted(s.path for s in again.val) == sorted(str(Path(p)) for p in val) or \
        sorted(Path(s.path).resolve().as_posix() for s in again.val) == sorted(val)
    other = training_splits(data, val_split=0.2, seed=1)
    assert {Path(s.path).resolve().as_posix() for s in other.val} != set(val)
    # evaluate takes exactly the held-out images
    out = tmp_path / "eval"
    assert evaluate_main(["--ckpt", str(run / "best_model.pth"), "--data", str(run / "val_files.csv"),
                          "--out", str(out)]) == 0
    assert sorted(_listed(out / "predictions.csv")) == sorted(val)
    # and so does diagnose
    from aigc_explain.diagnose import main as diagnose_main

    diag = tmp_path / "diag"
    assert diagnose_main(["--ckpt", str(run / "best_model.pth"), "--images", str(run / "val_files.csv"), "--out",
                          str(diag), "--patch", "8", "--no-peaks", "--map-images", "1", "--device", "cpu",
                          "--no-progress"]) == 0
    assert json.loads((diag / "diagnose.json").read_text())["n_images"] == len(val)


def test_duplicates_across_splits_are_reported(tmp_path, make_data, capsys):
    data = make_data(tmp_path / "data", n_train=6, n_val=3)
    shutil.copyfile(data / "train" / "1_fake" / "002.png", data / "val" / "1_fake" / "copy.png")
    assert _train(data, tmp_path / "run") == 0
    dup = json.loads((tmp_path / "run" / "manifest.json").read_text())["dataset"]["splits"]["duplicates_across_splits"]
    assert dup["count"] == 1 and dup["examples"][0][0].endswith("copy.png")
    assert dup["examples"][0][1].endswith("002.png")
    assert "a duplicate across splits is a leak" in capsys.readouterr().err


def test_duplicate_detection_ignores_same_size_different_bytes(tmp_path):
    from aigc_explain.core.folders import Sample

    a, b, c = tmp_path / "a.bin", tmp_path / "b.bin", tmp_path / "c.bin"
    a.write_bytes(b"x" * 100)
    b.write_bytes(b"y" * 100)  # same size, other bytes: no duplicate
    c.write_bytes(b"x" * 100)
    found = cross_split_duplicates([Sample(str(a), 0)], [Sample(str(b), 0), Sample(str(c), 0)])
    assert found == {"count": 1, "examples": [[str(c), str(a)]]}
    # the same size and the same first 8 KB, another last byte: not a duplicate (the head digest only sorts)
    d, e = tmp_path / "d.bin", tmp_path / "e.bin"
    d.write_bytes(b"z" * 9000 + b"1")
    e.write_bytes(b"z" * 9000 + b"2")
    assert cross_split_duplicates([Sample(str(d), 0)], [Sample(str(e), 0)])["count"] == 0


def test_val_split_is_refused_where_splits_exist_and_checked(tmp_path, make_data, error_line):
    data = make_data(tmp_path / "data")
    assert _train(data, tmp_path / "run", "--val-split", "0.2") == 2
    assert "already has train/ and val/ folders; drop --val-split" in error_line()
    assert _train(data, tmp_path / "run2", "--val-split", "1.5") == 2
    assert "--val-split must be a fraction in (0, 1)" in error_line()


def test_stratified_split_needs_two_per_class():
    from aigc_explain.core.folders import Sample

    samples = [Sample("a", 0), Sample("b", 0), Sample("c", 1)]
    with pytest.raises(ValueError, match="at least 2 fake images"):
        stratified_split(samples, 0.5, 0)


def test_a_single_image_and_a_list_are_image_sets(tmp_path, write_image):
    img = write_image(tmp_path / "1_fake" / "x.png", np.zeros((8, 8, 3), np.uint8))
    assert [(s.path, s.label) for s in find_samples(img)] == [(str(img), 1)]
    listing = tmp_path / "list.csv"
    listing.write_text(f"path,label\n{img},fake\n{tmp_path / 'gone.png'},real\n")
    samples = find_samples(listing)
    assert [s.label for s in samples] == [1, 0] and samples[1].problem is not None
    listing.write_text("file,y\n")
    with pytest.raises(ValueError, match="columns path,label"):
        find_samples(listing)


def test_resume_never_shortens_an_interrupted_run(tmp_path, make_data, ctrl_c_at, capsys, error_line):
    data = make_data(tmp_path / "data")
    run = tmp_path / "run"
    ctrl_c_at(5)  # 4 batches per epoch: the first batch of epoch 2
    assert train_main(["--data", str(data), "--out", str(run), "--model", "test_resnet", "--weights", "none",
                       "--image-size", "32", "--batch-size", "4", "--epochs", "2", "--no-progress"]) == 130
    ctrl_c_at(None)
    capsys.readouterr()
    assert train_main(["--data", str(data), "--out", str(run), "--resume", "--epochs", "1", "--no-progress"]) == 2
    assert "would shorten the run: it is configured for 2 epochs and has trained 1" in error_line()
    assert train_main(["--data", str(data), "--out", str(run), "--resume", "--no-progress"]) == 0
