"""Target layers for CAMs: the usual layer per architecture, reshape transforms derived from the model
(token grid and prefix tokens for ViTs, channels-last for Swin — never hard-coded sizes), and the list
of candidate layers with their map size."""

from __future__ import annotations

import contextlib
import difflib
import math
from collections.abc import Callable, Iterator

import torch
from torch import nn

def model_device(model: nn.Module) -> torch.device:
    return next(model.parameters(), torch.empty(0)).device



def _arch(backbone: nn.Module) -> str:
    if hasattr(backbone, "patch_embed") and hasattr(backbone, "layers") and not hasattr(backbone, "blocks"):
        return "swin"
    if hasattr(backbone, "patch_embed") and hasattr(backbone, "blocks"):
        return "vit"
    return "cnn"


def _auto_layer_name(backbone: nn.Module, image_size: int) -> str:
    arch = _arch(backbone)
    if arch == "vit":
        return f"blocks.{len(backbone.blocks) - 1}.norm1"
    if arch == "swin":
        return f"layers.{len(backbone.layers) - 1}.blocks.{len(backbone.layers[-1].blocks) - 1}.norm1"
    for group in ("layer4", "features"):  # ResNets (torchvision, timm); torchvision MobileNet & co.
        seq = getattr(backbone, group, None)
        if isinstance(seq, nn.Sequential) and len(seq) > 0:
            return f"{group}.{list(seq._modules)[-1]}"
    layers = list_layers(backbone, image_size)
    if not layers:
        raise ValueError(f"no module of {type(backbone).__name__} outputs a spatial map at "
                         f"image_size={image_size}; pass a layer name (use --list-layers)")
    return layers[-1][0]


def resolve_layer(backbone: nn.Module, spec: str = "auto", *, image_size: int = 224) -> tuple[str, nn.Module]:
    """The target layer: "auto" picks the usual Grad-CAM layer, otherwise a dotted module name."""
    name = _auto_layer_name(backbone, image_size) if spec == "auto" else spec
    try:
        if not name:
            raise AttributeError(name)
        return name, backbone.get_submodule(name)
    except AttributeError:
        names = [n for n, _ in backbone.named_modules() if n]
        close = difflib.get_close_matches(name, names, n=5, cutoff=0.5)
        hint = f"; close names: {', '.join(close)}" if close else ""
        raise ValueError(f"layer={spec!r} is not a module of {type(backbone).__name__}; "
                         f"use --list-layers to see valid names{hint}") from None


class _TokensToMap:
    """(B, prefix + gh*gw, C) ViT tokens -> (B, C, gh, gw), dropping cls/register/distillation tokens."""
    def __init__(self, grid: tuple[int, int], prefix: int) -> None:
        self.grid, self.prefix = (int(grid[0]), int(grid[1])), int(prefix)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3:
            raise ValueError(f"expected ViT tokens (B, N, C), got shape {tuple(x.shape)}")
        gh, gw = self.grid
        if x.shape[1] == self.prefix + gh * gw:
            x = x[:, self.prefix:]
        elif x.shape[1] != gh * gw:  # dynamic image size: only a square grid can be inferred
            side = math.isqrt(x.shape[1] - self.prefix)
            if side * side != x.shape[1] - self.prefix:
                raise ValueError(f"cannot map {x.shape[1]} tokens to a grid (model grid {self.grid}, "
                                 f"{self.prefix} prefix tokens); use the model's input size")
            gh = gw = side
            x = x[:, self.prefix:]
        return x.reshape(x.shape[0], gh, gw, x.shape[2]).permute(0, 3, 1, 2)


def _nhwc_to_nchw(x: torch.Tensor) -> torch.Tensor:
    """timm Swin blocks emit channels-last maps (B, H, W, C)."""
    if x.ndim != 4:
        raise ValueError(f"expected a Swin map (B, H, W, C), got shape {tuple(x.shape)}")
    return x.permute(0, 3, 1, 2)


def reshape_transform_for(backbone: nn.Module, layer_name: str) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """grad-cam reshape_transform turning the layer's output into (B, C, h, w); None for CNN maps."""
    arch = _arch(backbone)
    if arch == "cnn" or isinstance(resolve_layer(backbone, layer_name)[1], nn.Conv2d):
        return None
    if arch == "swin":
        return _nhwc_to_nchw
    prefix = getattr(backbone, "num_prefix_tokens", 1 if getattr(backbone, "cls_token", None) is not None else 0)
    return _TokensToMap(tuple(backbone.patch_embed.grid_size), prefix)


@contextlib.contextmanager
def frozen_eval(model: nn.Module, freeze: bool = True) -> Iterator[None]:
    """eval mode and frozen parameters for the duration; modes, flags and .grad restored even on error."""
    modes = [(m, m.training) for m in model.modules()]
    params = [(p, p.requires_grad, p.grad) for p in model.parameters()]
    try:
        model.eval()
        for p, _, _ in params:
            p.requires_grad_(p.requires_grad and not freeze)
        yield
    finally:
        for m, mode in modes:
            m.training = mode
        for p, flag, grad in params:
            p.requires_grad_(flag)
            p.grad = grad


def list_layers(backbone: nn.Module, image_size: int) -> list[tuple[str, tuple[int, int]]]:
    """Modules whose output (reshaped) is a spatial map larger than 1x1, with its grid, in the order
    their forward finishes (children before their container); one probe forward on zeros."""
    found: dict[str, tuple[int, int]] = {}

    def hook_for(name: str, transform: Callable | None) -> Callable:
        def hook(module: nn.Module, inputs: object, output: object) -> None:
            if name in found or not isinstance(output, torch.Tensor):
                return
            try:
                out = transform(output) if transform is not None else output
            except (ValueError, RuntimeError):
                return
            if out.ndim == 4 and out.shape[0] == 2 and out.shape[2] * out.shape[3] > 1:
                found[name] = (int(out.shape[2]), int(out.shape[3]))
        return hook

    handles = [m.register_forward_hook(hook_for(n, reshape_transform_for(backbone, n)))
               for n, m in backbone.named_modules() if n]
    try:
        with frozen_eval(backbone), torch.no_grad():
            backbone(torch.zeros(2, 3, image_size, image_size, device=model_device(backbone)))
    finally:
        for h in handles:
            h.remove()
    return list(found.items())
