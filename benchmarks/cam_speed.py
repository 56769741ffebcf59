"""CPU speed of Grad-CAM: plain inference vs aigc_explain's compute_cams vs grad-cam's README usage.

Run from the repository root:  python -m benchmarks.cam_speed [--batches 3 --threads 2]
Same model, same random images for all three; one warm-up batch each, then the timed batches run the
three variants in turn (interleaved, so a change in machine load hits all three alike).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
import torchvision
from pytorch_grad_cam import GradCAM
from torch import nn

from aigc_explain.explain.methods import compute_cams, LogitTarget

def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet101", help="torchvision ResNet name (random init)")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--batches", type=int, default=2,
                        help="timed batches per variant; resnet101 default: ~1 min per batch on 2 cores")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    return parser


def _build_model(name: str) -> nn.Module:
    if not name.startswith(("resnet", "resnext", "wide_resnet")) or not hasattr(torchvision.models, name):
        raise ValueError(f"--model={name!r} must be a torchvision ResNet, e.g. resnet18, resnet50, resnet101")
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None)
    model.fc = nn.Linear(model.fc.in_features, 1)
    return model.eval()


def _rates(steps: dict[str, Callable[[torch.Tensor], object]], batches: list[torch.Tensor]) -> dict[str, float]:
    """Images per second of each step over `batches`, after one warm-up batch each."""
    seconds = dict.fromkeys(steps, 0.0)
    for step in steps.values():
        step(batches[0])
    for x in batches:
        for name, step in steps.items():
            start = time.perf_counter()
            step(x)
            seconds[name] += time.perf_counter() - start
    images = sum(len(x) for x in batches)
    return {name: images / s for name, s in seconds.items()}


def run(model_name: str, image_size: int, batch_size: int, n_batches: int) -> dict[str, float]:
    model = _build_model(model_name)
    layer = model.layer4[-1]
    generator = torch.Generator().manual_seed(0)
    batches = [torch.randn(batch_size, 3, image_size, image_size, generator=generator) for _ in range(n_batches)]
    signs = [1.0] * batch_size

    def plain(x: torch.Tensor) -> None:
        with torch.inference_mode():
            model(x)

    def ours(x: torch.Tensor) -> None:
        compute_cams(model, layer, x, signs, method="gradcam", batch_size=batch_size)

    cam = GradCAM(model=model, target_layers=[layer])  # as grad-cam's README shows

    def gradcam_default(x: torch.Tensor) -> None:
        cam(input_tensor=x, targets=[LogitTarget(1.0) for _ in range(len(x))])

    try:
        return _rates({"plain": plain, "ours": ours, "gradcam_default": gradcam_default}, batches)
    finally:
        cam.activations_and_grads.release()


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    if min(args.image_size, args.batch_size, args.batches) < 1:
        parser.error("--image-size, --batch-size and --batches must be positive")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    try:
        rates = run(args.model, args.image_size, args.batch_size, args.batches)
    except ValueError as error:
        parser.error(str(error))  # one line, exit code 2
    print(f"{args.model} {args.image_size}px batch {args.batch_size} x {args.batches} batches, "
          f"{torch.get_num_threads()} threads")
    for name, rate in rates.items():
        print(f"  {name:16s} {rate:8.2f} images/s")
    print(f"  ours / plain           {rates['ours'] / rates['plain']:.2f}x")
    print(f"  ours / gradcam default {rates['ours'] / rates['gradcam_default']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
