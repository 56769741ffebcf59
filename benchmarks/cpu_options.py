"""Cheap CPU settings, measured rather than believed: channels_last, and threads vs data-loading workers.

    python -m benchmarks.cpu_options [--steps 6] [--data ../shared/data/cifake-dev]

1. channels_last vs the default (contiguous NCHW) for a training step (forward, backward, AdamW) and for
   inference, in fp32 and under bf16 autocast: ResNet-18 at 128 px (batch 16) and MobileNetV2 at 96 px
   (batch 32), random weights and inputs. Variants run in turn, one warm-up step each; ratios > 1 mean
   channels_last is faster.
2. Threads vs workers for a whole training epoch of ``aigc_explain.train``'s loop (ResNet-18, 128 px,
   batch 16, 256 CIFAKE-dev images, the default autocast): 2 threads + 0 workers, 2 threads + 1 worker,
   1 thread + 1 worker.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import torch
import torchvision
from torch import nn

from aigc_explain.core.distributed import DistEnv
from aigc_explain.core.experiments import TrainConfig
from aigc_explain.core.inference import autocast
from aigc_explain.core.training import _Run
from benchmarks.train_speed import our_epoch, subset_root

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifake-dev"
CPU = torch.device("cpu")


def _model(name: str, memory_format: torch.memory_format) -> nn.Module:
    torch.manual_seed(0)
    model = torchvision.models.get_model(name)
    if name.startswith("resnet"):
        model.fc = nn.Linear(model.fc.in_features, 1)
    else:
        model.classifier[-1] = nn.Linear(model.classifier[-1].in_features, 1)
    return model.to(memory_format=memory_format)


def _step_rates(name: str, size: int, batch: int, steps: int) -> dict[tuple[str, str, str], float]:
    x0 = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(0))
    y = (torch.arange(batch) % 2).float()
    formats = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}
    variants = {}
    for amp in ("off", "bf16"):
        for fmt_name, fmt in formats.items():
            model = _model(name, fmt)
            opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
            x = x0.contiguous(memory_format=fmt)

            def train(model=model, opt=opt, x=x, amp=amp):
                model.train()
                with autocast(CPU, amp):
                    loss = nn.functional.binary_cross_entropy_with_logits(model(x).float().reshape(-1), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

            def infer(model=model, x=x, amp=amp):
                model.eval()
                with torch.inference_mode(), autocast(CPU, amp):
                    model(x)

            variants[("train", amp, fmt_name)] = train
            variants[("infer", amp, fmt_name)] = infer
    seconds = dict.fromkeys(variants, 0.0)
    for fn in variants.values():
        fn()
    for _ in range(steps):
        for key, fn in variants.items():
            start = time.perf_counter()
            fn()
            seconds[key] += time.perf_counter() - start
    return {k: steps * batch / s for k, s in seconds.items()}


def _epoch_rate(root: Path, tmp: Path, threads: int, workers: int) -> float:
    torch.set_num_threads(threads)
    cfg = TrainConfig(data=str(root), out=str(tmp / f"run{threads}{workers}"), model="resnet18", weights="none",
                      image_size=128, batch_size=16, workers=workers, epochs=1)
    run = _Run(cfg, Path(cfg.out), DistEnv())
    return max(our_epoch(run, epoch) for epoch in range(2))  # the first warms up (and starts the workers once)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    for name, size, batch in (("resnet18", 128, 16), ("mobilenet_v2", 96, 32)):
        rates = _step_rates(name, size, batch, args.steps)
        for kind in ("train", "infer"):
            for amp in ("off", "bf16"):
                a, b = rates[(kind, amp, "contiguous")], rates[(kind, amp, "channels_last")]
                print(f"{name} {size}px batch {batch} {kind:<5} {amp:<4}: contiguous {a:7.1f} img/s, "
                      f"channels_last {b:7.1f} img/s, ratio {b / a:.2f}x")
    if args.data.is_dir():
        tmp = Path(tempfile.mkdtemp(prefix="cpu_options_"))
        try:
            root = subset_root(args.data, 256, 2, tmp / "data")
            for threads, workers in ((2, 0), (2, 1), (1, 1)):
                rate = _epoch_rate(root, tmp, threads, workers)
                print(f"training epoch, resnet18 128px batch 16: {threads} threads + {workers} workers: "
                      f"{rate:.1f} img/s")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
