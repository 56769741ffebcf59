"""Training's progress for people: a bar on a terminal only, one log line per epoch everywhere, and on a CPU
what an epoch will cost, with a CPU-sized choice when an epoch takes longer than ten minutes."""

import io
import logging
import shlex
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from aigc_explain.core import pace
from aigc_explain.core.pace import PaceNote
from aigc_explain.train import _build_parser, main as train_main


class Terminal(io.StringIO):
    """A stderr that says it is a terminal."""
    def isatty(self) -> bool:
        return True


def _train(data: Path, out: Path) -> int:
    return train_main(["--data", str(data), "--out", str(out), "--model", "test_resnet", "--weights", "none",
                       "--img-size", "32", "-b", "4", "--epochs", "2", "--device", "cpu"])


def _epoch_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("INFO aigc_explain.core.training: epoch ")]


def test_a_bar_on_a_terminal_one_line_per_epoch_elsewhere(dataset: Path, tmp_path: Path, capsys, monkeypatch):
    assert _train(dataset, tmp_path / "logged") == 0  # stderr captured: not a terminal, as in CI logs
    err = capsys.readouterr().err
    assert "\r" not in err and "it/s" not in err  # no bar updates in the log
    lines = _epoch_lines(err)
    assert [line.split(":")[1].strip() for line in lines] == ["epoch 1/2", "epoch 2/2"]
    assert all("train loss" in line and "val loss" in line and "img/s" in line for line in lines)

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert _train(dataset, tmp_path / "shown") == 0
    shown = terminal.getvalue()
    assert "\r" in shown and "epoch 1/2:" in shown and "it/s" in shown  # the bar, redrawn in place
    assert len(_epoch_lines(shown)) == 2  # and the epoch's line as well


def _clock(*readings: float) -> SimpleNamespace:
    values = iter(readings)
    return SimpleNamespace(perf_counter=lambda: next(values))


def _note(monkeypatch, caplog, seconds_for_ten_steps: float, device: str = "cpu") -> list[str]:
    """What PaceNote says for a 100-batch epoch of 32 images with 3 epochs left, 10 steps taking ``seconds``."""
    monkeypatch.setattr(pace, "time", _clock(0.0, seconds_for_ten_steps))
    note = PaceNote(batches=100, batch_size=32, epochs_left=3, device=device)
    with caplog.at_level(logging.INFO, logger="aigc_explain.core.training"):
        for _ in range(20):
            note.step()
    return [r.getMessage() for r in caplog.records]


def test_a_slow_cpu_epoch_gets_the_cpu_sized_choice(monkeypatch, caplog):
    said = _note(monkeypatch, caplog, 90.0)  # 9 s a batch: 900 s an epoch
    assert said == ["on this CPU: 3.6 images/s, so about 15 min an epoch and 45 min for the 3 epoch(s) left; for a "
                    "CPU-sized run try --model mobilenet_v2 --img-size 64 --epochs 3 -b 32"]
    flags = shlex.split(said[0].split("try ")[1])
    args = _build_parser().parse_args(["--data", "d", "--out", "o", *flags])  # the hint is train's own flags
    assert (args.model, args.image_size, args.epochs, args.batch_size) == ("mobilenet_v2", 64, 3, 32)
    assert " ".join(flags) in " ".join(_build_parser().format_help().split())  # and --help points to it


def test_a_fast_cpu_epoch_is_only_timed(monkeypatch, caplog):
    said = _note(monkeypatch, caplog, 1.0)  # 0.1 s a batch: 10 s an epoch
    assert said == ["on this CPU: 320.0 images/s, so about 10 s an epoch and 30 s for the 3 epoch(s) left"]


@pytest.mark.parametrize("device", ["cuda", "mps"])
def test_no_pace_note_off_the_cpu(monkeypatch, caplog, device):
    assert _note(monkeypatch, caplog, 90.0, device=device) == []
