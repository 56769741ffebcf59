"""GPU throughput check: train and Grad-CAM images/s for ResNet-101 at 224, batch 64, fp32 vs AMP.

    bash benchmarks/gpu_check.sh            # on a CUDA machine, < 5 minutes on one H100/H200
    python -m benchmarks.gpu_check --device cpu --model resnet18 --size 64 --steps 2   # smoke test

Synthetic images already on the device, so the numbers are the model's, not the disk's. Training:
the step ``aigc_explain.train`` runs (one-logit ResNet-101, BCE with logits, AdamW, channels_last on
CUDA; AMP = bf16 autocast). CAM: ``cam_methods.compute_cams`` (gradcam at layer4's last block).
The report measured 276 images/s training ResNet-101 on an RTX 3090.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F

from aigc_explain.explain.methods import compute_cams
from aigc_explain.core.inference import resolve_device
from aigc_explain.core.models import build_detector


def _timed(fn, steps: int, device: torch.device) -> float:
    fn()  # warm-up (cuDNN autotuning, allocator)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def train_rate(model, x, y, amp: bool, steps: int) -> float:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()

    def step() -> None:
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=amp):
            logits = model(x).float().reshape(-1)
        loss = F.binary_cross_entropy_with_logits(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return steps * len(x) / _timed(step, steps, x.device)


def cam_rate(model, x, amp: bool, steps: int) -> float:
    layer = model.backbone.layer4[-1]
    signs = torch.ones(len(x))

    def step() -> None:
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=amp):
            compute_cams(model, layer, x, signs, batch_size=len(x))

    return steps * len(x) / _timed(step, steps, x.device)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="resnet101")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--device", default="auto")
    args = p.parse_args(argv)
    device = resolve_device(args.device)
    torch.backends.cudnn.benchmark = True
    model = build_detector(args.model, image_size=args.size).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    x = torch.randn(args.batch_size, 3, args.size, args.size, device=device)
    if device.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
    y = (torch.rand(args.batch_size, device=device) > 0.5).float()
    results = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
               "model": args.model, "image_size": args.size, "batch_size": args.batch_size, "steps": args.steps}
    for amp in (False, True):
        tag = "amp_bf16" if amp else "fp32"
        results[f"train_{tag}_images_per_s"] = round(train_rate(model, x, y, amp, args.steps), 1)
        results[f"cam_{tag}_images_per_s"] = round(cam_rate(model, x, amp, args.steps), 1)
        with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            model.eval()
            results[f"inference_{tag}_images_per_s"] = round(
                args.steps * len(x) / _timed(lambda: model(x), args.steps, device), 1)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
