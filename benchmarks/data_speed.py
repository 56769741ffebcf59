"""Images/s of our loader vs the report's PIL pipeline: decode + resize + normalise, same files.

    python -m benchmarks.data_speed [--images ../shared/data/cifake-dev/val] [--size 224] [--workers 0]

The report's shape: a Dataset doing ``Image.open(p).convert("RGB")`` and a ``transforms.Compose`` of
Resize((S, S)), ToTensor, Normalize. Both loaders run in turn, twice each (the first pass warms the
page cache), with the same batch size and workers; the ratio is printed from the same run.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from aigc_explain.core.folders import find_samples
from aigc_explain.core.images import eval_transform
from aigc_explain.core.loader import make_loader
from benchmarks.report_loop import report_transform, ReportDataset

DEFAULT_IMAGES = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifake-dev" / "val"


def _rate(loader) -> float:
    start, n = time.perf_counter(), 0
    for batch in loader:
        n += len(batch[0]) if isinstance(batch, (list, tuple)) else len(batch.images)
    return n / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=Path, default=DEFAULT_IMAGES)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--limit", type=int, default=1600)
    p.add_argument("--threads", type=int, default=1, help="torch threads in the main process")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    samples = find_samples(args.images)[: args.limit]
    report = DataLoader(ReportDataset([s.path for s in samples], [s.label for s in samples], report_transform(args.size)),
                        batch_size=args.batch_size, num_workers=args.workers)
    ours = make_loader(samples, eval_transform(args.size), batch_size=args.batch_size, workers=args.workers)
    rates: dict[str, list[float]] = {"report": [], "ours": []}
    for _ in range(2):
        rates["report"].append(_rate(report))
        rates["ours"].append(_rate(ours))
    best = {k: max(v) for k, v in rates.items()}
    print(f"{len(samples)} images from {args.images} -> {args.size}x{args.size}, batch {args.batch_size}, "
          f"workers {args.workers}")
    print(f"report PIL pipeline: {best['report']:.0f} images/s")
    print(f"aigc_explain loader: {best['ours']:.0f} images/s")
    print(f"ratio ours/report: {best['ours'] / best['report']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
