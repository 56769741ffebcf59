"""``python -m aigc_explain.evaluate`` — accuracy, real/fake accuracy, AP and AUC with bootstrap intervals."""

from __future__ import annotations

import argparse
import json

from ._cli import run, setup_logging


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="aigc-explain evaluate", description=__doc__)
    p.add_argument("--ckpt", required=True, help="detector checkpoint (ours, the report's, CNNDetection's)")
    p.add_argument("--data", required=True, help="a folder with 0_real/ and 1_fake/, or a root with splits")
    p.add_argument("--split", default="val", help="split used when --data is a root (default val)")
    p.add_argument("--out", required=True, help="folder for metrics.json and predictions.csv")
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

    def body() -> None:
        from .checkpoint import load_detector
        from .evaluation import evaluate_folder
        from .models import resolve_device
        from .runs import prepare_run_dir, sha256_file, write_csv, write_json, write_manifest, write_skipped

        device = resolve_device(args.device)
        detector = load_detector(args.ckpt, arch=args.arch)
        out = prepare_run_dir(args.out, overwrite=args.overwrite)
        metrics, preds = evaluate_folder(detector, args.data, split=args.split, batch_size=args.batch_size,
                                         device=device, workers=args.workers, threshold=args.threshold)
        write_json(out / "metrics.json", metrics)
        write_csv(out / "predictions.csv", ("path", "label", "prob_fake", "pred"), preds.rows(args.threshold))
        write_skipped(out, preds.skipped)
        write_manifest(out, command="evaluate", arguments=vars(args), checkpoint_sha256=sha256_file(args.ckpt),
                       detector=detector.config())
        print(json.dumps({k: metrics[k] for k in ("accuracy", "real_acc", "fake_acc", "average_precision",
                                                   "roc_auc", "n_real", "n_fake")}))

    return run("evaluate", body)


if __name__ == "__main__":
    raise SystemExit(main())
