"""``python -m aigc_explain.audit --data DIR --out OUT`` — the data-side evidence to set beside the model's:
do the file cues alone (format, size, JPEG quality, metadata…) give the label away, where in the image do the
classes differ (high-pass residual energy, fake − real, with a t-map and the corner share of the difference),
and do the fakes carry a periodic fingerprint? No detector is involved.

DIR is a folder holding 0_real/ and 1_fake/ (or real/fake), or a split root: then all splits are audited
together, and also per split. Writes audit.json, audit.md, cues.csv, pixel_evidence.npz, cues.png,
pixel_evidence.png, fingerprint.png, skipped.csv and manifest.json."""

from __future__ import annotations

import argparse
import json

from aigc_explain._cli import run, setup_logging


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="aigc-explain audit", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="folder with 0_real/ and 1_fake/, or a root with splits")
    p.add_argument("--out", required=True, help="run folder for the audit")
    p.add_argument("--size", type=int, default=224, help="pixel evidence at SIZE×SIZE, resized like the detector's "
                                                          "evaluation (default 224)")
    p.add_argument("--limit", type=int, help="audit at most N images per split (balanced between the classes)")
    p.add_argument("--reencode", metavar="jpeg:Q|png", help="re-encode every image identically in memory first; "
                                                            "audit again to see whether a storage cue goes away")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds of the cue classifier")
    p.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples of the cue AUC interval")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true", help="replace an existing audit folder")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    setup_logging(args.verbose)
    return run("audit", lambda: _run(args))


def _run(args: argparse.Namespace) -> None:
    from aigc_explain.evidence.gather import AuditSettings
    from aigc_explain.evidence.write import write_audit_run

    settings = AuditSettings(size=args.size, limit=args.limit, reencode=args.reencode, folds=args.folds,
                             n_boot=args.n_boot, seed=args.seed)
    summary = write_audit_run(args.data, args.out, settings, arguments=vars(args), overwrite=args.overwrite,
                              progress=not args.no_progress)
    print(json.dumps({"out": str(args.out), "cue_auc": summary["cue_auc"], "cue_auc_ci95": summary["cue_auc_ci95"],
                      "pixel_corner_share": summary["pixel_corner_share"], "verdict": summary["verdict"]}))


if __name__ == "__main__":
    raise SystemExit(main())
