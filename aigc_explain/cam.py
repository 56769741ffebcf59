"""``python -m aigc_explain.cam --ckpt CKPT --images DIR`` — explain a folder with Grad-CAM (or a
relative), aggregate per class and measure corner-vs-centre attention with intervals."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ._cli import run, setup_logging


def _shard(text: str) -> tuple[int, int]:
    try:
        k, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard {text!r} must look like K/N, e.g. 1/4") from None
    return k, n


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="aigc-explain cam", description=__doc__)
    p.add_argument("--ckpt", required=True, help="detector checkpoint (ours, the report's, CNNDetection's)")
    p.add_argument("--images", help="flat folder, folder with 0_real/1_fake, or a split root")
    p.add_argument("--out", help="run folder (default reports/cam/<ckpt-stem>-<images-name>)")
    p.add_argument("--arch", help="architecture, when the checkpoint does not say and keys do not tell")
    p.add_argument("--method", default="gradcam", help="gradcam (default), gradcam++, hirescam, xgradcam, layercam, "
                                                      "eigencam, eigengradcam, scorecam, ablationcam, fullgrad, …")
    p.add_argument("--target", default="fake", choices=("fake", "real", "predicted"),
                   help="explain the logit (fake), its negation (real) or each image's predicted class")
    p.add_argument("--layer", default="auto", help="auto or a dotted module name of the backbone (see --list-layers)")
    p.add_argument("--list-layers", action="store_true", help="print candidate layers with their map size and exit")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--limit", type=int, help="explain at most N images (balanced between classes)")
    p.add_argument("--shard", type=_shard, help="K/N: explain every N-th image starting at the K-th")
    p.add_argument("--overlays", type=int, default=4, help="overlay images per class and kind (0: none)")
    p.add_argument("--corner-frac", type=float, default=0.25)
    p.add_argument("--center-frac", type=float, default=0.5)
    p.add_argument("--device", default="auto")
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def default_out(ckpt: str, images: str) -> Path:
    return Path("reports") / "cam" / f"{Path(ckpt).stem}-{Path(images).resolve().name}"


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    setup_logging(args.verbose)
    return run("cam", lambda: _run(args))


def _run(args: argparse.Namespace) -> None:
    from .cam_methods import list_layers, method_names
    from .cam_outputs import save_result
    from .checkpoint import load_detector
    from .data import describe_preprocessing
    from .explain import CamSettings, explain_folder
    from .models import resolve_device
    from .runs import library_versions, prepare_run_dir, sha256_file, write_manifest

    if args.method.lower() not in method_names():
        raise ValueError(f"--method {args.method!r} is unknown; use one of: {', '.join(method_names())}")
    detector = load_detector(args.ckpt, arch=args.arch)
    if args.list_layers:
        for name, (h, w) in list_layers(detector.backbone, detector.image_size):
            print(f"{name}\t{h}x{w}")
        return
    if not args.images:
        raise ValueError("--images is required (a folder of images to explain)")
    settings = CamSettings(method=args.method.lower(), target=args.target, layer=args.layer,
                           batch_size=args.batch_size, corner_frac=args.corner_frac, center_frac=args.center_frac,
                           limit=args.limit, shard=args.shard)
    if not Path(args.images).is_dir():
        raise FileNotFoundError(f"--images {args.images} is not a folder")
    out = prepare_run_dir(args.out or default_out(args.ckpt, args.images), overwrite=args.overwrite)
    result = explain_folder(detector, args.images, settings, device=resolve_device(args.device),
                            workers=args.workers, progress=not args.no_progress)
    sha = sha256_file(args.ckpt)
    prep = describe_preprocessing(detector.image_size, detector.mean, detector.std)
    summary = save_result(result, out, overlays=args.overlays,
                          extra_summary={"preprocessing": prep, "checkpoint_sha256": sha, "versions": library_versions()})
    write_manifest(out, command="cam", arguments=vars(args), checkpoint_sha256=sha, detector=detector.config(),
                   preprocessing=prep)
    brief = {g: {"n": v["n"], "n_empty": v["n_empty"], "corner_share": v["corner_share"]}
             for g, v in summary["groups"].items()}
    print(json.dumps({"out": str(out), "layer": result.layer_name, "map_size": list(result.map_size),
                      "accuracy": summary["accuracy"], "groups": brief}))


if __name__ == "__main__":
    raise SystemExit(main())
