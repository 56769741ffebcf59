"""Deletion only of what we wrote, in every state: a failed, interrupted, killed, complete or older-version run
folder that also holds the user's files is refused (with or without --overwrite) and the files stay; a
symbolic-link --out is refused, never renamed; files a run left are removed one by one, never a whole tree."""


import pytest

from aigc_explain.cam import main as cam_main
from aigc_explain.runs.contract import RECORD
from aigc_explain.runs.folders import check_complete, open_run, read_record, replaced_path
from aigc_explain.train import main as train_main

CAM = ["--layer", "layer1", "--no-progress", "--device", "cpu", "--overlays", "0"]
TRAIN = ["--model", "test_resnet", "--weights", "none", "--image-size", "32", "--batch-size", "4", "--no-progress"]


def _cam(ckpt, images, out, *extra) -> int:
    return cam_main(["--ckpt", str(ckpt), "--images", str(images), "--out", str(out), *CAM, *extra])


def _failed_run(tmp_path, tiny_ckpt):
    bad = tmp_path / "bad" / "1_fake"
    bad.mkdir(parents=True)
    (bad / "0.png").write_bytes(b"not a png")
    out = tmp_path / "out"
    assert _cam(tiny_ckpt, bad, out) == 2
    assert read_record(out)["status"] == "failed"
    return out


def test_a_failed_run_with_user_files_is_not_reused(dataset, tiny_ckpt, tmp_path, capsys, error_line):
    out = _failed_run(tmp_path, tiny_ckpt)
    capsys.readouterr()
    (out / "thesis.tex").write_text("mine")
    for extra in ([], ["--overwrite"]):
        assert _cam(tiny_ckpt, dataset / "val", out, *extra) == 2
        assert "also holds files the run did not write (thesis.tex)" in error_line()
    assert (out / "thesis.tex").read_text() == "mine"
    (out / "thesis.tex").unlink()
    assert _cam(tiny_ckpt, dataset / "val", out) == 0  # only our files: reused
    check_complete(out)


def test_an_interrupted_training_run_with_user_files_is_refused(dataset, tmp_path, ctrl_c_at, capsys, error_line):
    run = tmp_path / "run"
    ctrl_c_at(5)  # the first batch of epoch 2
    assert train_main(["--data", str(dataset), "--out", str(run), *TRAIN, "--epochs", "3"]) == 130
    ctrl_c_at(None)
    assert read_record(run)["status"] == "interrupted"
    (run / "notes.md").write_text("mine")
    (run / "sub").mkdir()
    (run / "sub" / "data.csv").write_text("1")
    capsys.readouterr()
    assert train_main(["--data", str(dataset), "--out", str(run), *TRAIN, "--epochs", "1", "--overwrite"]) == 2
    assert "also holds files the run did not write (notes.md, sub/data.csv)" in error_line()
    assert (run / "notes.md").read_text() == "mine" and (run / "checkpoint.pth").is_file()


def test_an_older_version_folder_with_user_files_is_refused(dataset, tiny_ckpt, tmp_path, legacy_cam_folder,
                                                           capsys, error_line):
    old = legacy_cam_folder(tmp_path / "old")
    (old / "thesis.tex").write_text("mine")
    assert _cam(tiny_ckpt, dataset / "val", old, "--overwrite") == 2
    assert "also holds files the run did not write (thesis.tex)" in error_line()
    assert sorted(p.name for p in old.iterdir() if not p.name.startswith(".")) == \
        ["manifest.json", "summary.json", "thesis.tex"]


def test_a_killed_run_keeps_the_user_files_it_never_wrote(tmp_path):
    from aigc_explain.runs.record import foreign_files, remove_ours

    out = tmp_path / "run"
    run = open_run(out, command="cam")
    from aigc_explain.runs.files import write_json

    write_json(out / "summary.json", {"a": 1})  # journaled: ours
    (out / "mine.txt").write_text("mine")  # written by the user meanwhile
    # a kill -9 now: nothing rolls back; the record says running, the journal names our files
    assert foreign_files(out) == ["mine.txt"]
    left = remove_ours(out)
    assert left == ["mine.txt"] and sorted(p.name for p in out.iterdir()) == ["mine.txt"]
    run.abort(KeyboardInterrupt())


def test_a_symlinked_out_is_refused_and_never_renamed(dataset, tiny_ckpt, tmp_path, capsys, error_line):
    real = tmp_path / "real"
    assert _cam(tiny_ckpt, dataset / "val", real) == 0
    link = tmp_path / "link"
    link.symlink_to(real)
    for extra in ([], ["--overwrite"]):
        assert _cam(tiny_ckpt, dataset / "val", link, *extra) == 2
        assert "is a symbolic link" in error_line()
    assert link.is_symlink() and link.resolve() == real.resolve() and not replaced_path(link).exists()
    check_complete(real)


def test_a_replaced_run_loses_only_our_files(dataset, tiny_ckpt, tmp_path):
    out = tmp_path / "run"
    assert _cam(tiny_ckpt, dataset / "val", out) == 0
    backup = replaced_path(out)
    run = open_run(out, command="cam", overwrite=True)
    assert backup.is_dir() and read_record(backup)["status"] == "complete"
    (backup / "late.txt").write_text("added while the new run ran")
    run.complete()
    assert sorted(p.name for p in backup.iterdir()) == ["late.txt"]  # everything else was ours
    assert (out / RECORD).is_file()


@pytest.mark.parametrize("status", ["complete", "failed", "interrupted", "running"])
def test_every_state_refuses_a_folder_with_foreign_files(tmp_path, status, capsys):
    out = tmp_path / status
    run = open_run(out, command="cam")
    from aigc_explain.runs.files import write_json

    write_json(out / "summary.json", {})
    if status == "complete":
        run.complete()
    else:
        from aigc_explain.runs.record import write_record

        write_record(out, "cam", status)
        from aigc_explain.runs import locks

        locks.release(out, force=True)
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"also holds files the run did not write \(keep.txt\)"):
        open_run(out, command="cam", overwrite=True)
    assert (out / "keep.txt").read_text() == "mine" and (out / "summary.json").is_file()


def test_an_interrupted_resume_still_owns_the_files_of_its_first_session(dataset, tmp_path, ctrl_c_at):
    from aigc_explain.runs.record import foreign_files

    run = tmp_path / "run"
    assert train_main(["--data", str(dataset), "--out", str(run), *TRAIN, "--epochs", "1"]) == 0
    ctrl_c_at(2)
    assert train_main(["--data", str(dataset), "--out", str(run), "--resume", "--epochs", "2", "--no-progress"]) == 130
    assert read_record(run)["status"] == "interrupted"
    assert (run / "final_model.pth").is_file() and foreign_files(run) == []  # written by session one: still ours
