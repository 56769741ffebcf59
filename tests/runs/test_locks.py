"""Run folders are owned: a second writer or a second --resume is refused naming the process that holds the
folder, a run left by a dead process is named as such (never "not a run folder"), and SIGTERM/SIGHUP roll a
run back like Ctrl-C, putting a replaced run back. Each case runs a second process for real."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from aigc_explain.cam import main as cam_main
from aigc_explain.compare import main as compare_main
from aigc_explain.runs.folders import check_complete, read_record, replaced_path
from aigc_explain.train import main as train_main

CAM = ["--layer", "layer1", "--no-progress", "--device", "cpu", "--overlays", "0"]
TRAIN = ["--model", "test_resnet", "--weights", "none", "--image-size", "32", "--batch-size", "4", "--no-progress"]


def _child(tmp_path: Path, body: str) -> subprocess.Popen:
    """A Python child running ``body``; it prints "ready" once it holds what the test needs."""
    script = tmp_path / f"child_{time.monotonic_ns()}.py"
    script.write_text(textwrap.dedent(body))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    line = proc.stdout.readline()
    if line.strip() != "ready":
        proc.kill()
        raise AssertionError(f"child did not start: {line!r} {proc.stderr.read()[-2000:]}")
    return proc


def _holder(tmp_path: Path, out: Path, command: str = "cam", *, resume: bool = False) -> subprocess.Popen:
    call = f"mark_running({str(out)!r}, {command!r})" if resume else f"open_run({str(out)!r}, command={command!r})"
    return _child(tmp_path, f"""
        import time
        from aigc_explain.runs.folders import mark_running, open_run
        run = {call}
        print("ready", flush=True)
        time.sleep(120)
    """)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_second_writer_is_refused_naming_the_first(dataset, tiny_ckpt, tmp_path, capsys, error_line):
    out = tmp_path / "run"
    holder = _holder(tmp_path, out)
    try:
        for extra in ([], ["--overwrite"]):
            assert cam_main(["--ckpt", str(tiny_ckpt), "--images", str(dataset / "val"), "--out", str(out), *CAM,
                             *extra]) == 2
            assert f"being written by pid {holder.pid} on host" in error_line()
        assert read_record(out)["pid"] == holder.pid  # the holder's folder is untouched
    finally:
        holder.kill()
        holder.wait()


def test_a_second_resume_is_refused_and_a_dead_holder_is_named(dataset, tmp_path, capsys, error_line):
    run = tmp_path / "run"
    assert train_main(["--data", str(dataset), "--out", str(run), *TRAIN, "--epochs", "1"]) == 0
    holder = _holder(tmp_path, run, "train", resume=True)
    try:
        assert train_main(["--data", str(dataset), "--out", str(run), "--resume", "--epochs", "2",
                           "--no-progress"]) == 2
        assert f"being written by pid {holder.pid}" in error_line()
    finally:
        holder.kill()
        holder.wait()
    # killed with no chance to clean up: the record still says running, but nobody holds the lock
    assert read_record(run)["status"] == "running"
    assert compare_main([str(run), str(run), "--labels", "a", "b", "--out", str(tmp_path / "c")]) == 2
    line = error_line()
    assert "is a run that did not finish" in line and f"pid {holder.pid}" in line and "no longer runs" in line
    assert "not a run folder" not in line
    assert train_main(["--data", str(dataset), "--out", str(run), "--resume", "--epochs", "2", "--no-progress"]) == 0
    assert "no longer runs" in capsys.readouterr().err
    assert read_record(run)["status"] == "complete"


def test_a_stale_cam_run_is_named_and_replaceable(dataset, tiny_ckpt, tmp_path, capsys, error_line):
    out = tmp_path / "run"
    holder = _holder(tmp_path, out)
    holder.kill()
    holder.wait()
    args = ["--ckpt", str(tiny_ckpt), "--images", str(dataset / "val"), "--out", str(out), *CAM]
    assert cam_main(args) == 2
    line = error_line()
    assert f"a run that did not finish (status 'running': left by pid {holder.pid}" in line
    assert cam_main([*args, "--overwrite"]) == 0
    check_complete(out)


def test_two_processes_racing_on_one_folder_leave_one_whole_run(dataset, tiny_ckpt, tmp_path):
    out = tmp_path / "run"
    args = ["-m", "aigc_explain.cam", "--ckpt", str(tiny_ckpt), "--images", str(dataset / "val"), "--out", str(out),
            *CAM, "--overwrite"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, *args], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                              env=env) for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    assert 0 in [code for code, _ in results], results
    for code, err in results:
        assert code in (0, 2), err
        if code == 2:
            assert "being written by pid" in err or "already holds" in err or "while this run replaced it" in err, err
    check_complete(out)  # whatever the order: one whole run, its hashes intact
    assert not replaced_path(out).exists()


SLOW_CAM = """
    import sys, time
    from aigc_explain.explain import save
    def slow(*args, **kwargs):
        print("ready", flush=True)
        time.sleep(120)
    save.explain_folder = slow
    from aigc_explain.cam import main
    sys.exit(main({argv!r}))
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_rolls_back_and_puts_the_replaced_run_back(dataset, tiny_ckpt, tmp_path, signum):
    out = tmp_path / "run"
    args = ["--ckpt", str(tiny_ckpt), "--images", str(dataset / "val"), "--out", str(out), *CAM]
    assert cam_main(args) == 0
    before = _snapshot(out)
    child = _child(tmp_path, SLOW_CAM.format(argv=[*args, "--overwrite"]))
    assert replaced_path(out).exists()  # the old run waits aside while the new one runs
    child.send_signal(signum)
    assert child.wait(timeout=60) == 128 + signum
    assert _snapshot(out) == before and not replaced_path(out).exists()
    check_complete(out)
    fresh = tmp_path / "fresh"
    child = _child(tmp_path, SLOW_CAM.format(argv=[*args[:5], str(fresh), *CAM]))
    child.send_signal(signum)
    assert child.wait(timeout=60) == 128 + signum
    assert not fresh.exists()  # a new run stopped by a signal leaves nothing behind
