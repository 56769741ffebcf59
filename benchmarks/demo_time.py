"""The demo job's wall time in exact fp32 (``--amp off``, what a CPU without AMX or AVX512-BF16 runs) and with
the default ``--amp auto`` (bf16 where the CPU computes it natively), in one run, each in a fresh process.

    python -m benchmarks.demo_time [--repeats 1] [--threads 2]

Prints the machine (CPU model, whether it computes bf16 natively), each job's seconds and the fp32/auto ratio;
each job also prints its finding (the unaugmented detector's corner share on fakes above the augmented one's).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _job(amp: str, threads: int) -> tuple[float, str]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "aigc_explain.demo", "--out", str(Path(tmp) / "demo"),
                               "--amp", amp], env=env, capture_output=True, text=True, check=True)
        seconds = time.perf_counter() - start
    finding = [line.strip() for line in done.stdout.splitlines() if "corner_share" in line]
    return seconds, "; ".join(finding)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.demo_time", description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=1, help="jobs of each kind, alternating; the fastest counts")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    from aigc_explain.core.inference import resolve_amp

    import torch

    used, why = resolve_amp(torch.device("cpu"), "auto")
    print(f"machine: {_cpu_model()}, {os.cpu_count()} cores seen, {args.threads} threads; --amp auto -> {used} ({why})")
    best: dict[str, float] = {}
    for _ in range(args.repeats):
        for amp in ("off", "auto"):
            seconds, finding = _job(amp, args.threads)
            best[amp] = min(best.get(amp, float("inf")), seconds)
            print(f"demo --amp {amp:<4} {seconds:6.1f} s   {finding}")
    print(f"fastest: fp32 {best['off']:.1f} s, auto ({used}) {best['auto']:.1f} s, fp32/auto {best['off'] / best['auto']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
