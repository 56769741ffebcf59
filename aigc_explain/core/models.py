"""Single-logit real-vs-fake detectors built on torchvision and timm backbones.

``build_detector(arch, weights=...)`` is the one factory: the report's presets (``resnet``,
``vit``, ``swin``) or any torchvision classification model or timm model name; the classifier
head becomes ``Linear(in, 1)``. The detector returns the logit (sigmoid outside the model); a
logit > 0 means "fake". Weights: ``none``, ``imagenet`` (torchvision's/timm's own mechanism and
cache; ``imagenet:IMAGENET1K_V1`` picks a torchvision weight set) or a local file.
"""

from __future__ import annotations

import difflib
import logging
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from aigc_explain import CLASS_NAMES
from aigc_explain.core.images import IMAGENET_MEAN, IMAGENET_STD
from aigc_explain.core.offline import local_timm_weights
from aigc_explain.core.weights import fit_state_dict, load_file, unwrap_state_dict

log = logging.getLogger(__name__)

PRESETS: dict[str, tuple[str, str]] = {
    "resnet": ("torchvision", "resnet101"),
    "vit": ("timm", "vit_small_patch16_224"),
    "swin": ("timm", "swin_tiny_patch4_window7_224"),
}


class WeightsUnavailableError(FileNotFoundError):
    """Pretrained weights could not be downloaded or found locally."""


class Detector(nn.Module):
    """A backbone with a one-logit head plus what is needed to use it: input size, mean/std."""
    def __init__(self, backbone: nn.Module, *, arch: str, source: str, image_size: int,
                 mean: tuple[float, ...] = IMAGENET_MEAN, std: tuple[float, ...] = IMAGENET_STD,
                 class_names: tuple[str, ...] = CLASS_NAMES) -> None:
        super().__init__()
        self.backbone = backbone
        self.arch, self.source, self.image_size = arch, source, int(image_size)
        self.mean, self.std, self.class_names = tuple(mean), tuple(std), tuple(class_names)
        self.head: dict[str, Any] | None = None  # how a foreign head was read (a two-logit head), else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)

    def config(self) -> dict[str, Any]:
        config = {"arch": self.arch, "source": self.source, "image_size": self.image_size,
                  "mean": list(self.mean), "std": list(self.std), "class_names": list(self.class_names)}
        return {**config, "head": self.head} if self.head else config


def resolve_arch(arch: str) -> tuple[str, str]:
    """Preset or model name -> (source, model name); unknown names get close suggestions."""
    import torchvision

    if arch in PRESETS:
        return PRESETS[arch]
    tv_names = torchvision.models.list_models(module=torchvision.models)
    if arch in tv_names:
        return "torchvision", arch
    import timm  # only here: a torchvision run does not pay timm's import
    if timm.is_model(arch):
        return "timm", arch
    from aigc_explain.core import zoo
    close = difflib.get_close_matches(arch, list(PRESETS) + zoo.names() + tv_names + timm.list_models(), n=5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ValueError(f"unknown architecture {arch!r}: use a preset ({', '.join(PRESETS)}), a published detector "
                     f"({', '.join(zoo.names())}), a torchvision classification model or a timm model name{hint}")


def last_linear(model: nn.Module) -> str:
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not names:
        raise ValueError(f"{type(model).__name__} has no Linear classifier head to replace")
    return names[-1]


def _replace_head(model: nn.Module) -> None:
    name = last_linear(model)
    old = model.get_submodule(name)
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, nn.Linear(old.in_features, 1))


def _load_backbone_file(model: nn.Module, path: str | Path) -> None:
    """``--weights PATH``: a backbone state dict; a classifier of another shape is dropped (the head is new)."""
    state = unwrap_state_dict(load_file(path, what="weights file", flag="--weights"), path, what="weights file")
    fit_state_dict(model, state, source=f"--weights {path}", name=type(model).__name__, new_head=last_linear(model),
                   hint="pass weights saved from this architecture")


def _torchvision_weights(name: str, spec: str):
    """Pick a torchvision weight enum: an explicit ``imagenet:TAG``, else one already in the hub
    cache (so offline machines with a seeded cache work), else DEFAULT (downloaded)."""
    import torchvision

    enum = torchvision.models.get_model_weights(name)
    if ":" in spec:
        tag = spec.split(":", 1)[1]
        if tag not in enum.__members__:
            raise ValueError(f"--weights {spec}: {name} has weight sets {', '.join(enum.__members__)}")
        return enum[tag]
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    for w in [enum.DEFAULT] + list(enum):
        if (cache / Path(w.url).name).is_file():
            return w
    return enum.DEFAULT


def _torchvision_backbone(name: str, weights: str) -> nn.Module:
    import torchvision

    if not weights.startswith("imagenet"):
        model = torchvision.models.get_model(name, weights=None)
        if weights != "none":
            _load_backbone_file(model, weights)
        return model
    chosen = _torchvision_weights(name, weights)
    try:
        model = torchvision.models.get_model(name, weights=chosen)
    except (OSError, RuntimeError) as exc:  # URLError is an OSError
        target = Path(torch.hub.get_dir()) / "checkpoints" / Path(chosen.url).name
        raise WeightsUnavailableError(
            f"could not get ImageNet weights for {name} ({type(exc).__name__}); offline, put "
            f"{Path(chosen.url).name} at {target} or pass --weights PATH") from None
    log.info("loaded torchvision weights %s", chosen)
    return model


def _timm_backbone(name: str, weights: str, image_size: int) -> nn.Module:
    import timm

    kwargs: dict[str, Any] = {"num_classes": 1}
    if weights.startswith("imagenet:"):
        raise ValueError(f"--weights {weights} names a torchvision weight set; the timm model {name} takes "
                         f"--weights imagenet (timm's default pretrained weights), none or a file")
    if weights not in ("none", "imagenet"):  # a local file: loaded strictly by us (timm only logs misfits)
        model = _timm_backbone(name, "none", image_size)
        _load_backbone_file(model, weights)
        return model
    local = local_timm_weights(name)
    if weights == "imagenet" and local.is_file():  # converted offline weights (make weights)
        model = _timm_backbone(name, "none", image_size)
        _load_backbone_file(model, local)
        log.info("loaded ImageNet weights for %s from %s", name, local)
        return model
    pretrained = weights != "none"
    try:
        try:  # transformers need the input size at construction; CNNs do not accept it
            return timm.create_model(name, pretrained=pretrained, img_size=image_size, **kwargs)
        except TypeError:
            return timm.create_model(name, pretrained=pretrained, **kwargs)
    except (OSError, RuntimeError, ValueError) as exc:
        if weights != "imagenet":
            raise
        raise WeightsUnavailableError(
            f"could not get ImageNet weights for timm model {name} ({type(exc).__name__}); offline, "
            f"fill the Hugging Face cache (HF_HOME) beforehand, put a state dict at {local} or pass "
            f"--weights PATH") from None


def weights_spec(weights: str) -> str:
    """torchvision's spellings as ours: ``DEFAULT`` -> ``imagenet``, ``IMAGENET1K_V1`` -> ``imagenet:IMAGENET1K_V1``
    (a weight-set name in capitals that is not an existing file)."""
    if weights == "DEFAULT":
        return "imagenet"
    if re.fullmatch(r"[A-Z][A-Z0-9_]*", weights or "") and not Path(weights).exists():
        return f"imagenet:{weights}"
    return weights


def build_detector(arch: str, *, weights: str = "none", image_size: int = 224) -> Detector:
    """Build a one-logit detector. ``weights``: ``none``, ``imagenet[:TAG]`` (or torchvision's ``DEFAULT`` and
    weight-set names such as ``IMAGENET1K_V1``) or a file path."""
    if image_size < 16:
        raise ValueError(f"image_size must be >= 16, got {image_size}")
    weights = weights_spec(weights)
    from aigc_explain.core import zoo  # published detectors that are not plain classifiers (NPR, CLIP probes…)
    if arch in zoo.names():  # weights other than none: the probe's pretrained encoder
        backbone, layout = zoo.build(arch, pretrained=weights != "none")
        return Detector(backbone, arch=arch, source="zoo", image_size=image_size, mean=layout.mean, std=layout.std)
    source, name = resolve_arch(arch)
    if source == "torchvision":
        backbone = _torchvision_backbone(name, weights)
        _replace_head(backbone)
    else:
        backbone = _timm_backbone(name, weights, image_size)
    return Detector(backbone, arch=name, source=source, image_size=image_size)
