"""train --resume continues a run as it was configured: a finished run is left alone, --epochs may extend
it (said in the log and manifest), conflicting flags are refused; numbers are validated; weights that do
not fit the model are refused for torchvision and timm alike; an interrupted --overwrite of a training run
keeps the old run until the new one completes."""

import csv
import json
from pathlib import Path

import pytest
import torch

from aigc_explain.core.models import build_detector
from aigc_explain.runs.folders import read_record, replaced_path
from aigc_explain.train import main as train_main



def _train(dataset: Path, out: Path, *extra: str) -> int:
    return train_main(["--data", str(dataset), "--out", str(out), "--model", "test_resnet", "--weights", "none",
                       "--image-size", "32", "--batch-size", "4", "--lr", "0.001", "--no-progress", *extra])


def _epochs(run: Path) -> list[str]:
    with open(run / "history.csv") as fh:
        return [r["epoch"] for r in csv.DictReader(fh)]


def test_resuming_a_finished_run_does_nothing(dataset, tmp_path, capsys):
    run = tmp_path / "run"
    assert _train(dataset, run, "--epochs", "2") == 0
    before = (run / "final_model.pth").read_bytes(), (run / "manifest.json").read_bytes()
    capsys.readouterr()
    assert train_main(["--data", str(dataset), "--out", str(run), "--resume"]) == 0
    assert "already finished its 2 epochs; nothing to do" in capsys.readouterr().out
    assert _epochs(run) == ["1", "2"]
    assert ((run / "final_model.pth").read_bytes(), (run / "manifest.json").read_bytes()) == before


def test_resume_keeps_the_runs_own_epochs(dataset, tmp_path, ctrl_c_at):
    run = tmp_path / "run"
    ctrl_c_at(5)  # 4 batches per epoch: the first batch of epoch 2
    assert _train(dataset, run, "--epochs", "3") == 130
    ctrl_c_at(None)
    assert read_record(run)["status"] == "interrupted"
    assert train_main(["--out", str(run), "--data", str(dataset), "--resume", "--no-progress"]) == 0
    assert _epochs(run) == ["1", "2", "3"]  # the run's own 3, not the default 10
    assert read_record(run)["status"] == "complete"


def test_epochs_extends_a_run_and_says_so(dataset, tmp_path, capsys):
    run = tmp_path / "run"
    assert _train(dataset, run, "--epochs", "1") == 0
    capsys.readouterr()
    assert train_main(["--data", str(dataset), "--out", str(run), "--resume", "--epochs", "2", "--no-progress"]) == 0
    assert "from 1 to 2 epochs" in capsys.readouterr().err
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["arguments"]["epochs"] == 2 and manifest["resumed"][0]["epochs_from"] == 1
    assert _epochs(run) == ["1", "2"]
    ckpt = torch.load(run / "checkpoint.pth", weights_only=True)
    assert ckpt["train_args"]["epochs"] == 2


def test_conflicting_flags_are_refused_and_repeats_are_fine(dataset, tmp_path, capsys, error_line):
    run = tmp_path / "run"
    assert _train(dataset, run, "--epochs", "1") == 0
    before = (run / "checkpoint.pth").read_bytes()
    for flags, name in ((["--lr", "0.01"], "--lr 0.01"), (["--model", "resnet18"], "--model resnet18"),
                        (["--image-size", "64"], "--image-size 64"), (["--augment"], "--augment report"),
                        (["--data", str(tmp_path)], "--data")):
        data = [] if flags[0] == "--data" else ["--data", str(dataset)]
        assert train_main([*data, "--out", str(run), "--resume", *flags]) == 2
        line = error_line()
        assert "--resume continues the run as it was configured" in line and name in line
    assert train_main(["--data", str(dataset), "--out", str(run), "--resume", "--epochs", "0"]) == 2
    assert "would shorten the run" in error_line()
    assert (run / "checkpoint.pth").read_bytes() == before
    # the run's own values may be repeated
    assert train_main(["--data", str(dataset), "--out", str(run), "--resume", "--model", "test_resnet",
                       "--lr", "1e-3", "--image-size", "32", "--no-progress"]) == 0
    assert train_main(["--data", str(dataset), "--out", str(run), "--resume", "--overwrite"]) == 2
    assert "pick one" in error_line()


@pytest.mark.parametrize("flag, value, rule", [("--patience", "-1", ">= 0"), ("--focal-alpha", "5", "in (0, 1]"),
                                               ("--focal-gamma", "-2", ">= 0"), ("--weight-decay", "-0.1", ">= 0"),
                                               ("--workers", "-1", ">= 0"), ("--limit", "0", ">= 1"),
                                               ("--lr", "0", "> 0")])
def test_numbers_are_validated(dataset, tmp_path, capsys, flag, value, rule, error_line):
    assert _train(dataset, tmp_path / "run", flag, value) == 2
    assert f"{flag} must be {rule}" in error_line()
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("model", ["test_resnet", "resnet18"])  # a timm and a torchvision model
def test_weights_of_another_architecture_are_refused(dataset, tmp_path, capsys, model, error_line):
    other = tmp_path / "vit.pth"
    torch.save(build_detector("test_vit", image_size=32).backbone.state_dict(), other)
    code = train_main(["--data", str(dataset), "--out", str(tmp_path / "run"), "--model", model, "--weights",
                       str(other), "--image-size", "32", "--epochs", "1", "--no-progress"])
    assert code == 2
    assert "does not fit" in error_line()
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    assert train_main(["--data", str(dataset), "--out", str(tmp_path / "run"), "--model", model, "--weights",
                       str(tmp_path / "junk.pth"), "--image-size", "32"]) == 2
    assert "cannot be loaded safely" in error_line()


def test_matching_timm_weights_are_loaded(dataset, tmp_path):
    torch.manual_seed(3)
    source = build_detector("test_resnet", image_size=32).backbone
    path = tmp_path / "w.pth"
    torch.save({k: v for k, v in source.state_dict().items() if not k.startswith("fc.")}, path)
    loaded = build_detector("test_resnet", weights=str(path), image_size=32).backbone.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in source.state_dict().items() if not k.startswith("fc."))


def test_interrupted_overwrite_of_a_training_run_keeps_the_old_run(dataset, tmp_path, ctrl_c_at):
    run = tmp_path / "run"
    assert _train(dataset, run, "--epochs", "1") == 0
    old = (run / "final_model.pth").read_bytes()
    ctrl_c_at(1)
    assert _train(dataset, run, "--epochs", "2", "--seed", "1", "--overwrite") == 130
    # the new run can be resumed; the old one waits beside it until the new one completes
    assert (run / "checkpoint.pth").is_file() and not (run / "final_model.pth").exists()
    assert (replaced_path(run) / "final_model.pth").read_bytes() == old
    ctrl_c_at(None)
    assert train_main(["--data", str(dataset), "--out", str(run), "--resume", "--no-progress"]) == 0
    assert not replaced_path(run).exists() and _epochs(run) == ["1", "2"]


def test_one_class_training_is_refused_and_val_warns(dataset, tmp_path, capsys, error_line):
    for p in (dataset / "val" / "0_real").iterdir():
        p.unlink()
    assert _train(dataset, tmp_path / "run", "--epochs", "1") == 0
    assert "WARNING" in capsys.readouterr().err.split("holds fake images only")[0].splitlines()[-1]
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert any("fake images only" in w for w in manifest["warnings"])
    for p in (dataset / "train" / "1_fake").iterdir():
        p.unlink()
    assert _train(dataset, tmp_path / "run2", "--epochs", "1") == 2
    assert "cannot learn real vs fake from one class" in error_line()


def test_a_checkpoint_that_cannot_be_resumed_is_named(dataset, tmp_path, error_line):
    run = tmp_path / "run"
    assert _train(dataset, run, "--epochs", "1") == 0
    ckpt = torch.load(run / "checkpoint.pth", weights_only=True)
    for change, expected in (({"optimizer": None}, "optimizer is missing or malformed"),
                             ({"train_args": {**ckpt["train_args"], "warp_drive": 9}},
                              "training arguments this aigc_explain does not know (warp_drive)")):
        torch.save({**ckpt, **change}, run / "checkpoint.pth")
        assert train_main(["--data", str(dataset), "--out", str(run), "--resume", "--epochs", "2"]) == 2
        assert expected in error_line()


def test_resume_rules_are_a_pure_function():
    from aigc_explain.core.experiments import EXPERIMENTS
    from aigc_explain.core.resume import resume_overrides

    with pytest.raises(ValueError, match=r"^--resume continues the run in --out and --overwrite replaces it; "
                                         r"pick one$"):
        resume_overrides({"lr": 0.01}, overwrite=True)
    assert resume_overrides({"lr": 0.01, "model": None, "epochs": 4}) == {"lr": 0.01, "epochs": 4}
    # --experiment N: its preset counts as given, explicit flags over it
    assert resume_overrides({"model": "vit", "lr": None}, experiment=1) == \
        {**EXPERIMENTS[1], "experiment": 1, "model": "vit"}
    assert resume_overrides({}, experiment=None) == {}
