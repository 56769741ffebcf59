"""Focal loss, training runs, exact resume, bad files in an epoch, and the train/evaluate CLIs."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from aigc_explain.core.checkpoint import load_detector
from aigc_explain.evaluate import main as evaluate_main
from aigc_explain.core.losses import focal_loss
from aigc_explain.train import main as train_main
from aigc_explain.core.experiments import config_from_experiment, EXPERIMENTS, TrainConfig
from aigc_explain.core.resume import resume_run
from aigc_explain.core.training import fit

TINY = dict(model="test_resnet", weights="none", image_size=32, epochs=2, batch_size=4, lr=1e-3, seed=0)


def report_focal(probs, targets, alpha=0.7, gamma=1.0):
    """The report's formula, in probability space, alpha on every sample."""
    bce = F.binary_cross_entropy(probs, targets, reduction="none")
    pt = torch.exp(-bce)
    return (alpha * (1 - pt) ** gamma * bce).mean()


def test_focal_loss_equals_report_formula():
    torch.manual_seed(0)
    logits, targets = torch.randn(64) * 3, (torch.rand(64) > 0.5).float()
    for alpha, gamma in ((0.7, 1.0), (0.25, 2.0)):
        ours = focal_loss(logits, targets, alpha=alpha, gamma=gamma)
        assert torch.allclose(ours, report_focal(torch.sigmoid(logits), targets, alpha, gamma), atol=1e-6)
    # alpha weighs both classes alike (torchvision's default would weigh negatives by 1 - alpha)
    one = torch.tensor([2.0])
    assert torch.allclose(focal_loss(one, torch.ones(1)), report_focal(torch.sigmoid(one), torch.ones(1)))
    assert torch.allclose(focal_loss(-one, torch.zeros(1)), focal_loss(one, torch.ones(1)))


def test_experiment_presets_and_overrides():
    cfg = config_from_experiment(1, data="d", out="o")
    assert (cfg.model, cfg.augment, cfg.loss) == ("resnet", "report", "focal")
    cfg = config_from_experiment(4, data="d", out="o", model="test_vit", epochs=None)
    assert (cfg.model, cfg.augment, cfg.epochs) == ("test_vit", "none", 10)
    assert set(EXPERIMENTS) == {1, 2, 3, 4, 5}
    with pytest.raises(ValueError, match="--experiment must be one of"):
        config_from_experiment(6, data="d", out="o")
    with pytest.raises(ValueError, match="--loss 'l1'"):
        TrainConfig(data="d", out="o", loss="l1")


def test_training_run_writes_everything(dataset: Path, tmp_path: Path):
    (dataset / "train" / "1_fake" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    result = fit(TrainConfig(data=str(dataset), out=str(tmp_path / "run"), augment="report", loss="focal", **TINY),
                 progress=False)
    run = result.run_dir
    for name in ("best_model.pth", "final_model.pth", "checkpoint.pth", "history.csv", "manifest.json", "skipped.csv"):
        assert (run / name).is_file(), name
    rows = list(csv.DictReader(Path(run / "history.csv").read_text().splitlines()))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert set(rows[0]) == {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds", "images_per_s"}
    assert max(float(r["val_acc"]) for r in rows) == pytest.approx(result.best_val_acc)
    skipped = list(csv.DictReader(Path(run / "skipped.csv").read_text().splitlines()))
    assert [Path(r["path"]).name for r in skipped] == ["broken.jpg"]
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["dataset"]["train"] == {"real": 8, "fake": 9} and manifest["seed"] == 0
    det = load_detector(run / "best_model.pth")
    assert det.arch == "test_resnet" and det.image_size == 32
    with pytest.raises(FileExistsError, match="already holds a run; pass --overwrite"):
        fit(TrainConfig(data=str(dataset), out=str(run), **TINY), progress=False)


def _weights(path: Path) -> dict:
    return torch.load(path, weights_only=True)["state_dict"]


def test_resume_equals_uninterrupted_run(dataset: Path, tmp_path: Path):
    cfg = dict(data=str(dataset), augment="report", **TINY)
    fit(TrainConfig(out=str(tmp_path / "a"), **cfg), progress=False)
    fit(TrainConfig(out=str(tmp_path / "b"), **{**cfg, "epochs": 1}), progress=False)
    resume_run(tmp_path / "b", overrides=cfg, progress=False)
    a, b = _weights(tmp_path / "a" / "final_model.pth"), _weights(tmp_path / "b" / "final_model.pth")
    assert all(torch.equal(a[k], b[k]) for k in a)
    ha, hb = (list(csv.DictReader(Path(tmp_path / r / "history.csv").read_text().splitlines())) for r in "ab")
    assert [r["val_loss"] for r in ha] == [r["val_loss"] for r in hb]


def test_ctrl_c_mid_epoch_saves_and_resumes_exactly(dataset: Path, tmp_path: Path, ctrl_c_at):
    cfg = dict(data=str(dataset), augment="report", **TINY)
    fit(TrainConfig(out=str(tmp_path / "a"), **cfg), progress=False)
    ctrl_c_at(3)  # in the middle of epoch 1 (4 batches per epoch)
    with pytest.raises(KeyboardInterrupt):
        fit(TrainConfig(out=str(tmp_path / "b"), **cfg), progress=False)
    saved = torch.load(tmp_path / "b" / "checkpoint.pth", weights_only=True)
    assert saved["interrupted"] and (saved["epoch"], saved["step"]) == (0, 3)
    ctrl_c_at(None)
    resume_run(tmp_path / "b", overrides=cfg, progress=False)
    a, b = _weights(tmp_path / "a" / "final_model.pth"), _weights(tmp_path / "b" / "final_model.pth")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_train_cli_errors_are_one_line(tmp_path: Path, capsys):
    assert train_main(["--data", str(tmp_path / "nope"), "--out", str(tmp_path / "o"), "--model", "test_resnet",
                       "--weights", "none"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "train: error: data folder" in err[0] and "does not exist" in err[0]


def test_evaluate_cli(dataset: Path, tmp_path: Path, tiny_detector, capsys):
    from aigc_explain.core.checkpoint import save_checkpoint

    save_checkpoint(tmp_path / "det.pth", tiny_detector)
    assert evaluate_main(["--ckpt", str(tmp_path / "det.pth"), "--data", str(dataset), "--out",
                          str(tmp_path / "ev"), "--device", "cpu"]) == 0
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    for key in ("accuracy", "real_acc", "fake_acc", "average_precision", "roc_auc", "n_real", "n_fake", "threshold", "ci95"):
        assert key in metrics
    rows = list(csv.DictReader(Path(tmp_path / "ev" / "predictions.csv").read_text().splitlines()))
    assert len(rows) == 8 and (metrics["n_real"], metrics["n_fake"]) == (4, 4)
    acc = np.mean([(float(r["prob_fake"]) >= 0.5) == (r["label"] == "fake") for r in rows])
    assert metrics["accuracy"] == pytest.approx(acc)
    assert all(r["pred"] == ("fake" if float(r["prob_fake"]) >= 0.5 else "real") for r in rows)
    # evaluating a class folder directly, and a bad checkpoint: one line, exit 2
    assert evaluate_main(["--ckpt", str(tmp_path / "det.pth"), "--data", str(dataset / "val"), "--out",
                          str(tmp_path / "ev2")]) == 0
    (tmp_path / "bad.pth").write_text("garbage")
    capsys.readouterr()
    assert evaluate_main(["--ckpt", str(tmp_path / "bad.pth"), "--data", str(dataset), "--out", str(tmp_path / "ev3")]) == 2
    assert "cannot be loaded safely with weights_only=True" in capsys.readouterr().err


@pytest.mark.slow
def test_torchrun_two_processes_match_one(dataset: Path, tmp_path: Path):
    """DDP on gloo: 2 processes x batch 2 see the same images per step as 1 process x batch 4, so the
    weights agree up to float rounding (test_vit has no BatchNorm, whose statistics are per process)."""
    import os
    import subprocess
    import sys

    args = ["--data", str(dataset), "--model", "test_vit", "--weights", "none", "--image-size", "32",
            "--epochs", "2", "--lr", "1e-3", "--augment", "--no-progress", "--device", "cpu",
            "--amp", "off"]  # exact fp32: bf16 rounds batches of 2 and of 4 differently
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port",
                           "29534", "-m", "aigc_explain.train", *args, "--batch-size", "2", "--out", str(tmp_path / "ddp")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert train_main([*args, "--batch-size", "4", "--out", str(tmp_path / "single")]) == 0
    a, b = _weights(tmp_path / "ddp" / "final_model.pth"), _weights(tmp_path / "single" / "final_model.pth")
    # Adam turns rounding noise in (near-)zero gradients, e.g. the key bias of attention, into steps of ~lr:
    # so weights agree to ~lr·steps there and to ~1e-6 elsewhere
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-4
    ha, hb = (list(csv.DictReader(Path(tmp_path / r / "history.csv").read_text().splitlines())) for r in ("ddp", "single"))
    for ra, rb in zip(ha, hb):
        assert float(ra["val_acc"]) == float(rb["val_acc"])
        assert float(ra["train_loss"]) == pytest.approx(float(rb["train_loss"]), abs=1e-5)
        assert float(ra["val_loss"]) == pytest.approx(float(rb["val_loss"]), abs=1e-5)
    assert load_detector(tmp_path / "ddp" / "best_model.pth").arch == "test_vit"
    assert json.loads((tmp_path / "ddp" / "manifest.json").read_text())["world_size"] == 2


def test_bf16_autocast_option(dataset: Path, tmp_path: Path):
    """--amp bf16 trains under bfloat16 autocast on CPU too; a wrong value is refused."""
    from aigc_explain.core.inference import autocast

    with autocast(torch.device("cpu"), "bf16"):
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16 and torch.is_autocast_enabled("cpu")
    with autocast(torch.device("cpu"), "off"):
        assert not torch.is_autocast_enabled("cpu")
    result = fit(TrainConfig(data=str(dataset), out=str(tmp_path / "run"), amp="bf16", **{**TINY, "epochs": 1}),
                 progress=False)
    assert len(result.history) == 1 and np.isfinite(result.history[0]["train_loss"])
    with pytest.raises(ValueError, match="--amp 'fp8' is not one of"):
        TrainConfig(data="d", out="o", amp="fp8")


def test_a_cpu_run_says_what_an_epoch_will_cost(tmp_path, make_data, capsys):
    from aigc_explain.train import main as train_main

    data = make_data(tmp_path / "data", n_train=24, n_val=2)
    assert train_main(["--data", str(data), "--out", str(tmp_path / "run"), "--model", "test_resnet", "--weights",
                       "none", "--image-size", "32", "-b", "2", "--epochs", "2", "--no-progress", "--device",
                       "cpu"]) == 0
    err = capsys.readouterr().err
    assert err.count("on this CPU:") == 1 and "an epoch and" in err and "for the 2 epoch(s) left" in err
