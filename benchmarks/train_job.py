"""Whole-job training time: ``python -m aigc_explain.train`` (defaults, and ``--amp off``) vs the report's loop.

    python -m benchmarks.train_job [--model resnet18] [--size 128] [--batch-size 16] [--train 512] [--val 128]

A job is what a user waits for: a fresh process that builds the model, trains one epoch, validates and
saves the best model. The report's job is its notebook loop as a script (``python -m benchmarks.report_loop``,
importing only torch, torchvision and Pillow). Ours is the command with its defaults
(``--amp auto``) and with ``--amp off``. All three train the same balanced CIFAKE-dev subset with the same
batch size, threads and workers, from random initialisation (no hub access here); the jobs run in turn,
``--repeats`` times, and each one's fastest wall time is compared. Prints seconds and ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.train_speed import subset_root

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "cifake-dev"

def _timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])}… failed:\n{proc.stderr[-2000:]}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="root with train|val/0_real|1_fake")
    p.add_argument("--model", default="resnet18", help="a torchvision ResNet")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--train", type=int, default=512, help="training images (balanced)")
    p.add_argument("--val", type=int, default=128, help="validation images (balanced)")
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args(argv)
    if not args.data.is_dir():
        raise SystemExit(f"--data {args.data} is not a folder (the CIFAKE development subset by default)")
    tmp = Path(tempfile.mkdtemp(prefix="train_job_"))
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "PYTHONPATH": str(ROOT)}
    common = ["--data", str(tmp / "data"), "--model", args.model, "--weights", "none", "--image-size",
              str(args.size), "--batch-size", str(args.batch_size), "--epochs", "1", "--workers", str(args.workers),
              "--no-progress", "--overwrite"]
    jobs = {
        "report loop": lambda i: [sys.executable, "-m", "benchmarks.report_loop", str(tmp / "data"), args.model,
                                  str(args.size), str(args.batch_size), str(args.workers), str(tmp / f"report{i}.pth")],
        "aigc_explain.train (defaults)": lambda i: [sys.executable, "-m", "aigc_explain.train", *common,
                                                    "--out", str(tmp / f"default{i}")],
        "aigc_explain.train --amp off": lambda i: [sys.executable, "-m", "aigc_explain.train", *common,
                                                   "--amp", "off", "--out", str(tmp / f"off{i}")],
    }
    try:
        subset_root(args.data, args.train, args.val, tmp / "data")
        seconds = {name: [] for name in jobs}
        for i in range(args.repeats):
            for name, cmd in jobs.items():
                seconds[name].append(_timed(cmd(i), env))
        amp = json.loads((tmp / "default0" / "manifest.json").read_text())["amp"]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    best = {name: min(v) for name, v in seconds.items()}
    print(f"{args.model} at {args.size}px, batch {args.batch_size}, {args.train}+{args.val} images, one epoch + "
          f"validation, {args.threads} threads, {args.workers} workers; defaults used amp {amp['used']} "
          f"({amp['reason']})")
    report = best["report loop"]
    for name, s in best.items():
        runs = ", ".join(f"{x:.1f}" for x in seconds[name])
        print(f"{name:<32} {s:7.1f} s  (runs: {runs})  speed vs the report's loop: {report / s:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
