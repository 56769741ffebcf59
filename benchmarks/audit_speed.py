"""How fast the audit reads file cues (headers only) and the whole audit (cues + pixel evidence) runs.

    python benchmarks/audit_speed.py [--data ../shared/data/cifake-dev] [--size 64] [--limit 4000]

Prints images/s for ``read_cues`` over every image (the target is >= 200 images/s on 2 CPU cores) and for
``run_audit`` (decode, resize to --size, residual, streaming evidence, cue classifier), in one run.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from aigc_explain.core.folders import balanced_subset, find_samples
from aigc_explain.evidence.cues import read_cues
from aigc_explain.evidence.gather import AuditSettings, run_audit

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifake-dev"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--limit", type=int, default=None, help="images per split for the whole audit")
    args = p.parse_args(argv)
    samples = find_samples(args.data)
    start = time.perf_counter()
    for s in samples:
        read_cues(s.path)
    cue_rate = len(samples) / (time.perf_counter() - start)
    n = sum(len(balanced_subset(find_samples(args.data / split), args.limit)) for split in ("train", "val")
            if (args.data / split).is_dir()) or len(samples)
    start = time.perf_counter()
    run_audit(args.data, AuditSettings(size=args.size, limit=args.limit))
    audit_rate = n / (time.perf_counter() - start)
    print(f"file cues (headers): {len(samples)} images, {cue_rate:.0f} images/s (target >= 200)")
    print(f"whole audit at {args.size} px: {n} images, {audit_rate:.0f} images/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
