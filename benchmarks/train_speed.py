"""Training images/s: aigc_explain's training epoch vs the report notebook's loop, same model and data.

    python -m benchmarks.train_speed [--model resnet18] [--size 224] [--images 256] [--batch-size 32]

The report's loop is ``benchmarks/report_loop.py`` (its exact shape: PIL Dataset, Compose, a
``Sequential(Linear, Sigmoid)`` head, BCELoss, AdamW, per-step ``.item()``). Ours: ``training._Run.train_epoch`` — the
code ``aigc_explain.train`` runs (uint8 loader with one normalisation per batch, logits +
BCEWithLogits, device-side running sums, channels_last, fused AdamW, the ``--amp`` autocast). For the whole
job (start-up, validation, saving) see ``train_job.py``. Both train on the same
images with the same batch size, workers and threads, alternating, two epochs each (the first warms
up); the best epoch of each is compared. Prints both rates and the ratio.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import torch

from aigc_explain.core.folders import balanced_subset, find_samples
from aigc_explain.core.distributed import DistEnv
from aigc_explain.core.experiments import TrainConfig
from aigc_explain.core.training import _Run, TrainState
from benchmarks.report_loop import report_model, split_loader, train_epoch

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifake-dev"


def subset_root(data: Path, n_train: int, n_val: int, tmp: Path) -> Path:
    """A train/val root under ``tmp`` holding links to balanced subsets of ``data``'s splits."""
    for split, count in (("train", n_train), ("val", n_val)):
        for s in balanced_subset(find_samples(data / split), count):
            dest = tmp / split / ("1_fake" if s.label else "0_real") / Path(s.path).name
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.symlink_to(Path(s.path).resolve())
    return tmp


def report_epoch(root: Path, model_name: str, size: int, batch_size: int, workers: int, device: torch.device) -> float:
    """One epoch of the report's loop (``report_loop``) on a fresh model; returns images/s."""
    model = report_model(model_name).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    return train_epoch(model, opt, split_loader(root, "train", size, batch_size, workers, True), device)


def our_epoch(run: _Run, epoch: int) -> float:
    state = TrainState(epoch=epoch)
    start = time.perf_counter()
    run.train_epoch(state, progress=False)
    float(state.sums[2])  # the epoch's one host sync
    return state.sums[2] / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="root with train/0_real, train/1_fake")
    p.add_argument("--model", default="resnet18", help="a torchvision ResNet")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--images", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--amp", default="auto", choices=("auto", "bf16", "off"),
                   help="our side's autocast (auto: bf16 where native, as train's default; off: exact fp32)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="train_speed_"))
    try:
        root = subset_root(args.data, args.images, 2, tmp / "data")
        cfg = TrainConfig(data=str(root), out=str(tmp / "run"), model=args.model, weights="none", image_size=args.size,
                          batch_size=args.batch_size, workers=args.workers, device=args.device, epochs=2, amp=args.amp)
        run = _Run(cfg, tmp / "run", DistEnv())
        rates = {"report": [], "ours": []}
        for epoch in range(2):
            rates["report"].append(report_epoch(root, args.model, args.size, args.batch_size, args.workers, run.device))
            rates["ours"].append(our_epoch(run, epoch))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    best = {k: max(v) for k, v in rates.items()}
    print(f"{args.model} at {args.size}px, {args.images} images, batch {args.batch_size}, workers {args.workers}, "
          f"threads {torch.get_num_threads()}, device {run.device}, our amp {args.amp}")
    print(f"report loop:         {best['report']:.1f} images/s  (epochs: {', '.join(f'{r:.1f}' for r in rates['report'])})")
    print(f"aigc_explain train:  {best['ours']:.1f} images/s  (epochs: {', '.join(f'{r:.1f}' for r in rates['ours'])})")
    print(f"ratio ours/report: {best['ours'] / best['report']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
