"""``python -m aigc_explain.cam --ckpt CKPT --images DIR`` — explain a folder with Grad-CAM (or a
relative), aggregate per class and measure corner-vs-centre attention with intervals."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from aigc_explain._cli import add_explain_arguments, add_json_flag, default_out, emit, make_parser, run, setup_logging


def _shard(text: str) -> tuple[int, int]:
    try:
        k, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard {text!r} must look like K/N, e.g. 1/4") from None
    return k, n


def _build_parser() -> argparse.ArgumentParser:
    p = make_parser("cam", __doc__)
    add_explain_arguments(p, "cam", images_required=False)
    p.add_argument("--list-layers", action="store_true",
                   help="print the candidate layers with their map size at the detector's input size (top-level "
                        "blocks first), mark the --layer auto choice, and exit")
    p.add_argument("-b", "--batch-size", type=int, default=32, help="images per batch (default 32)")
    p.add_argument("--limit", type=int, help="explain at most N images (balanced between classes)")
    p.add_argument("--shard", type=_shard, help="K/N: explain every N-th image starting at the K-th")
    p.add_argument("--overlays", type=int, default=4, help="overlay images per class and kind (0: none)")
    p.add_argument("--corner-frac", type=float, default=0.25)
    p.add_argument("--center-frac", type=float, default=0.5)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--reencode", metavar="jpeg:Q|png", help="re-encode every image identically in memory first")
    p.add_argument("--amp", choices=("off", "bf16", "auto"), default="off",
                   help="off (default): exact fp32, grad-cam's maps; bf16: autocast for the one-pass methods, faster "
                        "(fidelity in benchmarks/amp_fidelity.py); auto: bf16 where the hardware computes it natively")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--html", action="store_true", help="also write RUN/html/index.html: every image sortable and "
                   "filterable beside its map, opened from the file system (not with torchrun)")
    add_json_flag(p)
    return p


def _build_merge_parser() -> argparse.ArgumentParser:
    p = make_parser("cam merge", "combine the run folders of --shard K/N runs into one run")
    p.add_argument("runs", nargs="+", help="shard run folders")
    p.add_argument("--out", required=True, help="run folder of the merged run")
    p.add_argument("--overlays", type=int, default=4, help="overlay images per class and kind (0: none)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    add_json_flag(p)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["merge"]:
        margs = _build_merge_parser().parse_args(argv[1:])
        setup_logging()
        return run("cam merge", lambda: _merge(margs))
    args = _build_parser().parse_args(argv)
    setup_logging(args.verbose)
    return run("cam", lambda: _run(args))


def _merge(args: argparse.Namespace) -> None:
    from aigc_explain.explain.shards import merge_runs

    out = merge_runs(args.runs, out=args.out, overwrite=args.overwrite, overlays=args.overlays)
    emit(args.json, {"out": str(out), "shards": len(args.runs)}, [f"merged {len(args.runs)} shard runs; run folder: {out}"])


def _run(args: argparse.Namespace) -> None:
    from aigc_explain.core.checkpoint import load_detector
    from aigc_explain.explain.folder import CamSettings
    from aigc_explain.explain.layers import format_layer_table, layer_table
    from aigc_explain.explain.save import write_cam_run
    from aigc_explain.explain.shards import explain_distributed

    settings = CamSettings(method=args.method, target=args.target, layer=args.layer,
                           batch_size=args.batch_size, corner_frac=args.corner_frac, center_frac=args.center_frac,
                           limit=args.limit, shard=args.shard, reencode=args.reencode, amp=args.amp)
    if args.overlays < 0:
        raise ValueError(f"--overlays must be >= 0, got {args.overlays}")
    detector = load_detector(args.ckpt, arch=args.arch, fake_index=args.fake_index)
    if args.list_layers:
        print(format_layer_table(layer_table(detector.backbone, detector.image_size), detector.image_size))
        return
    if not args.images:
        raise ValueError("--images is required (a folder of images to explain)")
    if not Path(args.images).exists():
        raise FileNotFoundError(f"--images {args.images} does not exist (a folder of images, an image, or an image "
                                f"list such as a training run's val_files.csv)")
    out = args.out or default_out("cam", args.ckpt, args.images)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and args.shard is None:
        explain_distributed(detector, ckpt=args.ckpt, images=args.images, out=out, settings=settings, overwrite=args.overwrite,
                            device=args.device, workers=args.workers, overlays=args.overlays)
        return
    summary, result = write_cam_run(detector, ckpt=args.ckpt, images=args.images, out=out, settings=settings,
                                    arguments=vars(args),
                                    overwrite=args.overwrite, device=args.device, workers=args.workers,
                                    overlays=args.overlays, progress=not args.no_progress)
    brief = {g: {"n": v.n, "n_empty": v.n_empty, "corner_share": v.corner_share.to_json()}
             for g, v in summary.groups.items()}
    h, w = result.map_size
    lines = [f"{args.method} at {result.layer_name} ({h}x{w} map) over {summary.n_images} images"
             + (f", {summary.n_skipped} skipped (skipped.csv)" if summary.n_skipped else "")
             + ("" if summary.accuracy is None else f"; accuracy {summary.accuracy:.3f}")]
    lines += [f"  {g:<5} n={v.n:<6} blank maps {v.n_empty:<5} corner share {v.corner_share.format()}"
              for g, v in summary.groups.items() if g in ("real", "fake", "all")]
    lines.append(f"run folder: {out}")
    if args.html:
        from aigc_explain.reporting.browser import write_run_page
        page = write_run_page(out, quiet=True)  # its notes repeat what this run has said
        noted = f"; {len(page.notes)} note(s) on it" if page.notes else ""
        lines.append(f"page: {page.index} (open it in a browser{noted})")
    emit(args.json, {"out": str(out), "layer": result.layer_name, "map_size": list(result.map_size),
                     "accuracy": summary.accuracy, "groups": brief}, lines)


if __name__ == "__main__":
    raise SystemExit(main())
