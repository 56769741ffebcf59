"""``python -m aigc_explain.faithfulness --ckpt CKPT --images DIR`` — deletion/insertion AUC and ROAD of a
CAM method, next to the same numbers for trivial maps (random, centre Gaussian, corner-only, Sobel edges),
so you see whether the CAM beats a map that knows nothing about the detector. Writes faithfulness.json,
faithfulness.csv (one row per map kind x baseline image; the ROAD columns repeat across baselines, since
ROAD fills removed pixels by its own interpolation), deletion_insertion.png and manifest.json."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from ._cli import add_explain_arguments, default_out, run, setup_logging

CSV_COLUMNS = ("map", "baseline", "n", "deletion_auc", "deletion_ci_low", "deletion_ci_high", "insertion_auc",
               "insertion_ci_low", "insertion_ci_high", "road_morf", "road_lerf", "road_combined")


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
    p = argparse.ArgumentParser(prog="aigc-explain faithfulness", description=__doc__)
    add_explain_arguments(p, "faithfulness")
    p.add_argument("--steps", type=int, default=20, help="points of each curve beyond the first (fractions k/steps)")
    p.add_argument("--baselines", default="blur,mean,zero", help="what deleted pixels become: blur, mean, zero")
    p.add_argument("--max-images", type=int, default=64, help="images used (balanced between classes)")
    p.add_argument("--road-percentiles", type=_int_list, default=(20, 50, 80),
                   help="ROAD removal percentiles (grad-cam uses 10,...,90; each costs a sparse solve per "
                        "image); none: skip")
    p.add_argument("--road-images", type=int, default=16, help="ROAD on this many images, evenly spread (0: skip)")
    p.add_argument("--batch-size", type=int, default=32, help="images per forward pass (perturbed images too)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random map, tie-breaking and ROAD noise")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    setup_logging(args.verbose)
    return run("faithfulness", lambda: _run(args))


def _check(args: argparse.Namespace) -> tuple[str, ...]:
    from .cam_methods import method_names
    from .faithfulness_metrics import BASELINES, fractions

    if args.method.lower() not in method_names():
        raise ValueError(f"--method {args.method!r} is unknown; use one of: {', '.join(method_names())}")
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
    return baselines


def _run(args: argparse.Namespace) -> None:
    from .checkpoint import load_detector
    from .data import describe_preprocessing
    from .faithfulness_metrics import run_faithfulness
    from .figures import save_figure
    from .models import resolve_device
    from .runs import (library_versions, run_folder, sha256_file, write_csv, write_json, write_manifest,
                       write_skipped)

    baselines = _check(args)
    detector = load_detector(args.ckpt, arch=args.arch).to(resolve_device(args.device))
    out_path = args.out or default_out("faithfulness", args.ckpt, args.images)
    with run_folder(out_path, command="faithfulness", overwrite=args.overwrite, inputs=[args.ckpt, args.images]) as run:
        out = run.path
        result = run_faithfulness(detector, args.images, method=args.method.lower(), layer=args.layer, target=args.target,
                                  steps=args.steps, baselines=baselines, max_images=args.max_images,
                                  batch_size=args.batch_size, seed=args.seed, road_percentiles=args.road_percentiles,
                                  road_images=args.road_images if args.road_percentiles else 0)
        sha = sha256_file(args.ckpt)
        prep = describe_preprocessing(detector.image_size, detector.mean, detector.std)
        summary = {**result.to_dict(), "checkpoint_sha256": sha, "preprocessing": prep, "versions": library_versions()}
        write_json(out / "faithfulness.json", summary)
        write_csv(out / "faithfulness.csv", CSV_COLUMNS,
                  [[_cell(row.get(c)) for c in CSV_COLUMNS] for row in summary["rows"]])
        save_figure(curves_figure(summary), out / "deletion_insertion.png")
        write_skipped(out, result.skipped)
        write_manifest(out, command="faithfulness", arguments=vars(args), checkpoint_sha256=sha,
                       detector=detector.config(), preprocessing=prep)
    print(json.dumps({"out": str(out), "layer": result.layer, "beats_all": summary["beats_all"],
                      "verdict": summary["verdict"]}))


def _cell(value: Any) -> Any:
    return "" if value is None else value


def curves_figure(summary: dict[str, Any]):
    """Mean deletion (top) and insertion (bottom) curves, one panel per baseline image, one line per map
    kind with its mean AUC in the legend. Drawn from faithfulness.json alone."""
    from .figures import pyplot

    plt = pyplot()
    baselines, kinds, fr = summary["baselines"], summary["map_kinds"], np.array(summary["fractions"])
    aucs = {(r["map"], r["baseline"]): r for r in summary["rows"]}
    fig, axes = plt.subplots(2, len(baselines), figsize=(4.2 * len(baselines), 7.0), squeeze=False,
                             layout="constrained")
    for col, b in enumerate(baselines):
        for row, curve in enumerate(("deletion", "insertion")):
            ax = axes[row, col]
            for k, kind in enumerate(kinds):
                area = aucs[(kind, b)][f"{curve}_auc"]
                ax.plot(fr, summary["mean_curves"][f"{kind}|{b}|{curve}"], linewidth=2.2 if k == 0 else 1.1,
                        label=f"{kind} (AUC {area:.3f})")
            ax.set_title(f"{curve}, baseline {b}", fontsize=9)
            ax.set_xlabel(f"fraction of pixels {'removed' if curve == 'deletion' else 'revealed'}")
            if col == 0:
                ax.set_ylabel("probability of the explained class")
            ax.set_ylim(-0.02, 1.02)
            ax.legend(fontsize=7)
    fig.suptitle(f"{summary['method']} vs trivial maps, {summary['n_images']} images (layer {summary['layer']})",
                 fontsize=10)
    return fig


if __name__ == "__main__":
    raise SystemExit(main())
