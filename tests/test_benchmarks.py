"""The benchmark scripts the README quotes keep working: every one parses its arguments, and the whole-job
training benchmark and the audit's on synthetic JPEGs run end to end at a tiny size (their numbers are not
asserted: wall time is noise here)."""

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


def test_audit_speed_times_the_audit_on_synthetic_jpegs(capsys):
    from benchmarks.audit_speed import main

    assert main(["--jpegs", "12", "--side", "48", "--no-cli"]) == 0  # the command's fresh process: ~10 s more
    out = capsys.readouterr().out
    assert out.startswith("12 synthetic 48-px JPEG photos") and "audit at 48 px" in out
    assert re.search(r"file cues \(headers\): [\d.]+ s, \d+ images/s", out)
    assert re.search(r"whole audit, the job in this process \(write_audit_run\): [\d.]+ s, \d+ images/s", out)
    assert "budget (AUC): storage " in out and "per-image features kept" in out
    for part in ("decode", "history features", "classifier content", "localisation (permutation null)", "figures"):
        assert re.search(rf"^ +{re.escape(part)} +-?[\d.]+ s", out, flags=re.M), part
