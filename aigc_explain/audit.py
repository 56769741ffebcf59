"""``python -m aigc_explain.audit --data DIR --out OUT`` — the data-side evidence to set beside the model's:
what gives the label away — the storage (format, size, JPEG quality, metadata…), the processing history (double
JPEG compression, resampling), the content (framing, composition, colour) or the high-frequency residual — each
as the cross-validated AUC of a classifier on that evidence alone (audit.json "budget"); where in the image the
classes differ (a Welch t of block log residual energy, its corner share tested against shuffled labels); and
whether the fakes carry a periodic fingerprint. No detector is involved. Images at most --size stay at their
native size (the audit enlarges nothing unless --enlarge; an enlargement over 2x is then stated).

DIR is a folder holding 0_real/ and 1_fake/ (or real/fake), or a split root: then all splits are audited
together, and also per split. Writes audit.json, audit.md, cues.csv, pixel_evidence.npz, cues.png, budget.png,
mean_images.png, pixel_evidence.png, fingerprint.png, skipped.csv and manifest.json."""

from __future__ import annotations

import argparse

from aigc_explain._cli import add_json_flag, emit, make_parser, run, setup_logging, wrapped


def _build_parser() -> argparse.ArgumentParser:
    p = make_parser("audit", __doc__)
    p.add_argument("--data", required=True, help="folder with 0_real/ and 1_fake/, or a root with splits")
    p.add_argument("--out", required=True, help="run folder for the audit")
    p.add_argument("--size", type=int, default=224, help="pixel evidence at SIZE×SIZE at most (default 224): larger "
                   "images are shrunk like the detector's evaluation resize, smaller ones kept at their native size")
    p.add_argument("--enlarge", action="store_true", help="resize every image to exactly --size, even when that "
                   "enlarges it (the enlargement is stated in audit.json, audit.md and the panels)")
    p.add_argument("--limit", type=int, help="audit at most N images per split (balanced between the classes)")
    p.add_argument("--reencode", metavar="jpeg:Q|png", help="re-encode every image identically in memory first; "
                                                            "audit again to see whether a storage cue goes away")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds of the cue classifier")
    p.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples of the cue AUC interval")
    p.add_argument("--n-perm", type=int, default=200, help="label permutations of the localisation's null")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true", help="replace an existing audit folder")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("-v", "--verbose", action="store_true")
    add_json_flag(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    setup_logging(args.verbose)
    return run("audit", lambda: _run(args))


def _run(args: argparse.Namespace) -> None:
    from aigc_explain.evidence.gather import AuditSettings
    from aigc_explain.evidence.verdict import fingerprint_sentence, pixel_sentence
    from aigc_explain.evidence.write import write_audit_run

    settings = AuditSettings(size=args.size, enlarge=args.enlarge, limit=args.limit, reencode=args.reencode,
                             folds=args.folds, n_boot=args.n_boot, n_perm=args.n_perm, seed=args.seed)
    summary = write_audit_run(data=args.data, out=args.out, settings=settings, arguments=vars(args), overwrite=args.overwrite,
                              progress=not args.no_progress)
    overall, size = summary.overall, summary.geometry.size
    rows = overall.budget.rows() if overall.budget else {}
    budget = {k: v and {"auc": v.auc, "top": v.top} for k, v in rows.items()}
    ranked = sorted(((k, v) for k, v in budget.items() if v and v.get("auc") is not None), key=lambda kv: -kv[1]["auc"])
    lines = [f"audit of {args.data} at {size} px; what gives the label away (cross-validated AUC, 0.5 = nothing):"]
    lines += [f"  {k:<9} {v['auc']:.3f}  strongest: {v['top']}" for k, v in ranked]
    lines += wrapped(f"pixels: {pixel_sentence(overall.pixels.localisation)}")
    fingerprint = fingerprint_sentence(overall.pixels.fingerprint, summary.geometry)
    lines += wrapped(f"fingerprint: {fingerprint}") if fingerprint else []
    lines.append(f"run folder: {args.out} (audit.md: the verdict in full)")
    emit(args.json, {"out": str(args.out), "cue_auc": overall.cue.auc, "cue_auc_ci95": list(overall.cue.ci95),
                     "pixel_corner_share": overall.pixels.corner_share.to_json(), "budget": budget,
                     "audit_size": size, "verdict": summary.verdict}, lines)


if __name__ == "__main__":
    raise SystemExit(main())
