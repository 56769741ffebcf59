"""``python -m aigc_explain.evaluate`` — accuracy, real/fake accuracy, AP and AUC with bootstrap intervals.

One --ckpt and one --data: metrics.json and predictions.csv. Add --perturb (e.g. jpeg=95,75,50 blur=1,2
resize=0.5) for a robustness sweep (robustness.csv/.md/.json/.png; --cam adds how far the CAMs move).
Several --ckpt and/or --data: a cross-domain table (cross_domain.csv/.md/.json/.png, rows = checkpoints,
columns = data) with each cell's metrics in <row>__<column>/.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ._cli import run, setup_logging

_SUMMARY_KEYS = ("accuracy", "real_acc", "fake_acc", "average_precision", "roc_auc", "n_real", "n_fake")


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="aigc-explain evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ckpt", required=True, nargs="+", help="detector checkpoint(s) (ours, the report's, CNNDetection's)")
    p.add_argument("--data", required=True, nargs="+",
                   help="folder(s) with 0_real/ and 1_fake/, or roots with splits")
    p.add_argument("--split", default="val", help="split used when --data is a root (default val)")
    p.add_argument("--out", required=True, help="folder for the results")
    p.add_argument("--names", nargs="+", help="row names for the checkpoints of a cross-domain table "
                                              "(default: file stem, or its folder for best_model.pth & co)")
    p.add_argument("--data-names", nargs="+", help="column names for the data folders (default: folder name)")
    p.add_argument("--perturb", nargs="+", metavar="KIND=V[,V...]",
                   help="robustness sweep: jpeg=QUALITY (1-100), blur=SIGMA (>0), resize=FACTOR (0<F<=1; "
                        "downscale, then the detector's own resize to S×S), applied before the eval transform")
    p.add_argument("--cam", action="store_true", help="with --perturb: compare clean and perturbed CAMs")
    p.add_argument("--cam-method", default="gradcam", help="CAM method for --cam (default gradcam)")
    p.add_argument("--cam-layer", default="auto", help="CAM layer for --cam (default auto)")
    p.add_argument("--arch", help="architecture, when the checkpoint does not say and keys do not tell")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--threshold", type=float, default=0.5)
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    setup_logging(args.verbose)
    return run("evaluate", lambda: _run(args))


def _check(args: argparse.Namespace) -> list:
    """Flag combinations and --perturb specs, checked before anything is loaded; returns the perturbations."""
    from .perturb import parse_perturbations

    several = len(args.ckpt) > 1 or len(args.data) > 1
    if several and args.perturb:
        raise ValueError("--perturb takes one --ckpt and one --data; run the sweep once per pair")
    if args.cam and not args.perturb:
        raise ValueError("--cam compares clean and perturbed CAMs, so it needs --perturb "
                         "(for CAMs alone use python -m aigc_explain.cam)")
    if not several and (args.names or args.data_names):
        raise ValueError("--names/--data-names label a cross-domain table; give several --ckpt or --data")
    if args.cam:
        from .cam_methods import method_names

        if args.cam_method.lower() not in method_names():
            raise ValueError(f"--cam-method {args.cam_method!r} is unknown; use one of: {', '.join(method_names())}")
    return parse_perturbations(args.perturb) if args.perturb else []


def _run(args: argparse.Namespace) -> None:
    from .models import resolve_device

    perturbations = _check(args)
    device = resolve_device(args.device)
    if len(args.ckpt) > 1 or len(args.data) > 1:
        _cross_domain(args, device)
    else:
        _single(args, device, perturbations)


def _single(args: argparse.Namespace, device, perturbations: list) -> None:
    from .checkpoint import load_detector
    from .runs import run_folder

    ckpt, data = args.ckpt[0], args.data[0]
    detector = load_detector(ckpt, arch=args.arch)
    with run_folder(args.out, command="evaluate", overwrite=args.overwrite, inputs=[ckpt, data]) as run:
        metrics = _single_into(run.path, args, detector, device, perturbations)
    print(json.dumps({k: metrics[k] for k in _SUMMARY_KEYS}))


def _single_into(out: Path, args: argparse.Namespace, detector, device, perturbations: list) -> dict:
    from .data import describe_preprocessing
    from .evaluation import evaluate_folder, write_evaluation
    from .runs import sha256_file, write_manifest

    ckpt, data = args.ckpt[0], args.data[0]
    options = dict(split=args.split, batch_size=args.batch_size, device=device, workers=args.workers,
                   threshold=args.threshold)
    if perturbations:
        from .explain import CamSettings
        from .perturb import describe
        from .robustness import sweep, write_robustness

        cam = CamSettings(method=args.cam_method.lower(), layer=args.cam_layer) if args.cam else None
        result = sweep(detector, data, perturbations, cam=cam, **options)
        metrics, preds = result.metrics[0], result.predictions[0][1]
        write_robustness(out, result, threshold=args.threshold,
                         meta={"checkpoint": ckpt, "data": data, "split": args.split,
                               "perturbations": [describe(None)] + [describe(p) for p in perturbations]})
    else:
        metrics, preds = evaluate_folder(detector, data, **options)
    write_evaluation(out, metrics, preds, threshold=args.threshold)
    write_manifest(out, command="evaluate", arguments={**vars(args), "ckpt": ckpt, "data": data},
                   checkpoint_sha256=sha256_file(ckpt), detector=detector.config(),
                   preprocessing=describe_preprocessing(detector.image_size, detector.mean, detector.std))
    return metrics


def _cross_domain(args: argparse.Namespace, device) -> None:
    from .evaluation import check_cross_domain
    from .robustness import cross_domain_matrix
    from .runs import run_folder

    check_cross_domain(args.ckpt, args.data, ckpt_names=args.names, data_names=args.data_names, split=args.split)
    with run_folder(args.out, command="evaluate", overwrite=args.overwrite, inputs=[*args.ckpt, *args.data]) as run:
        result = _cross_domain_into(run.path, args, device)
    print(json.dumps({"out": str(Path(args.out)), "rows": result.checkpoints, "columns": result.data,
                      "accuracy": cross_domain_matrix(result, "accuracy")}))


def _cross_domain_into(out: Path, args: argparse.Namespace, device):
    from .evaluation import cross_domain, write_evaluation
    from .robustness import write_cross_domain
    from .runs import sha256_file, write_manifest

    result = cross_domain(args.ckpt, args.data, ckpt_names=args.names, data_names=args.data_names, arch=args.arch,
                          split=args.split, batch_size=args.batch_size, device=device, workers=args.workers,
                          threshold=args.threshold)
    for (i, j), (metrics, preds) in result.cells.items():
        cell = out / f"{result.checkpoints[i]}__{result.data[j]}"
        cell.mkdir()
        write_evaluation(cell, metrics, preds, threshold=args.threshold)
    write_cross_domain(out, result, meta={"split": args.split, "threshold": args.threshold})
    write_manifest(out, command="evaluate", arguments=vars(args),
                   checkpoint_sha256={n: sha256_file(p) for n, p in zip(result.checkpoints, args.ckpt)})
    return result


if __name__ == "__main__":
    raise SystemExit(main())
