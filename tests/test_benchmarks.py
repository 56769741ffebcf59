"""The benchmark scripts the README quotes keep working: every one parses its arguments, and the whole-job
training benchmark runs end to end at a tiny size (its numbers are not asserted: wall time is noise here)."""

import importlib
import re
from pathlib import Path

import pytest

BENCHMARKS = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "benchmarks").glob("*.py")
                    if p.stem != "__init__")


@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmark_parses_its_arguments(name, capsys):
    module = importlib.import_module(f"benchmarks.{name}")
    with pytest.raises(SystemExit) as exit_:
        module.main(["--help"])
    assert exit_.value.code == 0 and "usage:" in capsys.readouterr().out


def test_train_job_times_the_three_jobs(tmp_path: Path, make_data, capsys):
    from benchmarks.train_job import main

    data = make_data(tmp_path / "data", n_train=8, n_val=4)
    assert main(["--data", str(data), "--size", "32", "--batch-size", "4", "--train", "8", "--val", "4",
                 "--repeats", "1", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"defaults used amp (bf16|off) \(", out)
    rows = re.findall(r"^(report loop|aigc_explain\.train \(defaults\)|aigc_explain\.train --amp off) +"
                      r"([\d.]+) s +\(runs: ([\d.]+)\) +speed vs the report's loop: ([\d.]+)x$", out, flags=re.M)
    assert [name for name, *_ in rows] == ["report loop", "aigc_explain.train (defaults)",
                                           "aigc_explain.train --amp off"]
    report = float(rows[0][1])
    for _, best, only_run, ratio in rows:  # one repeat: the best is that run; the ratio is report / job
        assert best == only_run
        assert float(ratio) == pytest.approx(report / float(best), rel=0.05)  # seconds are printed to 0.1 s
