"""Run folders keep user data safe: --overwrite replaces only our own run folders, never the inputs, and an
interrupted or failed replacement leaves the old run; every run is marked complete last, and readers refuse
incomplete or damaged runs; OS errors and unwritable outputs are one line, found before any computing."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from aigc_explain.explain import save as cam_job
from aigc_explain.cam import main as cam_main
from aigc_explain.compare import main as compare_main
from aigc_explain.evaluate import main as evaluate_main
from aigc_explain.report import main as report_main
from aigc_explain.runs.contract import RECORD
from aigc_explain.runs.folders import check_complete, read_record, replaced_path
from aigc_explain.train import main as train_main


CAM = ["--layer", "layer1", "--no-progress", "--device", "cpu", "--overlays", "0"]


def _cam(ckpt: Path, images: Path, out: Path, *extra: str) -> int:
    return cam_main(["--ckpt", str(ckpt), "--images", str(images), "--out", str(out), *CAM, *extra])


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_overwrite_refuses_a_folder_we_did_not_write(dataset, tiny_ckpt, tmp_path, capsys, error_line):
    thesis = tmp_path / "v" / "thesis.tex"
    thesis.parent.mkdir()
    thesis.write_text("x")
    assert _cam(tiny_ckpt, dataset / "val", tmp_path / "v", "--overwrite") == 2
    assert "did not write (thesis.tex)" in error_line()
    assert thesis.read_text() == "x" and sorted(os.listdir(thesis.parent)) == ["thesis.tex"]


def test_overwrite_never_touches_the_inputs(dataset, tiny_ckpt, tmp_path, capsys, error_line):
    before = _snapshot(dataset)
    assert _cam(tiny_ckpt, dataset / "val", dataset, "--overwrite") == 2  # --out holds the images
    assert "holds the input" in error_line()
    assert _cam(tiny_ckpt, dataset / "val", tiny_ckpt.parent, "--overwrite") == 2  # --out holds the checkpoint
    assert "holds the input" in error_line()
    assert _cam(tiny_ckpt, dataset / "val", dataset / "val" / "cams") == 2  # results would mix with the data
    assert "lies inside the input folder" in error_line()
    assert train_main(["--data", str(dataset), "--out", str(dataset), "--model", "test_resnet", "--weights", "none",
                       "--overwrite"]) == 2
    assert "holds the input" in error_line()
    assert _snapshot(dataset) == before and tiny_ckpt.is_file()


def test_overwrite_replaces_our_run_and_refuses_files_added_to_it(dataset, tiny_ckpt, tmp_path, capsys, error_line):
    out = tmp_path / "run"
    assert _cam(tiny_ckpt, dataset / "val", out) == 0
    assert read_record(out)["status"] == "complete"
    assert _cam(tiny_ckpt, dataset / "val", out) == 2
    assert "already holds a run; pass --overwrite" in error_line()
    assert _cam(tiny_ckpt, dataset / "val", out, "--overwrite") == 0
    assert not replaced_path(out).exists()
    (out / "notes.txt").write_text("mine")
    assert _cam(tiny_ckpt, dataset / "val", out, "--overwrite") == 2
    assert "also holds files the run did not write (notes.txt)" in error_line()
    assert (out / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("failure", [KeyboardInterrupt, ValueError])
def test_a_failed_overwrite_leaves_the_old_run(dataset, tiny_ckpt, tmp_path, monkeypatch, failure):
    out = tmp_path / "run"
    assert _cam(tiny_ckpt, dataset / "val", out) == 0
    before = _snapshot(out)

    def broken(*args, **kwargs):
        raise failure("stopped")

    monkeypatch.setattr(cam_job, "explain_folder", broken)
    code = _cam(tiny_ckpt, dataset / "val", out, "--overwrite")
    assert code == (130 if failure is KeyboardInterrupt else 2)
    assert _snapshot(out) == before and not replaced_path(out).exists()
    check_complete(out)


def test_an_interrupted_save_is_never_a_complete_run(dataset, tiny_ckpt, tmp_path, monkeypatch, capsys, error_line):
    """Ctrl-C while the files are written: nothing that looks complete is left, and compare refuses it."""

    good = tmp_path / "good"
    assert _cam(tiny_ckpt, dataset / "val", good) == 0
    original = cam_job.write_json

    def interrupt_after_summary(path, obj):
        original(path, obj)
        if Path(path).name == "summary.json":
            raise KeyboardInterrupt

    monkeypatch.setattr(cam_job, "write_json", interrupt_after_summary)
    assert _cam(tiny_ckpt, dataset / "val", tmp_path / "half") == 130
    assert not (tmp_path / "half" / "summary.json").exists()
    # the same half-written state left behind by a hard kill (no chance to roll back)
    half = tmp_path / "killed"
    half.mkdir()
    for name in ("summary.json", "per_image.csv"):
        (half / name).write_bytes((good / name).read_bytes())
    (half / RECORD).write_text(json.dumps({"format": "aigc_explain.run", "status": "running"}))
    capsys.readouterr()
    assert compare_main([str(good), str(half), "--out", str(tmp_path / "cmp")]) == 2
    assert "is a run that did not finish (status 'running'" in error_line()
    assert report_main(["--runs", str(half), "--out", str(tmp_path / "rep")]) == 2
    assert "is a run that did not finish" in error_line()


def test_damaged_files_are_refused(dataset, tiny_ckpt, tmp_path, capsys, error_line):
    shards = [tmp_path / f"s{k}" for k in (1, 2)]
    for k, shard in enumerate(shards, start=1):
        assert _cam(tiny_ckpt, dataset / "val", shard, "--shard", f"{k}/2") == 0
    aggregates = shards[1] / "aggregates.npz"
    aggregates.write_bytes(aggregates.read_bytes()[:100])  # a torn write
    assert cam_main(["merge", *map(str, shards), "--out", str(tmp_path / "m")]) == 2
    assert "is damaged: aggregates.npz has 100 bytes" in error_line()
    assert compare_main([str(shards[0]), str(shards[1]), "--out", str(tmp_path / "c")]) == 2
    assert "is damaged" in error_line()


def test_unwritable_out_is_found_before_any_computing(dataset, tiny_ckpt, tmp_path, monkeypatch, capsys, error_line):
    from aigc_explain.evidence import spectrum
    from aigc_explain.spectrum import main as spectrum_main

    calls = []
    monkeypatch.setattr(cam_job, "explain_folder", lambda *a, **k: calls.append("cam"))
    monkeypatch.setattr(spectrum, "class_spectra", lambda *a, **k: calls.append("spectrum"))
    (tmp_path / "a_file").write_text("")
    blocked = tmp_path / "a_file" / "run"
    assert _cam(tiny_ckpt, dataset / "val", blocked) == 2
    assert error_line().startswith("cam: error: ")
    assert spectrum_main(["--images", str(dataset / "val"), "--out", str(blocked)]) == 2
    assert "a_file" in error_line()
    assert calls == []


def _mount_tmpfs(where: Path, *options: str) -> bool:
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(("size=256k",) + options), "tmpfs", str(where)],
                          capture_output=True)
    return done.returncode == 0


def test_full_disk_is_one_line_and_no_half_run(dataset, tiny_ckpt, tmp_path, capsys, error_line):
    disk = tmp_path / "small"
    if not _mount_tmpfs(disk):
        pytest.skip("cannot mount a small tmpfs here (needs root and mount rights)")
    try:
        assert _cam(tiny_ckpt, dataset / "val", disk / "run", "--overlays", "2") == 2
        line = error_line()
        assert "No space left on device" in line and "the disk is full" in line
        assert not (disk / "run").exists() or read_record(disk / "run") is None
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_read_only_out_is_one_line(dataset, tiny_ckpt, tmp_path, capsys, error_line):
    disk = tmp_path / "ro"
    if not _mount_tmpfs(disk, "ro"):
        pytest.skip("cannot mount a read-only tmpfs here (needs root and mount rights)")
    try:
        assert _cam(tiny_ckpt, dataset / "val", disk / "run") == 2
        assert "read-only" in error_line()
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_no_readable_image_points_to_a_skipped_csv_that_exists(tmp_path, tiny_ckpt, capsys, error_line, write_image):
    bad = tmp_path / "bad" / "1_fake"
    bad.mkdir(parents=True)
    for i in range(3):
        (bad / f"{i}.png").write_bytes(b"not a png")
    out = tmp_path / "out"
    assert _cam(tiny_ckpt, bad, out) == 2
    line = error_line()
    assert "none of the 3 images" in line and str(out / "skipped.csv") in line
    rows = (out / "skipped.csv").read_text().splitlines()
    assert len(rows) == 4 and read_record(out)["status"] == "failed"
    # a failed run holds no results: the next run may use the folder without --overwrite
    good = tmp_path / "good" / "1_fake"
    good.mkdir(parents=True)

    import numpy as np

    write_image(good / "a.png", np.zeros((32, 32, 3), np.uint8))
    assert _cam(tiny_ckpt, good, out) == 0


def test_train_with_no_readable_val_image_writes_skipped_csv(dataset, tmp_path, capsys, error_line):
    for p in (dataset / "val").rglob("*.png"):
        p.write_bytes(b"broken")
    out = tmp_path / "run"
    assert train_main(["--data", str(dataset), "--out", str(out), "--model", "test_resnet", "--weights", "none",
                       "--image-size", "32", "--epochs", "1", "--batch-size", "4", "--no-progress"]) == 2
    assert "no validation image could be read" in error_line()
    assert len((out / "skipped.csv").read_text().splitlines()) == 9


def test_evaluate_refuses_to_overwrite_foreign_folder(dataset, tiny_ckpt, tmp_path, capsys, error_line):
    keep = tmp_path / "mine"
    keep.mkdir()
    (keep / "data.csv").write_text("1")
    assert evaluate_main(["--ckpt", str(tiny_ckpt), "--data", str(dataset), "--out", str(keep), "--overwrite"]) == 2
    assert "did not write" in error_line()
    assert (keep / "data.csv").read_text() == "1"


def test_a_run_folder_of_an_older_version_can_be_overwritten(dataset, tiny_ckpt, tmp_path, legacy_cam_folder):
    old = legacy_cam_folder(tmp_path / "old")
    assert _cam(tiny_ckpt, dataset / "val", old) == 2
    assert _cam(tiny_ckpt, dataset / "val", old, "--overwrite") == 0
    check_complete(old)
