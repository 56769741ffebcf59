"""``python -m aigc_explain.report --runs RUN... --out reports/NAME`` — slide-ready figures from training,
evaluation, CAM, audit and diagnose run folders, in order, with an ``index.md`` that shows each with one line
(its panels are listed at the end of ``--help``, from ``reporting.report.PANELS``). A CAM or evaluation run
belongs to a training run when its checkpoint lies in that folder (its manifest's ``ckpt``) or has the hash of its
best_model.pth or final_model.pth; its predictions then fill that run's row."""

from __future__ import annotations

import argparse

from aigc_explain._cli import add_json_flag, emit, make_parser, run, setup_logging, wrapped
from aigc_explain.runs.report_summary import ResultRow


def _build_parser() -> argparse.ArgumentParser:
    from aigc_explain.reporting.report import panel_help

    p = make_parser("report", __doc__, epilog=panel_help())
    p.add_argument("--runs", nargs="+", required=True, help="training, evaluation, CAM, audit and diagnose run "
                                                            "folders")
    p.add_argument("--out", required=True, help="report folder, e.g. reports/NAME")
    p.add_argument("--labels", nargs="+", help="one name per run (default: folder names)")
    p.add_argument("--n-perm", type=int, default=10000, help="permutations per comparison test (default 10000)")
    p.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples per interval (default 2000)")
    p.add_argument("--allow-different", action="store_true",
                   help="compare CAM runs that differ in method, target or layer (refused otherwise); the "
                        "difference is then stated in the results and on the panel")
    p.add_argument("--overwrite", action="store_true", help="replace an existing report folder")
    p.add_argument("-v", "--verbose", action="store_true")
    add_json_flag(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    setup_logging(args.verbose)
    return run("report", lambda: _run(args))


def _run(args: argparse.Namespace) -> None:
    from aigc_explain.reporting.report import write_report_run
    from aigc_explain.runs.reader import check_labels, load_run

    for flag, value in (("--n-perm", args.n_perm), ("--n-boot", args.n_boot)):
        if value < 1:
            raise ValueError(f"{flag} must be >= 1, got {value}")
    labels = check_labels(args.labels, args.runs)
    runs = {label: load_run(path) for label, path in zip(labels, args.runs)}
    results = write_report_run(runs, out=args.out, arguments=vars(args), overwrite=args.overwrite, n_perm=args.n_perm,
                               n_boot=args.n_boot, allow_different=args.allow_different)
    lines = [f"report: {len(results.figures)} figures in {args.out}; read {args.out}/index.md"]
    lines += [_row_line(row) for row in results.rows[:8]]
    notes = results.notes
    lines += [line for note in notes[:3] for line in wrapped(f"note: {note}")]
    lines += [f"  … {len(notes) - 3} more note(s) in index.md"] if len(notes) > 3 else []
    emit(args.json, {"out": str(args.out), "figures": len(results.figures), "index": f"{args.out}/index.md",
                     "rows": [row.to_json() for row in results.rows], "notes": notes}, lines)


def _row_line(row: ResultRow) -> str:
    """One row of the results table: the run, its model and the numbers it has."""
    numbers = [f"{name} {value:.3f}" for value, name in ((row.val_acc, "val accuracy"), (row.accuracy, "accuracy"),
                                                         (row.average_precision, "AP")) if value is not None]
    return f"  {row.run} ({row.model}): {', '.join(numbers) or 'no predictions'}"


if __name__ == "__main__":
    raise SystemExit(main())
