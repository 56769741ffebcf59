"""``python -m aigc_explain.diagnose --ckpt CKPT --images DIR --out OUT`` — what does the detector rely on, beside
where it looks? Re-runs it with one frequency band removed (or kept alone), with the fakes' periodic spectral
peaks removed, with the image's patches shuffled, and on re-encoded copies; per class the change of p(fake)
with a bootstrap 95% interval, the accuracy and the share of decisions that flip, then a verdict in plain
sentences. Writes diagnose.json, diagnose.md, diagnose_predictions.csv, bands.png, shuffle.png, patch_map.png
(per-patch scores beside the Grad-CAM), skipped.csv, manifest.json. Cost: one inference per variant."""

from __future__ import annotations

import argparse
from pathlib import Path

from aigc_explain._cli import (add_detector_arguments, add_json_flag, default_out, default_out_help, emit, make_parser,
                               run, setup_logging, wrapped)


def _build_parser() -> argparse.ArgumentParser:
    p = make_parser("diagnose", __doc__)
    p.add_argument("--ckpt", required=True, help="detector checkpoint (ours, the report's, CNNDetection's)")
    p.add_argument("--images", required=True, help="folder with 0_real/ and 1_fake/, or a split root")
    p.add_argument("--out", help=default_out_help("diagnose"))
    add_detector_arguments(p)
    p.add_argument("--bands", default="0,1/16,1/8,1/4,1/2",
                   help="band edges in cycles/pixel (default 0,1/16,1/8,1/4,1/2: four bands, each removed and kept)")
    p.add_argument("--patch", default="16,32",
                   help="patch sizes to shuffle, px at the detector's input (default 16,32)")
    p.add_argument("--reencode", help="comma-separated re-encodings to compare, e.g. jpeg:95,png")
    p.add_argument("--no-peaks", action="store_true", help="skip finding and removing the fakes' spectral peaks")
    p.add_argument("--map-images", type=int, default=4, help="images per class for the patch map (0: none)")
    p.add_argument("--limit", type=int, help="at most N images (balanced between classes)")
    p.add_argument("-b", "--batch-size", type=int, default=64, help="images per batch")
    p.add_argument("--threshold", type=float, default=0.5)
    p.add_argument("--seed", type=int, default=0, help="seed of the patch shuffles and the bootstrap")
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    p.add_argument("--amp", choices=("off", "bf16", "auto"), default="off",
                   help="off (default): exact fp32; bf16: autocast, faster; auto: bf16 where the hardware has it")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("-v", "--verbose", action="store_true")
    add_json_flag(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    setup_logging(args.verbose)
    return run("diagnose", lambda: _run(args))


def _run(args: argparse.Namespace) -> None:
    from aigc_explain.checks.diagnose_run import DiagnoseSettings, write_diagnose_run
    from aigc_explain.checks.reliance import parse_patches
    from aigc_explain.core.checkpoint import load_detector
    from aigc_explain.core.inference import resolve_device

    reencode = tuple(v.strip() for v in args.reencode.split(",")) if args.reencode else ()
    settings = DiagnoseSettings(bands=args.bands, patches=args.patch, reencode=reencode, peaks=not args.no_peaks,
                                limit=args.limit, batch_size=args.batch_size, threshold=args.threshold,
                                seed=args.seed, map_images=args.map_images, amp=args.amp)
    if not Path(args.images).exists():
        raise FileNotFoundError(f"--images {args.images} does not exist; pass a folder with 0_real/ and 1_fake/ (or "
                                f"an image list such as a training run's val_files.csv)")
    device = resolve_device(args.device)
    detector = load_detector(args.ckpt, arch=args.arch, fake_index=args.fake_index)
    parse_patches(args.patch, detector.image_size)  # before any folder is made
    out = args.out or default_out("diagnose", args.ckpt, args.images)
    summary = write_diagnose_run(detector, ckpt=args.ckpt, images=args.images, out=out, settings=settings,
                                 arguments=vars(args),
                                 overwrite=args.overwrite, device=device, workers=args.workers,
                                 progress=not args.no_progress)
    accuracy = summary.clean.accuracy
    lines = [f"diagnosed {summary.n_images} images" + ("" if accuracy is None else f" (clean accuracy {accuracy:.3f})")]
    lines += [line for v in summary.verdict for line in wrapped(v)]
    lines.append(f"run folder: {out} (diagnose.md)")
    emit(args.json, {"out": str(out), "n_images": summary.n_images, "accuracy": accuracy, "verdict": summary.verdict},
         lines)


if __name__ == "__main__":
    raise SystemExit(main())
