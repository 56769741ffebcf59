"""Self-describing checkpoints and the one ``load_detector`` that reads every format we meet.

Our format is a dict with ``format == "aigc_explain.detector"``: the detector's config (arch,
source, input size, mean/std, class names), the backbone's state dict, and training state
(arguments, epoch, metrics, optimizer/scheduler) for resuming. Written atomically.

``load_detector`` also reads, with no flags:
  (a) the report notebook's files — a raw state dict of its ``AIGC_resnet``/``AIGC_vit``/
      ``AIGC_swin`` wrappers (keys ``resnet.*``, heads ``Sequential(Linear, Sigmoid)``) and the
      ``{"model_state_dict": ...}`` dicts it saves;
  (b) ``{"model": state_dict}`` files (CNNDetection style); (c) ``module.``-prefixed DDP keys.
The architecture is inferred from the keys when the file does not say it.
"""

from __future__ import annotations

import io
import logging
import math
import re
from pathlib import Path
from typing import Any

import torch

from aigc_explain.core.bounds import check_archive, check_finite, check_fits_arch, check_mean_std, MAX_IMAGE_SIZE
from aigc_explain.core.heads import check_fake_index, fit_head
from aigc_explain.core.models import Detector, build_detector, last_linear
from aigc_explain.core.weights import fit_state_dict, load_file, unwrap_state_dict
from aigc_explain.runs.files import atomic_write_bytes, library_versions

log = logging.getLogger(__name__)

FORMAT = "aigc_explain.detector"
FORMAT_VERSION = 1

# The report wrapped every backbone in an attribute called ``resnet`` and ended it in a Sigmoid.
_REPORT_HEADS = (("head.fc.0.", "head.fc."), ("head.0.", "head."), ("fc.0.", "fc."))


def save_checkpoint(path: str | Path, detector: Detector, **state: Any) -> None:
    """Write ``detector`` plus any training ``state`` (epoch, metrics, optimizer…) atomically."""
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, **detector.config(),
               "state_dict": {k: v.detach().cpu() for k, v in detector.backbone.state_dict().items()},
               "versions": library_versions(), **state}
    buf = io.BytesIO()
    torch.save(payload, buf)
    atomic_write_bytes(path, buf.getvalue())


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load any checkpoint file safely (``weights_only=True``) as a dict; a deflate bomb is refused unread."""
    check_archive(path)
    obj = load_file(path)
    if not isinstance(obj, dict):
        raise ValueError(f"checkpoint {path} holds a {type(obj).__name__}, not a dict of tensors")
    return obj


def normalize_report_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip DDP and report-wrapper prefixes and turn ``Sequential(Linear, Sigmoid)`` heads into Linear."""
    out = {}
    for key, value in state.items():
        key = key.removeprefix("module.").removeprefix("resnet.").removeprefix("backbone.")
        for old, new in _REPORT_HEADS:
            if key.startswith(old):
                key = new + key[len(old):]
                break
        out[key] = value
    return out


def _blocks(state: dict[str, torch.Tensor], pattern: str) -> dict[int, int]:
    """Count numbered blocks per stage, e.g. ``layer(\\d)\\.(\\d+)\\.`` -> {1: 3, 2: 4, ...}."""
    counts: dict[int, int] = {}
    for key in state:
        m = re.match(pattern, key)
        if m:
            stage, block = int(m.group(1)), int(m.group(2))
            counts[stage] = max(counts.get(stage, 0), block + 1)
    return counts


def infer_arch(state: dict[str, torch.Tensor]) -> tuple[str, int]:
    """Guess (architecture, input size) from state-dict keys; ValueError when it cannot."""
    if "layer1.0.conv1.weight" in state:
        depth = tuple(_blocks(state, r"layer(\d)\.(\d+)\.").get(i, 0) for i in (1, 2, 3, 4))
        bottleneck = "layer1.0.conv3.weight" in state
        names = {((2, 2, 2, 2), False): "resnet18", ((3, 4, 6, 3), False): "resnet34",
                 ((3, 4, 6, 3), True): "resnet50", ((3, 4, 23, 3), True): "resnet101",
                 ((3, 8, 36, 3), True): "resnet152"}
        if (depth, bottleneck) in names:
            return names[(depth, bottleneck)], 224
    if "patch_embed.proj.weight" in state and "pos_embed" in state:
        dim, _, patch, _ = state["patch_embed.proj.weight"].shape
        depth = 1 + max((int(m.group(1)) for k in state if (m := re.match(r"blocks\.(\d+)\.", k))), default=-1)
        size = {192: "tiny", 384: "small", 768: "base", 1024: "large"}.get(dim)
        tokens = state["pos_embed"].shape[1] - (1 if "cls_token" in state else 0)
        grid = int(round(tokens ** 0.5))
        if size and depth in (12, 24):
            return f"vit_{size}_patch{patch}_224", grid * patch
    if "layers.0.blocks.0.attn.relative_position_bias_table" in state:
        dim = state["patch_embed.proj.weight"].shape[0]
        depths = tuple(v for _, v in sorted(_blocks(state, r"layers\.(\d+)\.blocks\.(\d+)\.").items()))
        table = state["layers.0.blocks.0.attn.relative_position_bias_table"].shape[0]
        window = (int(round(table ** 0.5)) + 1) // 2
        size = {(96, (2, 2, 6, 2)): "tiny", (96, (2, 2, 18, 2)): "small", (128, (2, 2, 18, 2)): "base"}.get((dim, depths))
        if size:
            return f"swin_{size}_patch4_window{window}_224", 224
    if "features.18.0.weight" in state and "features.1.conv.0.0.weight" in state:
        return "mobilenet_v2", 224
    raise ValueError("cannot infer the architecture from the checkpoint's keys; pass --arch NAME "
                     "(a preset such as resnet, vit, swin, or a torchvision/timm model name)")




def _triple(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and len(value) == 3 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)


def check_own_format(obj: dict[str, Any], path: Path) -> None:
    """Validate an aigc_explain checkpoint before building anything from it: one line per problem."""
    bad = f"checkpoint {path} is malformed"
    version = obj.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ValueError(f"{bad}: format_version is {version!r}, not an integer; re-save it with aigc_explain")
    if version > FORMAT_VERSION:
        raise ValueError(f"checkpoint {path} has format version {version}; upgrade aigc_explain to read it")
    if not isinstance(obj.get("arch"), str) or not obj["arch"]:
        raise ValueError(f"{bad}: 'arch' is {obj.get('arch')!r}, not a model name; pass --arch or re-save it")
    size = obj.get("image_size")
    if not isinstance(size, int) or isinstance(size, bool) or not 16 <= size <= MAX_IMAGE_SIZE:
        raise ValueError(f"{bad}: image_size is {size!r}; it must be an integer from 16 to {MAX_IMAGE_SIZE}")
    for key in ("mean", "std"):
        if not _triple(obj.get(key)):
            raise ValueError(f"{bad}: {key} is {obj.get(key)!r}; it must be three finite numbers (R, G, B)")
    if min(obj["std"]) <= 0:
        raise ValueError(f"{bad}: std {list(obj['std'])} has a value <= 0, which would divide every image by "
                         f"zero; use the std the detector was trained with (ImageNet: 0.229, 0.224, 0.225)")
    names = obj.get("class_names", ["real", "fake"])
    if not isinstance(names, (list, tuple)) or len(names) != 2 or not all(isinstance(n, str) for n in names):
        raise ValueError(f"{bad}: class_names is {names!r}; it must be two names (real, fake)")
    state = obj.get("state_dict")
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{bad}: 'state_dict' is missing or does not hold tensors; re-save it with aigc_explain")
    check_mean_std(obj["mean"], obj["std"], path)
    check_finite(state, path)


def load_detector(path: str | Path, *, arch: str | None = None, map_location: str = "cpu",
                  fake_index: int = 1) -> Detector:
    """Rebuild a detector from any supported checkpoint file, in eval mode. A two-logit head becomes our one
    logit exactly (``core.heads``; ``fake_index``: which output is "fake"), recorded in ``detector.head``."""
    check_fake_index(fake_index)
    path = Path(path)
    obj = read_checkpoint(path)
    if obj.get("format") == FORMAT:
        check_own_format(obj, path)
        check_fits_arch(arch or obj["arch"], int(obj["image_size"]), obj["state_dict"], path, build_detector)
        detector = build_detector(arch or obj["arch"], image_size=int(obj["image_size"]))
        detector.mean, detector.std = tuple(float(v) for v in obj["mean"]), tuple(float(v) for v in obj["std"])
        detector.class_names = tuple(obj.get("class_names", detector.class_names))
        detector.head = obj.get("head") if isinstance(obj.get("head"), dict) else None
        state = obj["state_dict"]
    else:
        from aigc_explain.core import zoo  # the field's released detectors (NPR, Corvi, CLIP probes…), by keys
        from aigc_explain.core.zoo.load import load_zoo
        if (found := load_zoo(obj, path, arch=arch)) is not None:
            return found.to(map_location).eval()
        state = normalize_report_keys(unwrap_state_dict(obj, path))
        if arch is None:
            try:
                arch, size = infer_arch(state)
            except ValueError as exc:
                raise ValueError(f"checkpoint {path}: {exc}; {zoo.unknown_hint(state)}") from None
        else:
            size = 224
        check_finite(state, path)
        check_fits_arch(arch, size, state, path, build_detector)  # a tiny file naming a huge model stops here
        detector = build_detector(arch, image_size=size)
        log.info("read %s as a foreign checkpoint (arch %s, input %d)", path, detector.arch, size)
        head = last_linear(detector.backbone)
        state, detector.head = fit_head(state, head, in_features=detector.backbone.get_submodule(head).in_features,
                                        fake_index=fake_index, source=f"checkpoint {path}")
        if detector.head:
            log.info("%s: two-logit head read as one logit (fake = output %d)", path, fake_index)
    fit_state_dict(detector.backbone, state, source=f"checkpoint {path}", name=detector.arch,
                   hint="pass the right --arch")
    return detector.to(map_location).eval()
