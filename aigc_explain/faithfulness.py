"""``python -m aigc_explain.faithfulness --ckpt CKPT --images DIR`` — deletion/insertion AUC and ROAD of a
CAM method, next to the same numbers for trivial maps (random, centre Gaussian, corner-only, Sobel edges),
so you see whether the CAM beats a map that knows nothing about the detector. Writes faithfulness.json,
faithfulness.csv (one row per map kind x baseline image; the ROAD columns repeat across baselines, since
ROAD fills removed pixels by its own interpolation), deletion_insertion.png and manifest.json."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from aigc_explain._cli import (add_explain_arguments, add_json_flag, default_out, emit, make_parser, run, setup_logging,
                               wrapped)

if TYPE_CHECKING:
    from aigc_explain.explain.folder import CamSettings


def _int_list(text: str) -> tuple[int, ...]:
    if text.strip().lower() == "none":
        return ()
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} must be comma-separated percentiles, e.g. 20,50,80, "
                                         f"or none") from None
    if not all(0 < v < 100 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: percentiles must lie strictly between 0 and 100")
    return values


def _build_parser() -> argparse.ArgumentParser:
    p = make_parser("faithfulness", __doc__)
    add_explain_arguments(p, "faithfulness")
    p.add_argument("--steps", type=int, default=20, help="points of each curve beyond the first (fractions k/steps)")
    p.add_argument("--baselines", default="blur,mean,zero", help="what deleted pixels become: blur, mean, zero")
    p.add_argument("--max-images", type=int, default=64, help="images used (balanced between classes)")
    p.add_argument("--road-percentiles", type=_int_list, default=(20, 50, 80),
                   help="ROAD removal percentiles (grad-cam uses 10,...,90; each costs a sparse solve per "
                        "image); none: skip")
    p.add_argument("--road-images", type=int, default=16, help="ROAD on this many images, evenly spread (0: skip)")
    p.add_argument("-b", "--batch-size", type=int, default=32, help="images per forward pass (perturbed images too)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random map, tie-breaking and ROAD noise")
    add_json_flag(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    setup_logging(args.verbose)
    return run("faithfulness", lambda: _run(args))


def _check(args: argparse.Namespace) -> tuple[CamSettings, tuple[str, ...]]:
    """The CAM settings (the method checked there) and the baselines, checked before anything is loaded."""
    from aigc_explain.checks.faithfulness import BASELINES, fractions
    from aigc_explain.explain.folder import CamSettings

    cam = CamSettings(method=args.method, layer=args.layer, target=args.target, batch_size=args.batch_size)
    if not Path(args.images).is_dir():
        raise FileNotFoundError(f"--images {args.images} is not a folder; pass a folder of images "
                                f"(flat, with 0_real/1_fake, or a split root)")
    baselines = tuple(b.strip() for b in args.baselines.split(",") if b.strip())
    unknown = [b for b in baselines if b not in BASELINES]
    if not baselines or unknown:
        raise ValueError(f"--baselines {args.baselines!r}: use a comma-separated subset of {','.join(BASELINES)}")
    fractions(args.steps)
    if args.max_images < 1 or args.road_images < 0 or args.batch_size < 1:
        raise ValueError("--max-images and --batch-size must be >= 1 and --road-images >= 0")
    return cam, baselines


def _run(args: argparse.Namespace) -> None:
    from aigc_explain.checks.jobs import write_faithfulness_run
    from aigc_explain.core.checkpoint import load_detector
    from aigc_explain.core.inference import resolve_device

    cam, baselines = _check(args)
    detector = load_detector(args.ckpt, arch=args.arch, fake_index=args.fake_index).to(resolve_device(args.device))
    out = args.out or default_out("faithfulness", args.ckpt, args.images)
    summary = write_faithfulness_run(
        detector, ckpt=args.ckpt, images=args.images, out=out, arguments=vars(args), cam=cam, overwrite=args.overwrite,
        steps=args.steps, baselines=baselines, max_images=args.max_images, seed=args.seed,
        road_percentiles=args.road_percentiles, road_images=args.road_images if args.road_percentiles else 0)
    lines = [f"faithfulness of {summary.method} at {summary.layer} over {summary.n_images} images:"]
    lines += wrapped(summary.verdict) + [f"run folder: {out} (faithfulness.json, deletion_insertion.png)"]
    emit(args.json, {"out": str(out), "layer": summary.layer, "n_images": summary.n_images,
                     "beats_all": summary.beats_all, "verdict": summary.verdict}, lines)


if __name__ == "__main__":
    raise SystemExit(main())
