"""The demo job's wall time in exact fp32 (``--amp off``, what a CPU without AMX or AVX512-BF16 runs) and with
the default ``--amp auto`` (bf16 where the CPU computes it natively), in one run, each in a fresh process.

    python -m benchmarks.demo_time [--repeats 1] [--threads 2] [--isa avx2]

Prints the machine (CPU model, whether it computes bf16 natively), each job's seconds and the fp32/auto ratio;
each job also prints its finding (the unaugmented detector's corner share on fakes above the augmented one's).
``--isa avx2`` runs the fp32 job alone with torch's kernels held to AVX2 (``ATEN_CPU_CAPABILITY=avx2``,
``ONEDNN_MAX_CPU_ISA=AVX2``): the instruction set of the many CPUs without AVX-512 or bf16, on this machine's
cores, clock and caches — an approximation of such a CPU, not a measurement on one.
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


ISA_LIMITS = {"avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}}


def _job(amp: str, threads: int, isa: str | None = None) -> tuple[float, str]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), **ISA_LIMITS.get(isa or "", {})}
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
    p.add_argument("--isa", choices=sorted(ISA_LIMITS), default=None,
                   help="hold torch's CPU kernels to this instruction set and run the fp32 job alone")
    args = p.parse_args(argv)
    from aigc_explain.core.inference import resolve_amp

    import torch

    used, why = resolve_amp(torch.device("cpu"), "auto")
    print(f"machine: {_cpu_model()}, {os.cpu_count()} cores seen, {args.threads} threads; --amp auto -> {used} ({why})")
    if args.isa:
        print(f"kernels held to {args.isa}: {ISA_LIMITS[args.isa]}")
    best: dict[str, float] = {}
    for _ in range(args.repeats):
        for amp in ("off",) if args.isa else ("off", "auto"):
            seconds, finding = _job(amp, args.threads, args.isa)
            best[amp] = min(best.get(amp, float("inf")), seconds)
            print(f"demo --amp {amp:<4} {seconds:6.1f} s   {finding}")
    if "auto" in best:
        print(f"fastest: fp32 {best['off']:.1f} s, auto ({used}) {best['auto']:.1f} s, "
              f"fp32/auto {best['off'] / best['auto']:.2f}x")
    else:
        print(f"fastest: fp32 {best['off']:.1f} s with the kernels held to {args.isa}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
