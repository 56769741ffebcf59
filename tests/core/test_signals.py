"""Signals during training: any pattern of Ctrl-C, SIGTERM and SIGHUP stops at a batch boundary, so the saved
state is whole and resuming stays bit-equal; SIGTERM sent to a training process marks the run interrupted and
resumable, with exit code 143."""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from aigc_explain.core import training
from aigc_explain.core.experiments import TrainConfig
from aigc_explain.core.resume import resume_run
from aigc_explain.core.training import fit
from aigc_explain.runs.folders import read_record

TINY = dict(model="test_resnet", weights="none", image_size=32, epochs=2, batch_size=4, lr=1e-3, seed=0)


def _weights(path: Path) -> dict:
    return torch.load(path, weights_only=True)["state_dict"]


@pytest.mark.parametrize("signals", [(signal.SIGINT, signal.SIGINT), (signal.SIGTERM, signal.SIGINT),
                                     (signal.SIGHUP, signal.SIGTERM)])
def test_two_signals_inside_a_step_never_save_half_of_it(dataset, tmp_path, monkeypatch, signals, one_thread):
    cfg = dict(data=str(dataset), augment="report", **TINY)
    fit(TrainConfig(out=str(tmp_path / "a"), **cfg), progress=False)
    original, calls = training._Run._step, {"n": 0}

    def two_signals_in_a_step(self, x, y):
        calls["n"] += 1
        if calls["n"] == 3:
            signal.raise_signal(signals[0])
        out = original(self, x, y)  # the weights have moved; the batch is not counted yet
        if calls["n"] == 3:
            signal.raise_signal(signals[1])  # a second signal here used to interrupt at once
        return out

    monkeypatch.setattr(training._Run, "_step", two_signals_in_a_step)
    with pytest.raises(KeyboardInterrupt):
        fit(TrainConfig(out=str(tmp_path / "b"), **cfg), progress=False)
    saved = torch.load(tmp_path / "b" / "checkpoint.pth", weights_only=True)
    assert saved["interrupted"] and (saved["epoch"], saved["step"]) == (0, 3)
    assert read_record(tmp_path / "b")["status"] == "interrupted"
    monkeypatch.setattr(training._Run, "_step", original)
    resume_run(tmp_path / "b", overrides=cfg, progress=False)
    a, b = _weights(tmp_path / "a" / "final_model.pth"), _weights(tmp_path / "b" / "final_model.pth")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_sigterm_to_a_training_process_leaves_a_resumable_run(dataset, tmp_path):
    run = tmp_path / "run"
    argv = ["--data", str(dataset), "--out", str(run), "--model", "test_resnet", "--weights", "none", "--image-size",
            "32", "--batch-size", "4", "--epochs", "2", "--no-progress"]
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(f"""
        import sys, time
        from aigc_explain.core import training
        original, calls = training._Run._step, [0]
        def step(self, x, y):
            calls[0] += 1
            if calls[0] == 6:  # in epoch 2, after the first checkpoint
                print("ready", flush=True)
                time.sleep(0.5)
            return original(self, x, y)
        training._Run._step = step
        from aigc_explain.train import main
        sys.exit(main({argv!r}))
    """))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read()[-2000:]
    proc.send_signal(signal.SIGTERM)  # arrives inside the step: taken at its end
    assert proc.wait(timeout=120) == 143, proc.stderr.read()[-2000:]
    assert read_record(run)["status"] == "interrupted"
    saved = torch.load(run / "checkpoint.pth", weights_only=True)
    assert saved["interrupted"] and (saved["epoch"], saved["step"]) == (1, 2)
    assert resume_run(run, overrides={}, progress=False).history[-1]["epoch"] == 2
    assert read_record(run)["status"] == "complete"
