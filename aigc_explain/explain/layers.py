"""Target layers for CAMs: the usual layer per architecture, reshape transforms derived from the model
(token grid and prefix tokens for ViTs, channels-last for Swin — never hard-coded sizes), and the list
of candidate layers with their map size."""

from __future__ import annotations

import contextlib
import difflib
import math
import re
from collections.abc import Callable, Iterator

import torch
from torch import nn

from aigc_explain.runs.summaries import LayerChoice

def model_device(model: nn.Module) -> torch.device:
    return next(model.parameters(), torch.empty(0)).device



def _arch(backbone: nn.Module) -> str:
    if hasattr(backbone, "patch_embed") and hasattr(backbone, "layers") and not hasattr(backbone, "blocks"):
        return "swin"
    if hasattr(backbone, "patch_embed") and hasattr(backbone, "blocks"):
        return "vit"
    return "cnn"


# The auto layer's map must resolve corners from centre: with the default regions (corner squares of a quarter
# of the side, the centre half) a side of 7 leaves each corner square and the centre at least one cell of its own.
AUTO_MIN_SIDE = 7


def block_names(backbone: nn.Module) -> list[str]:
    """The backbone's top-level blocks in forward order (ResNet stages, ``features`` children, ViT/Swin blocks)."""
    arch = _arch(backbone)
    if arch == "vit":
        return [f"blocks.{i}.norm1" for i in range(len(backbone.blocks))]
    if arch == "swin":
        return [f"layers.{i}.blocks.{len(stage.blocks) - 1}.norm1" for i, stage in enumerate(backbone.layers)]
    stages = [f"layer{i}" for i in range(1, 5) if isinstance(getattr(backbone, f"layer{i}", None), nn.Sequential)]
    if stages:
        return [f"{s}.{list(getattr(backbone, s)._modules)[-1]}" for s in stages if len(getattr(backbone, s))]
    features = getattr(backbone, "features", None)
    if isinstance(features, nn.Sequential):
        return [f"features.{k}" for k in features._modules]
    return []


def _auto(layer: str, map_size: tuple[int, int], reason: str) -> LayerChoice:
    return LayerChoice(asked="auto", layer=layer, map_size=map_size, reason=reason)


def auto_layer(backbone: nn.Module, image_size: int, *, grids: dict[str, tuple[int, int]] | None = None) -> LayerChoice:
    """``--layer auto``: the deepest top-level block whose map at ``image_size`` has a side of at least
    ``AUTO_MIN_SIDE`` (so corners and centre are told apart); where none has, the block with the largest map.
    ``grids``: the ``list_layers`` result when the caller has it (no second probe forward)."""
    if _arch(backbone) == "vit":  # every block has the model's token grid: the last one
        grid = tuple(int(v) for v in backbone.patch_embed.grid_size)
        coarse = "" if min(grid) >= AUTO_MIN_SIDE else ", too coarse to tell corners from centre well"
        return _auto(block_names(backbone)[-1], grid, f"the last block; every block has the {grid[0]}x{grid[1]} "
                                                              f"token grid{coarse}")
    try:
        grids = dict(list_layers(backbone, image_size)) if grids is None else grids
    except (RuntimeError, AssertionError) as exc:  # e.g. a model built for a fixed non-square input
        last = block_names(backbone)[-1:] or [None]
        if last[0] is None:
            raise ValueError(f"cannot probe {type(backbone).__name__} at {image_size} px ({exc}); pass a layer "
                             f"name (use --list-layers)") from None
        return _auto(last[0], (0, 0), f"the last block; map sizes could not be probed at {image_size} px")
    if not grids:
        raise ValueError(f"no module of {type(backbone).__name__} outputs a spatial map at "
                         f"image_size={image_size}; pass a layer name (use --list-layers)")
    candidates = [n for n in block_names(backbone) if n in grids] or list(grids)
    last = candidates[-1]
    (lh, lw) = grids[last]
    for name in reversed(candidates):
        h, w = grids[name]
        if min(h, w) >= AUTO_MIN_SIDE:
            why = (f"the last block; its {h}x{w} map at {image_size} px resolves corners from centre "
                   f"(side >= {AUTO_MIN_SIDE})") if name == last else \
                  (f"the deepest block whose map at {image_size} px resolves corners from centre ({h}x{w}, side >= "
                   f"{AUTO_MIN_SIDE}); the last block {last} gives only {lh}x{lw}")
            return _auto(name, (h, w), why)
    best = max(reversed(candidates), key=lambda n: min(grids[n]))
    h, w = grids[best]
    return _auto(best, (h, w), f"no block's map reaches side {AUTO_MIN_SIDE} at {image_size} px; the largest "
                                     f"({h}x{w}) is used, too coarse to tell corners from centre well")


def layer_table(backbone: nn.Module, image_size: int) -> list[tuple[str, tuple[int, int], bool, bool]]:
    """``(name, map size, is a top-level block, is the auto choice)`` for every candidate layer: the blocks
    first (forward order), then every other module with a spatial map."""
    grids = list_layers(backbone, image_size)
    blocks = set(block_names(backbone))
    chosen = auto_layer(backbone, image_size, grids=dict(grids)).layer
    rows = [(n, g, True, n == chosen) for n, g in grids if n in blocks]
    return rows + [(n, g, False, n == chosen) for n, g in grids if n not in blocks]


def format_layer_table(rows: list[tuple[str, tuple[int, int], bool, bool]], image_size: int) -> str:
    """``--list-layers`` as text: blocks, then other modules; ``*`` marks the auto choice."""
    lines = [f"map size of each layer at the input size {image_size} px; * = --layer auto (the deepest block "
             f"whose map has a side >= {AUTO_MIN_SIDE})", "top-level blocks:"]
    for i, (name, (h, w), block, chosen) in enumerate(rows):
        if not block and (i == 0 or rows[i - 1][2]):
            lines.append("other modules:")
        lines.append(f"{'*' if chosen else ' '} {name}\t{h}x{w}")
    return "\n".join(lines)


def dotted_name(backbone: nn.Module, spec: str) -> str:
    """grad-cam's spelling as a dotted module name: ``layer4[-1]`` -> ``layer4.2``, ``model.features[-1]`` ->
    ``features.18`` (indices count the children, negative from the end); names without brackets pass as they are."""
    spec = spec.strip()
    for prefix in ("model.backbone.", "model.", "backbone."):
        spec = spec.removeprefix(prefix)
    if "[" not in spec:
        return spec
    module, parts = backbone, []
    for token in re.findall(r"\[\s*-?\d+\s*\]|[^.\[\]]+", spec):
        children = list(module._modules)
        if token.startswith("["):
            index = int(token.strip("[] "))
            if not -len(children) <= index < len(children):
                raise ValueError(f"layer={spec!r}: index {index} is out of range for {type(module).__name__} with "
                                 f"{len(children)} children; use --list-layers to see valid names")
            token = children[index]
        if token not in module._modules:
            return ".".join(parts + [token])  # resolve_layer names the problem with close matches
        parts.append(token)
        module = module._modules[token]
    return ".".join(parts)


def resolve_layer(backbone: nn.Module, spec: str = "auto", *, image_size: int = 224) -> tuple[str, nn.Module]:
    """The target layer: "auto" (see ``auto_layer``), otherwise a dotted module name (grad-cam's ``layer4[-1]``
    indexing accepted)."""
    name = auto_layer(backbone, image_size).layer if spec == "auto" else dotted_name(backbone, spec)
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
