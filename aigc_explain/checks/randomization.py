"""Model-parameter randomisation test (Adebayo et al. 2018, "Sanity Checks for Saliency Maps").

Re-initialise the detector's weights block by block from the top — cascading (the head, then the head
and the last block, ...) or one block at a time (independent) — recompute the CAMs and measure how
similar they stay to the trained detector's: Spearman rank correlation and SSIM, on the raw signed maps
and on their absolute values, at input size. A map that reflects what the detector learned must change
once the learned weights are gone; one that stays similar shows the input (edges) or the architecture.
Randomisation always happens on a deep copy: the caller's detector is never modified.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from aigc_explain.analysis.similarity import METRICS, similarities
from aigc_explain.analysis.stats import summarize
from aigc_explain.core.folders import balanced_subset, find_samples, NoReadableImages, Sample
from aigc_explain.core.images import eval_transform
from aigc_explain.core.loader import make_loader
from aigc_explain.core.models import Detector
from aigc_explain.explain.folder import CamSettings
from aigc_explain.explain.layers import reshape_transform_for, resolve_layer
from aigc_explain.explain.maps import upsample
from aigc_explain.explain.methods import compute_cams, signs_for
from aigc_explain.runs.check_summaries import SANITY_SCHEMA_VERSION, SanityStepSummary, SanitySummary

log = logging.getLogger(__name__)

MODES = ("cascading", "independent")
# Pass rule: mean Spearman of |maps| below 0.5 once half the blocks (from the top) are re-initialised.
# Adebayo et al. find that methods which pass fall to a rank correlation near 0 within the top layers,
# while those that fail (guided back-propagation) stay around 0.5 or above with the whole network
# random; 0.5 at the half-way point separates the two with margin. |maps| is the stricter reading:
# it ignores sign flips, which a random head produces for free.
VERDICT_METRIC = "spearman_abs"
PASS_THRESHOLD = 0.5


# ------------------------------------------------------------------------------------------ inputs
@dataclass
class Inputs:
    x: torch.Tensor  # (N, 3, S, S), preprocessed like evaluation
    paths: list[str]
    labels: np.ndarray
    skipped: list[tuple[str, str]] = field(default_factory=list)


def load_inputs(detector: Detector, images: str | Path | Sequence[Sample] | torch.Tensor, *,
                max_images: int | None = None, batch_size: int = 32) -> Inputs:
    """Images as one preprocessed batch: a folder, a list of Samples (balanced subset), or a ready tensor."""
    if max_images is not None and max_images < 1:
        raise ValueError(f"--max-images must be >= 1, got {max_images}")
    if isinstance(images, torch.Tensor):
        size = detector.image_size
        if images.ndim != 4 or tuple(images.shape[1:]) != (3, size, size) or len(images) == 0:
            raise ValueError(f"images must be a (N, 3, {size}, {size}) tensor; got {tuple(images.shape)}")
        x = images[:max_images]
        return Inputs(x, [f"#{i}" for i in range(len(x))], np.full(len(x), -1))
    samples = balanced_subset(list(images) if not isinstance(images, (str, Path)) else find_samples(images),
                              max_images)
    loader = make_loader(samples, eval_transform(detector.image_size, detector.mean, detector.std),
                         batch_size=batch_size)
    xs, kept, skipped = [], [], []
    for batch in loader:
        skipped += [(samples[i].path, why) for i, why in batch.failed]
        if batch.images.numel():
            xs.append(batch.images)
            kept += batch.indices.tolist()
    if not kept:
        raise NoReadableImages(f"none of the {len(samples)} images could be read", skipped)
    return Inputs(torch.cat(xs), [samples[i].path for i in kept],
                  np.array([samples[i].label for i in kept]), skipped)


# ------------------------------------------------------------------------------------------ blocks
@dataclass(frozen=True)
class Block:
    """One unit of randomisation: a module of the backbone (``name``), or the parameters the backbone
    owns directly (``tensors``, e.g. a ViT's cls_token and pos_embed)."""
    name: str
    tensors: tuple[str, ...] = ()


def _walk(module: nn.Module, prefix: str) -> list[Block]:
    blocks = []
    for name, child in reversed(list(module.named_children())):
        if next(child.parameters(), None) is None and next(child.buffers(), None) is None:
            continue  # stateless (activations, pooling, dropout): nothing to randomise
        if isinstance(child, (nn.Sequential, nn.ModuleList)):
            blocks += _walk(child, f"{prefix}{name}.")
        else:
            blocks.append(Block(f"{prefix}{name}"))
    return blocks


def parameter_blocks(backbone: nn.Module) -> list[Block]:
    """Blocks from the top (head first) in reverse registration order, descending into Sequential and
    ModuleList (torchvision ResNet: fc, layer4.2, ..., layer1.0, bn1, conv1; timm ViT: head, norm,
    blocks.11, ..., patch_embed, then its own cls_token/pos_embed). Stateless modules are left out."""
    blocks = _walk(backbone, "")
    own = tuple(n for n, _ in backbone.named_parameters(recurse=False))
    if own:
        blocks.append(Block(",".join(own), own))
    if not blocks:
        raise ValueError(f"{type(backbone).__name__} has no parameters to randomise")
    return blocks


def schedule(blocks: Sequence[Block], mode: str) -> list[tuple[int, ...]]:
    """Indices randomised at each step: cascading step k holds blocks 0..k, independent step k only k."""
    if mode == "cascading":
        return [tuple(range(k + 1)) for k in range(len(blocks))]
    if mode == "independent":
        return [(k,) for k in range(len(blocks))]
    raise ValueError(f"--mode {mode!r} is not one of {', '.join(MODES)} (or both)")


@contextlib.contextmanager
def _seeded(seed: int, module: nn.Module) -> Iterator[None]:
    devices = sorted({p.device for p in module.parameters() if p.device.type == "cuda"}, key=str)
    with torch.random.fork_rng(devices=devices):  # the caller's random state is left as it was
        torch.manual_seed(seed)
        yield


def randomize(module: nn.Module, seed: int) -> None:
    """Re-initialise ``module`` in place, reproducibly: each submodule's ``reset_parameters()`` (BatchNorm:
    running statistics too), else a normal(0, 0.02) draw for the parameters it owns."""
    with _seeded(seed, module), torch.no_grad():
        for sub in module.modules():
            if callable(getattr(sub, "reset_parameters", None)):
                sub.reset_parameters()
            else:
                for p in sub.parameters(recurse=False):
                    p.normal_(0.0, 0.02)


def _block_keys(detector: nn.Module, block: Block) -> list[str]:
    if block.tensors:
        return [f"backbone.{t}" for t in block.tensors]
    return [k for k in detector.state_dict() if k.startswith(f"backbone.{block.name}.")]


def randomized_copy(detector: Detector, blocks: Sequence[Block], indices: Sequence[int], *,
                    seed: int = 0) -> tuple[Detector, int, int]:
    """A deep copy with ``blocks[i]`` re-initialised for i in ``indices`` (block i always gets the same
    seed, so a block looks the same in both schedules). Returns (copy, tensors changed, tensors in blocks)."""
    model = copy.deepcopy(detector)
    for i in indices:
        if not blocks[i].tensors:
            randomize(model.backbone.get_submodule(blocks[i].name), seed * 100_003 + i)
            continue
        with _seeded(seed * 100_003 + i, model), torch.no_grad():
            for t in blocks[i].tensors:
                model.backbone.get_parameter(t).normal_(0.0, 0.02)
    old, new = detector.state_dict(), model.state_dict()
    keys = [k for i in indices for k in _block_keys(detector, blocks[i])]
    changed = sum(not torch.equal(old[k], new[k]) for k in keys)
    return model, changed, len(keys)


# --------------------------------------------------------------------------------------------- run
@dataclass
class SanityStep:
    mode: str  # "original", "cascading" or "independent"
    block: str  # the block randomised at this step (cascading: the lowest so far)
    randomized: list[str]
    changed_tensors: int
    block_tensors: int
    per_image: dict[str, np.ndarray]
    examples: np.ndarray  # (n_examples, H, W) signed maps at input size

    def summary(self) -> SanityStepSummary:
        """The step as sanity.json holds it: the similarities' means with 95% intervals, and per image."""
        return SanityStepSummary(
            mode=self.mode, block=self.block, randomized=list(self.randomized), changed_tensors=self.changed_tensors,
            block_tensors=self.block_tensors,
            similarity={m: summarize(v) for m, v in self.per_image.items()},
            per_image={m: [None if not math.isfinite(v) else float(v) for v in vals]
                       for m, vals in self.per_image.items()})


@dataclass(kw_only=True)
class SanityResult:
    method: str
    layer: str
    target: str
    image_size: int
    blocks: list[str]
    paths: list[str]
    steps: list[SanityStep]
    verdict: str
    passed: bool | None
    example_images: np.ndarray  # (n_examples, S, S, 3) uint8, the inputs the example maps belong to
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> SanitySummary:
        """sanity.json without the run folder's provenance (``checks.jobs`` adds it)."""
        return SanitySummary(schema_version=SANITY_SCHEMA_VERSION, method=self.method, layer=self.layer,
                             target=self.target, image_size=self.image_size, n_images=len(self.paths),
                             blocks=list(self.blocks), metrics=list(METRICS), verdict_metric=VERDICT_METRIC,
                             threshold=PASS_THRESHOLD, verdict=self.verdict, passed=self.passed,
                             steps=[s.summary() for s in self.steps], paths=list(self.paths),
                             n_skipped=len(self.skipped))


def check_cam_settings(cam: CamSettings, command: str) -> None:
    """The checks explain a batch with ``cam``'s method, layer, target, batch size and amp; the folder settings
    (limit, shard, reencode) have no meaning there, so they are refused rather than ignored."""
    unused = [name for name in ("limit", "shard", "reencode") if getattr(cam, name) is not None]
    if unused:
        raise ValueError(f"{command} takes the method, layer, target, batch size and amp of its CamSettings; "
                         f"{', '.join(unused)} do not apply to it (leave them None; --max-images picks the images)")


def layer_cams(detector: Detector, layer: str, x: torch.Tensor, signs: torch.Tensor | str, *, method: str,
               batch_size: int, amp: str = "off") -> tuple[np.ndarray, np.ndarray]:
    """Raw signed CAMs at the layer's resolution and logits. ``layer`` is a name, so a randomised copy is
    explained at the same place; ``signs`` may be a target name. A 1x1 map is refused (constant)."""
    _, module = resolve_layer(detector.backbone, layer, image_size=detector.image_size)
    raw, logits = compute_cams(detector, module, x, signs, method=method, batch_size=batch_size, amp=amp,
                               reshape_transform=reshape_transform_for(detector.backbone, layer))
    if raw.shape[1] * raw.shape[2] < 2:
        raise ValueError(f"layer {layer} gives a {raw.shape[1]}x{raw.shape[2]} map, constant at input size; "
                         f"pass an earlier --layer (list them with `aigc-explain cam --list-layers`)")
    return raw, logits


def upsample_signed(raw: np.ndarray, size: int) -> np.ndarray:
    """Bilinear to size x size, keeping the sign (no ReLU): the maps the similarities compare."""
    return upsample(raw, (size, size))


def run_sanity(detector: Detector, images: Any, *, cam: CamSettings = CamSettings(), modes: Sequence[str] = MODES,
               max_images: int | None = 32, n_examples: int = 4, seed: int = 0) -> SanityResult:
    """The randomisation test on ``images`` (folder, Samples or tensor) of ``cam``'s method at its layer for its
    target (batch size and amp too); see the module docstring."""
    for mode in modes:
        schedule([], mode)
    check_cam_settings(cam, "the sanity check")
    method, batch_size = cam.method.lower(), cam.batch_size
    inputs = load_inputs(detector, images, max_images=max_images, batch_size=batch_size)
    layer_name, _ = resolve_layer(detector.backbone, cam.layer, image_size=detector.image_size)
    raw, logits = layer_cams(detector, layer_name, inputs.x, cam.target, method=method, batch_size=batch_size,
                             amp=cam.amp)
    # "predicted": the trained detector's own call, kept for every randomised copy
    reference, signs = upsample_signed(raw, detector.image_size), signs_for(cam.target, logits)
    blocks = parameter_blocks(detector.backbone)
    steps = [SanityStep("original", "(none)", [], 0, 0, similarities(reference, reference), reference[:n_examples])]
    for mode in modes:
        for indices in schedule(blocks, mode):
            model, changed, total = randomized_copy(detector, blocks, indices, seed=seed)
            if changed == 0 and total:
                log.warning("randomising %s changed none of its %d tensors", blocks[indices[-1]].name, total)
            maps = upsample_signed(layer_cams(model, layer_name, inputs.x, signs, method=method,
                                              batch_size=batch_size, amp=cam.amp)[0], detector.image_size)
            steps.append(SanityStep(mode, blocks[indices[-1]].name, [blocks[i].name for i in indices], changed,
                                    total, similarities(reference, maps), maps[:n_examples]))
            log.info("%s %s: %s %.3f", mode, steps[-1].block, VERDICT_METRIC,
                     np.nanmean(steps[-1].per_image[VERDICT_METRIC]))
    verdict, passed = sanity_verdict(steps, len(blocks), method=method)
    return SanityResult(method=method, layer=layer_name, target=cam.target, image_size=detector.image_size,
                        blocks=[b.name for b in blocks], paths=inputs.paths, steps=steps, verdict=verdict, passed=passed,
                        example_images=_as_uint8(detector, inputs.x[:n_examples]), skipped=inputs.skipped)


def to_unit_range(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """Undo the normalisation: (N, 3, H, W) back to pixel values in [0, 1]."""
    m, s = (torch.tensor(v, dtype=x.dtype, device=x.device).view(1, -1, 1, 1) for v in (mean, std))
    return x * s + m


def _as_uint8(detector: Detector, x: torch.Tensor) -> np.ndarray:
    rgb = to_unit_range(x.detach().float().cpu(), detector.mean, detector.std).clamp(0, 1).permute(0, 2, 3, 1)
    return (rgb.numpy() * 255 + 0.5).astype(np.uint8)


def sanity_verdict(steps: Sequence[SanityStep], n_blocks: int, *, method: str = "gradcam",
                   threshold: float = PASS_THRESHOLD) -> tuple[str, bool | None]:
    """Plain words and pass/fail (None: no cascading run or undefined similarity); rule above."""
    cascade = [s for s in steps if s.mode == "cascading"]
    if not cascade:
        return ("no verdict: the pass rule reads the cascading schedule; run --mode cascading or both", None)
    half = math.ceil(n_blocks / 2)
    means = [summarize(s.per_image[VERDICT_METRIC]).mean for s in cascade]
    value = means[half - 1]
    n = len(steps[0].per_image[VERDICT_METRIC])
    if value is None:
        return ("no verdict: the similarity is undefined (constant maps) after randomising the top half", None)
    first = next((i for i, v in enumerate(means) if v is not None and v < threshold), None)
    measured = (f"mean Spearman rank correlation of |{method} map| between the trained and the randomised "
                f"detector on {n} images is {value:.2f} with the top {half} of {n_blocks} parameter blocks "
                f"re-initialised (down to {cascade[half - 1].block})")
    where = (f"; it first fell below {threshold} after randomising {cascade[first].block} (step {first + 1})"
             if first is not None else f"; it never fell below {threshold}, even with every block random")
    if value < threshold:
        return f"PASS: {measured}, below {threshold}{where}. The maps depend on the learned weights.", True
    return (f"FAIL: {measured}, not below {threshold}{where}. The maps change little when the learned weights "
            f"are destroyed, so they show the input or the architecture more than what the detector learned.", False)
