"""``python -m aigc_explain.evaluate`` — accuracy, real/fake accuracy, AP and AUC with bootstrap intervals.

One --ckpt and one --data: metrics.json and predictions.csv. Add --perturb (e.g. jpeg=95,75,50 blur=1,2
resize=0.5) for a robustness sweep (robustness.csv/.md/.json/.png; --cam adds how far the CAMs move).
Several --ckpt and/or --data: a cross-domain table (cross_domain.csv/.md/.json/.png, rows = checkpoints,
columns = data) with each cell's metrics in <row>__<column>/.
"""

from __future__ import annotations

import argparse

from aigc_explain._cli import add_detector_arguments, add_json_flag, emit, make_parser, run, setup_logging

_SUMMARY_KEYS = ("accuracy", "real_acc", "fake_acc", "average_precision", "roc_auc", "n_real", "n_fake")


def _build_parser() -> argparse.ArgumentParser:
    p = make_parser("evaluate", __doc__)
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
    add_detector_arguments(p)
    p.add_argument("-b", "--batch-size", type=int, default=64, help="images per batch (default 64)")
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--threshold", type=float, default=0.5)
    p.add_argument("--reencode", metavar="jpeg:Q|png", help="re-encode every image identically in memory first")
    p.add_argument("--amp", choices=("off", "bf16", "auto"), default="off",
                   help="off (default): exact fp32, the checkpoint's own probabilities; bf16: autocast, faster "
                        "(fidelity in benchmarks/amp_fidelity.py); auto: bf16 where the hardware computes it natively")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("-v", "--verbose", action="store_true")
    add_json_flag(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    setup_logging(args.verbose)
    return run("evaluate", lambda: _run(args))


def _check(args: argparse.Namespace) -> list:
    """Flag combinations and --perturb specs, checked before anything is loaded; returns the perturbations."""
    from aigc_explain.core.perturb import parse_perturbations

    several = len(args.ckpt) > 1 or len(args.data) > 1
    if several and args.perturb:
        raise ValueError("--perturb takes one --ckpt and one --data; run the sweep once per pair")
    if args.cam and not args.perturb:
        raise ValueError("--cam compares clean and perturbed CAMs, so it needs --perturb "
                         "(for CAMs alone use python -m aigc_explain.cam)")
    if not several and (args.names or args.data_names):
        raise ValueError("--names/--data-names label a cross-domain table; give several --ckpt or --data")
    if args.cam:
        from aigc_explain.explain.methods import check_method

        check_method(args.cam_method, flag="--cam-method ")
    return parse_perturbations(args.perturb) if args.perturb else []


def _run(args: argparse.Namespace) -> None:
    from aigc_explain.checks.robustness import cross_domain_matrix, write_cross_domain_run, write_robustness_run
    from aigc_explain.core.checkpoint import load_detector
    from aigc_explain.core.evaluation import write_evaluation_run
    from aigc_explain.core.inference import resolve_device
    from aigc_explain.explain.folder import CamSettings

    perturbations = _check(args)
    options = dict(split=args.split, batch_size=args.batch_size, device=resolve_device(args.device),
                   workers=args.workers, threshold=args.threshold, reencode=args.reencode, amp=args.amp)
    if len(args.ckpt) > 1 or len(args.data) > 1:
        result = write_cross_domain_run(ckpts=args.ckpt, datas=args.data, out=args.out, arguments=vars(args), overwrite=args.overwrite,
                                        ckpt_names=args.names, data_names=args.data_names, arch=args.arch,
                                        fake_index=args.fake_index, **options)
        matrix = cross_domain_matrix(result, "accuracy")
        width = max(len(name) for name in result.checkpoints)
        lines = [f"accuracy, rows = checkpoints, columns = data: {', '.join(result.data)}"]
        lines += [f"  {name:<{width}}  " + "  ".join("  n/a" if v is None else f"{v:.3f}" for v in row)
                  for name, row in zip(result.checkpoints, matrix)]
        lines.append(f"run folder: {args.out} (cross_domain.md)")
        emit(args.json, {"out": str(args.out), "rows": result.checkpoints, "columns": result.data,
                         "accuracy": matrix}, lines)
        return
    ckpt, data = args.ckpt[0], args.data[0]
    detector = load_detector(ckpt, arch=args.arch, fake_index=args.fake_index)
    arguments = {**vars(args), "ckpt": ckpt, "data": data}
    if perturbations:
        cam = CamSettings(method=args.cam_method, layer=args.cam_layer) if args.cam else None
        metrics = write_robustness_run(detector, ckpt=ckpt, data=data, out=args.out, perturbations=perturbations, cam=cam,
                                       arguments=arguments,
                                       overwrite=args.overwrite, **options)
    else:
        metrics = write_evaluation_run(detector, ckpt=ckpt, data=data, out=args.out, arguments=arguments, overwrite=args.overwrite,
                                       **options)
    values = metrics.to_json()
    emit(args.json, {"out": str(args.out), **{k: values[k] for k in _SUMMARY_KEYS}},
         _metric_lines(metrics) + [f"run folder: {args.out} ({'robustness.md' if perturbations else 'metrics.json'})"])


def _metric_lines(m) -> list[str]:
    """Accuracy (overall and per class), AP and ROC AUC with their 95% intervals, at 3 decimals."""
    def fmt(name: str) -> str:
        value, (lo, hi) = getattr(m, name), getattr(m.ci95, name)
        return "n/a" if value is None else f"{value:.3f}" + ("" if lo is None else f" [{lo:.3f}, {hi:.3f}]")

    return [f"{m.n_real} real and {m.n_fake} fake images: accuracy {fmt('accuracy')}",
            f"  real {fmt('real_acc')}, fake {fmt('fake_acc')}",
            f"  AP {fmt('average_precision')}, ROC AUC {fmt('roc_auc')}"]


if __name__ == "__main__":
    raise SystemExit(main())
