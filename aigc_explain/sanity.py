"""``python -m aigc_explain.sanity --ckpt CKPT --images DIR`` — the model-parameter randomisation test
(Adebayo et al. 2018): re-initialise the detector block by block from the top and check that the CAMs
lose their similarity to the trained detector's. Writes sanity.json (numbers and a verdict in plain
words), sanity_curve.png, sanity_examples.png and manifest.json."""

from __future__ import annotations

import argparse
from pathlib import Path

from aigc_explain._cli import (add_explain_arguments, add_json_flag, default_out, emit, make_parser, run, setup_logging,
                               wrapped)


def _build_parser() -> argparse.ArgumentParser:
    p = make_parser("sanity", __doc__)
    add_explain_arguments(p, "sanity")
    p.add_argument("--max-images", type=int, default=32, help="images used (balanced between classes)")
    p.add_argument("--mode", default="both", choices=("cascading", "independent", "both"),
                   help="cascading: randomise the top k blocks; independent: only block k")
    p.add_argument("--examples", type=int, default=4, help="images shown in sanity_examples.png")
    p.add_argument("--seed", type=int, default=0, help="seed of the re-initialisation")
    p.add_argument("-b", "--batch-size", type=int, default=32, help="images per batch")
    add_json_flag(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    setup_logging(args.verbose)
    return run("sanity", lambda: _run(args))


def _run(args: argparse.Namespace) -> None:
    from aigc_explain.checks.jobs import write_sanity_run
    from aigc_explain.core.checkpoint import load_detector
    from aigc_explain.core.inference import resolve_device
    from aigc_explain.explain.folder import CamSettings

    cam = CamSettings(method=args.method, layer=args.layer, target=args.target, batch_size=args.batch_size)
    if not Path(args.images).is_dir():
        raise FileNotFoundError(f"--images {args.images} is not a folder; pass a folder of images "
                                f"(flat, with 0_real/1_fake, or a split root)")
    if args.max_images < 1 or args.examples < 0:
        raise ValueError("--max-images must be >= 1 and --examples >= 0")
    detector = load_detector(args.ckpt, arch=args.arch, fake_index=args.fake_index).to(resolve_device(args.device))
    out = args.out or default_out("sanity", args.ckpt, args.images)
    summary = write_sanity_run(detector, ckpt=args.ckpt, images=args.images, out=out, arguments=vars(args), cam=cam,
                               overwrite=args.overwrite, mode=args.mode, n_examples=args.examples,
                               max_images=args.max_images, seed=args.seed)
    lines = [f"sanity of {summary.method} at {summary.layer} over {summary.n_images} images:"]
    lines += wrapped(summary.verdict) + [f"run folder: {out} (sanity.json, sanity_curve.png)"]
    emit(args.json, {"out": str(out), "layer": summary.layer, "n_images": summary.n_images, "passed": summary.passed,
                     "verdict": summary.verdict}, lines)


if __name__ == "__main__":
    raise SystemExit(main())
