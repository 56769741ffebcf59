"""Readers distrust their files: every crafted run file is one line naming it (never a traceback, never a silent
wrong number); links are refused, hashes verified, paths inside run files never opened outside the images
folder the run records, archives bounded before they inflate; any other failure at a command's top is one line
pointing to a log that holds the traceback."""

import csv
import io
import json
import resource
import zipfile
from pathlib import Path

import numpy as np
import pytest

from aigc_explain.cam import main as cam_main
from aigc_explain.compare import main as compare_main
from aigc_explain.explain import save as cam_job
from aigc_explain.report import main as report_main
from aigc_explain.runs.contract import RECORD
from aigc_explain.runs.folders import mark_complete

CAM = ["--layer", "layer1", "--no-progress", "--device", "cpu", "--overlays", "0"]


@pytest.fixture
def cam_run(dataset, tiny_ckpt, tmp_path):
    out = tmp_path / "cam"
    assert cam_main(["--ckpt", str(tiny_ckpt), "--images", str(dataset / "val"), "--out", str(out), *CAM,
                     "--overlays", "1"]) == 0
    return out


def _compare(run: Path, tmp_path: Path) -> int:
    return compare_main([str(run), str(run), "--labels", "a", "b", "--out", str(tmp_path / "cmp"),
                         "--n-perm", "50", "--n-boot", "50"])


def _rewrite(run: Path, name: str, data: bytes) -> None:
    """Change a file and re-record the run, as someone rewriting the record too would: only checks of content
    itself can catch it."""
    (run / name).write_bytes(data)
    mark_complete(run, "cam")


def test_a_symlink_in_a_run_folder_is_refused_and_never_copied(cam_run, tmp_path, capsys, error_line):
    secret = tmp_path / "id_rsa"
    secret.write_bytes(b"PRIVATE KEY")
    (cam_run / "overlays.png").unlink()
    (cam_run / "overlays.png").symlink_to(secret)
    assert report_main(["--runs", str(cam_run), "--out", str(tmp_path / "rep")]) == 2
    assert "holds a symbolic link (overlays.png)" in error_line()
    assert not (tmp_path / "rep").exists()  # nothing was copied anywhere


def test_swapped_files_of_equal_size_are_caught_by_their_hash(cam_run, tmp_path, capsys, error_line):
    real, fake = (cam_run / "mean_cam_real.npy").read_bytes(), (cam_run / "mean_cam_fake.npy").read_bytes()
    assert len(real) == len(fake) and real != fake
    (cam_run / "mean_cam_real.npy").write_bytes(fake)
    (cam_run / "mean_cam_fake.npy").write_bytes(real)
    assert _compare(cam_run, tmp_path) == 2
    assert "mean_cam_fake.npy is not the file the run wrote (its sha256 differs)" in error_line()


@pytest.mark.parametrize("change, message", [
    (lambda r: {**r, "files": list(r["files"])}, "its aigc_run.json lists no files"),
    (lambda r: {k: v for k, v in r.items() if k != "files"}, "its aigc_run.json lists no files"),
    (lambda r: {**r, "files": {"../../etc/passwd": 1}}, "lists '../../etc/passwd'"),
])
def test_a_malformed_record_is_one_line(cam_run, tmp_path, capsys, error_line, change, message):
    record = json.loads((cam_run / RECORD).read_text())
    (cam_run / RECORD).write_text(json.dumps(change(record)))
    assert _compare(cam_run, tmp_path) == 2
    assert message in error_line()


def test_deeply_nested_json_is_one_line(cam_run, tmp_path, capsys, error_line):
    _rewrite(cam_run, "summary.json", b"[" * 100_000 + b"]" * 100_000)
    assert _compare(cam_run, tmp_path) == 2
    assert "summary.json is nested too deeply" in error_line()
    (cam_run / RECORD).write_bytes(b"{\"a\":" * 100_000 + b"1" + b"}" * 100_000)
    assert _compare(cam_run, tmp_path) == 2
    assert "aigc_run.json is nested too deeply" in error_line()


def test_a_summary_that_is_not_an_object_is_one_line(cam_run, tmp_path, capsys, error_line):
    _rewrite(cam_run, "summary.json", b"[]")
    assert _compare(cam_run, tmp_path) == 2
    assert "summary.json holds list where an object belongs" in error_line()


@pytest.mark.parametrize("value", ["inf", "nan", "1e308", "-0.5"])
def test_per_image_values_out_of_range_are_refused(cam_run, tmp_path, capsys, error_line, value):
    rows = list(csv.reader(io.StringIO((cam_run / "per_image.csv").read_text())))
    rows[1][2] = value  # prob_fake
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    _rewrite(cam_run, "per_image.csv", buf.getvalue().encode())
    assert _compare(cam_run, tmp_path) == 2
    assert "per_image.csv column prob_fake row 1" in error_line()


def test_a_deleted_mean_map_is_named_not_dropped(cam_run, tmp_path, capsys, error_line):
    (cam_run / "mean_cam_fake.npy").unlink()
    assert _compare(cam_run, tmp_path) == 2
    assert "mean_cam_fake.npy is missing" in error_line()
    mark_complete(cam_run, "cam")  # the record rewritten without it: the summary still counts its images
    assert _compare(cam_run, tmp_path) == 2
    assert "mean_cam_fake.npy is missing though 4 images are in group fake" in error_line()


def test_a_mean_map_of_another_shape_is_refused(cam_run, tmp_path, capsys, error_line):
    buf = io.BytesIO()
    np.save(buf, np.full((4, 4), 1 / 16))
    _rewrite(cam_run, "mean_cam_real.npy", buf.getvalue())
    assert _compare(cam_run, tmp_path) == 2
    assert "mean_cam_real.npy holds an array of shape (4, 4); the run recorded (32, 32)" in error_line()


def _shards(dataset, tiny_ckpt, tmp_path):
    shards = [tmp_path / f"s{k}" for k in (1, 2)]
    for k, shard in enumerate(shards, start=1):
        assert cam_main(["--ckpt", str(tiny_ckpt), "--images", str(dataset / "val"), "--out", str(shard), *CAM,
                         "--shard", f"{k}/2"]) == 0
    return shards


def test_an_unknown_setting_in_a_shard_is_one_line(dataset, tiny_ckpt, tmp_path, capsys, error_line):
    shards = _shards(dataset, tiny_ckpt, tmp_path)
    summary = json.loads((shards[1] / "summary.json").read_text())
    summary["settings"]["evil"] = 1
    _rewrite(shards[1], "summary.json", json.dumps(summary).encode())
    assert cam_main(["merge", *map(str, shards), "--out", str(tmp_path / "m")]) == 2
    assert "summary.json holds unknown setting(s) evil" in error_line()


def test_a_deflate_bomb_in_cams_npz_is_refused_unread(dataset, tiny_ckpt, tmp_path, capsys, error_line):
    shards = _shards(dataset, tiny_ckpt, tmp_path)
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("maps.npy", "w", force_zip64=True) as fh:
            header = io.BytesIO()
            np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                                          "shape": (64, 1024, 1024)})
            fh.write(header.getvalue())
            zeros = bytes(1 << 22)
            for _ in range(64):  # 256 MiB of zeros: a quarter of a MiB on disk
                fh.write(zeros)
    assert len(bomb.getvalue()) < 2 << 20
    _rewrite(shards[1], "cams.npz", bomb.getvalue())
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert cam_main(["merge", *map(str, shards), "--out", str(tmp_path / "m")]) == 2
    assert "cams.npz declares 268435" in error_line()
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # KiB: nothing inflated


def test_paths_in_run_files_outside_the_images_folder_are_never_opened(dataset, tiny_ckpt, tmp_path, monkeypatch,
                                                                      write_image):
    shards = [tmp_path / f"s{k}" for k in (1, 2)]
    for k, shard in enumerate(shards, start=1):
        assert cam_main(["--ckpt", str(tiny_ckpt), "--images", str(dataset / "val"), "--out", str(shard), *CAM,
                         "--shard", f"{k}/2"]) == 0
    outside = write_image(tmp_path / "private" / "photo.png", np.full((32, 32, 3), 7, np.uint8))
    rows = list(csv.reader(io.StringIO((shards[0] / "per_image.csv").read_text())))
    for row in rows[1:]:
        row[0] = str(outside)
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    _rewrite(shards[0], "per_image.csv", buf.getvalue().encode())
    opened = []
    original = cam_job.read_image
    monkeypatch.setattr(cam_job, "read_image", lambda p: opened.append(str(p)) or original(p))
    assert cam_main(["merge", *map(str, shards), "--out", str(tmp_path / "m"), "--overlays", "2"]) == 0
    assert opened and str(outside) not in opened
    assert all(Path(p).resolve().is_relative_to((dataset / "val").resolve()) for p in opened)


def test_any_other_failure_is_one_line_with_a_log_of_the_traceback(dataset, tiny_ckpt, tmp_path, monkeypatch,
                                                                   capsys, error_line):
    def broken(*args, **kwargs):
        raise RuntimeError("something nobody foresaw")

    monkeypatch.setattr(cam_job, "explain_folder", broken)
    monkeypatch.setenv("AIGC_EXPLAIN_LOG_DIR", str(tmp_path / "logs"))
    assert cam_main(["--ckpt", str(tiny_ckpt), "--images", str(dataset / "val"), "--out", str(tmp_path / "o"),
                     *CAM]) == 1
    line = error_line()
    assert "unexpected RuntimeError: something nobody foresaw" in line and "the traceback is in" in line
    log = Path(line.rsplit("the traceback is in ", 1)[1].rstrip(")"))
    assert log.parent == tmp_path / "logs" and "Traceback (most recent call last)" in log.read_text()
    assert not (tmp_path / "o").exists()  # rolled back like any failure
