"""Where ``train``'s time goes, per phase of a step, in fp32 (``--amp off``) and bf16, in one run.

    python -m benchmarks.train_profile [--model mobilenet_v2] [--size 128] [--images 320] [--batch-size 32]

Runs the code ``aigc_explain.train`` runs (``training._Run``: its loader, model, loss and optimizer) step by step
with a timer around each phase: waiting for the batch (decode, augmentation, collation), the forward pass, the
backward pass, the optimizer step; then one validation pass and one checkpoint save. Prints seconds and shares
per phase for each precision, so a slow fp32 path can be told apart from a slow loader. The first epoch is a
warm-up and is not counted. No wall-clock claim is asserted anywhere (the machine is shared and noisy).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch

from aigc_explain.core.distributed import DistEnv
from aigc_explain.core.experiments import TrainConfig
from aigc_explain.core.inference import autocast
from aigc_explain.core.training import TrainState, _Run
from benchmarks.train_speed import DEFAULT_DATA, subset_root

PHASES = ("batch", "forward", "backward", "optimizer")


def profile_epoch(run: _Run) -> dict[str, float]:
    """Seconds per phase over one epoch of ``run``'s training loader."""
    seconds: dict[str, float] = defaultdict(float)
    images = 0
    model, dev = run.train_model, run.device
    model.train()
    it = iter(run.train_loader)
    while True:
        t0 = time.perf_counter()
        try:
            batch = next(it)
        except StopIteration:
            break
        x = batch.images.to(dev).contiguous(memory_format=torch.channels_last)
        y = batch.labels.to(dev)
        t1 = time.perf_counter()
        with autocast(dev, run.amp):
            logits = model(x).float().reshape(-1)
        loss = run.loss_fn(logits, y)
        t2 = time.perf_counter()
        run.opt.zero_grad(set_to_none=True)
        loss.backward()
        t3 = time.perf_counter()
        run.opt.step()
        t4 = time.perf_counter()
        for name, dt in zip(PHASES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            seconds[name] += dt
        images += len(y)
    seconds["images"] = images
    return seconds


def profile(root: Path, out: Path, args: argparse.Namespace, amp: str) -> dict[str, float]:
    cfg = TrainConfig(data=str(root), out=str(out), model=args.model, weights="none", image_size=args.size,
                      batch_size=args.batch_size, workers=args.workers, device="cpu", epochs=2, amp=amp,
                      augment=args.augment)
    out.mkdir(parents=True)
    run = _Run(cfg, out, DistEnv())
    profile_epoch(run)  # warm-up
    seconds = profile_epoch(run)
    start = time.perf_counter()
    run.validate()
    seconds["validation"] = time.perf_counter() - start
    start = time.perf_counter()
    run.save("checkpoint.pth", TrainState(epoch=1), metrics={"val_acc": 0.0})
    seconds["save"] = time.perf_counter() - start
    seconds["amp_used"] = run.amp
    return seconds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="root with train/ and val/ class folders")
    p.add_argument("--model", default="mobilenet_v2")
    p.add_argument("--size", type=int, default=128, help="input size (the demo's)")
    p.add_argument("--images", type=int, default=320, help="training images per class")
    p.add_argument("--val-images", type=int, default=100, help="validation images per class")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--augment", default="none", choices=("none", "report"))
    args = p.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="train_profile_"))
    try:
        root = subset_root(args.data, args.images, args.val_images, tmp / "data")
        results = {amp: profile(root, tmp / f"run_{amp}", args, amp) for amp in ("off", "bf16")}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{args.model} at {args.size}px, {2 * args.images} training images, batch {args.batch_size}, "
          f"workers {args.workers}, augment {args.augment}, threads {torch.get_num_threads()}")
    for amp, s in results.items():
        step = sum(s[k] for k in PHASES)
        print(f"--amp {amp} (ran {s['amp_used']}): {s['images'] / step:.1f} training images/s; one epoch {step:.1f} s:")
        for k in PHASES:
            print(f"    {k:<10} {s[k]:7.2f} s  {100 * s[k] / step:5.1f}%")
        print(f"    then validation {s['validation']:.2f} s, checkpoint save {s['save']:.2f} s")
    f, b = (sum(results[a][k] for k in PHASES) for a in ("off", "bf16"))
    print(f"fp32 / bf16 epoch time: {f / b:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
