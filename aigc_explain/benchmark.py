"""``python -m aigc_explain.benchmark planted --region corner|center`` — a known-answer benchmark of the
whole measuring chain (data → training → CAM → regions → statistics).

It builds a dataset whose fakes differ from the reals only by a faint artifact planted in the corners
or in the centre (``planted.py``), trains a small detector on it (the report's plain setting, no
augmentation), explains the validation fakes with every method × layer asked for, and checks the known
answer: with a corner plant the fakes' corner_share must lie above 0.5, with a centre plant below. The
table says which layers and methods of an architecture can see a corner effect at all.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from aigc_explain._cli import HelpFormatter, make_parser, plain_doc, run, setup_logging

def _csv_list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _build_parser() -> argparse.ArgumentParser:
    p = make_parser("benchmark", __doc__)
    sub = p.add_subparsers(dest="benchmark", required=True, metavar="{planted}")
    q = sub.add_parser("planted", help="known answer: an artifact planted in the corners or the centre",
                       description=plain_doc(__doc__), formatter_class=HelpFormatter)
    q.add_argument("--region", choices=("corner", "center"), help="where the fakes' artifact is planted (required)")
    q.add_argument("--model", default="mobilenet_v2", help="preset, torchvision or timm model name")
    q.add_argument("--weights", default="imagenet", help="imagenet, imagenet:TAG, none or a file")
    q.add_argument("--image-size", "--img-size", dest="image_size", type=int, default=160,
                   help="image and input size (the plant must not be resized)")
    q.add_argument("--n-train", type=int, default=400, help="training images per class")
    q.add_argument("--n-val", type=int, default=100, help="validation images per class (the fakes are explained)")
    q.add_argument("--epochs", type=int, default=3)
    q.add_argument("-b", "--batch-size", type=int, default=32, help="images per step")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--strength", type=int, default=8, help="plant amplitude in 8-bit levels (checkerboard +-S)")
    q.add_argument("--lr", type=float, default=1e-3, help="AdamW learning rate (1e-3: the plant is learned in 3 epochs)")
    q.add_argument("--content", default="shapes", choices=("shapes", "photos"),
                   help="image content: random colour fields and shapes, or crops of photos shipped by packages")
    q.add_argument("--methods", type=_csv_list, help="comma list (default gradcam,gradcam++)")
    q.add_argument("--layers", type=_csv_list, help="comma list of auto / module names (default: auto and the "
                                                    "last layers with 2x and 4x its map size)")
    q.add_argument("--list-layers", action="store_true", help="print the model's layers with their map size and exit")
    q.add_argument("--corner-frac", type=float, default=0.25, help="corner squares' side / image side")
    q.add_argument("--center-frac", type=float, default=0.5, help="centre rectangle's side / image side")
    q.add_argument("--device", default="auto")
    q.add_argument("--out", help="run folder (default reports/benchmark/planted-<region>)")
    q.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    q.add_argument("--no-progress", action="store_true")
    q.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.region is None and not args.list_layers:
        parser.error("benchmark planted: --region corner|center is required")
    setup_logging(args.verbose)
    return run("benchmark", lambda: _run_planted(args))


def _run_planted(args: argparse.Namespace) -> None:
    from aigc_explain.checks.known_answer import PlantedConfig, check_request, markdown_table, run_planted, write_report
    from aigc_explain.core.models import build_detector
    from aigc_explain.explain.layers import list_layers
    from aigc_explain.runs.folders import run_folder

    options = {k: v for k, v in vars(args).items()
               if k not in ("benchmark", "list_layers", "overwrite", "no_progress", "verbose")}
    options["out"] = args.out or str(Path("reports") / "benchmark" / f"planted-{args.region}")
    options["region"] = args.region or "corner"  # --list-layers alone needs no region
    options = {k: v for k, v in options.items() if v is not None}  # PlantedConfig's defaults for the rest
    cfg = PlantedConfig(**options)
    if args.list_layers:
        for name, (h, w) in list_layers(build_detector(cfg.model, image_size=cfg.image_size).backbone, cfg.image_size):
            print(f"{name}\t{h}x{w}")
        return
    check_request(cfg)
    with run_folder(cfg.out, command="benchmark planted", overwrite=args.overwrite) as run:
        report = run_planted(cfg, run.path, progress=not args.no_progress)
        write_report(report, out=run.path)
    print(markdown_table(report.rows), end="")
    print(f"expected {report.expected}: {sum(r.passes for r in report.rows)}/{len(report.rows)} rows pass; "
          f"detector val accuracy {report.best_val_acc:.3f}; results in {cfg.out}")


if __name__ == "__main__":
    raise SystemExit(main())
