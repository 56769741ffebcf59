"""``python -m aigc_explain.compare RUN_A RUN_B --out DIR`` — compare two CAM runs (e.g. an unaugmented
and an augmented detector): per-class mean CAMs on one colour scale and their difference, region masses
with bootstrap 95% intervals, permutation and Mann-Whitney p-values between the runs, counts of blank maps.

Writes ``comparison.json``, ``comparison.png`` and ``manifest.json``; differences are RUN_A minus RUN_B."""

from __future__ import annotations

import argparse

from aigc_explain._cli import add_json_flag, emit, make_parser, run, setup_logging, wrapped


def _build_parser() -> argparse.ArgumentParser:
    p = make_parser("compare", __doc__)
    p.add_argument("run_a", metavar="RUN_A", help="a CAM run folder (written by aigc_explain.cam)")
    p.add_argument("run_b", metavar="RUN_B", help="the CAM run folder to compare it with")
    p.add_argument("--labels", nargs=2, metavar=("A", "B"), help="names of the two runs (default: folder names)")
    p.add_argument("--out", required=True, help="folder for comparison.json and comparison.png")
    p.add_argument("--n-perm", type=int, default=10000, help="permutations per test (default 10000)")
    p.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples per interval (default 2000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--allow-different", action="store_true",
                   help="compare CAM runs that differ in method, target or layer (refused otherwise); the "
                        "difference is then stated in the results and on the panel")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument("-v", "--verbose", action="store_true")
    add_json_flag(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    setup_logging(args.verbose)
    return run("compare", lambda: _run(args))


def _run(args: argparse.Namespace) -> None:
    from aigc_explain.reporting.report import write_comparison_run
    from aigc_explain.runs.reader import check_labels, load_cam_runs

    for flag, value in (("--n-perm", args.n_perm), ("--n-boot", args.n_boot)):
        if value < 1:
            raise ValueError(f"{flag} must be >= 1, got {value}")
    labels = check_labels(args.labels, [args.run_a, args.run_b])
    run_a, run_b = load_cam_runs([args.run_a, args.run_b], ["RUN_A", "RUN_B"])
    result = write_comparison_run(run_a, run_b, (labels[0], labels[1]), out=args.out, arguments=vars(args),
                                  overwrite=args.overwrite, n_perm=args.n_perm, n_boot=args.n_boot, seed=args.seed,
                                  allow_different=args.allow_different)
    from aigc_explain.analysis.comparison import headline

    lines = [f"{labels[0]} vs {labels[1]}:"]
    lines += [line for g in result.classes if g != "all" for line in wrapped(headline(result, g))]
    if result.warnings:  # said once, as warnings on stderr
        lines.append(f"  {len(result.warnings)} warning(s) above, also in comparison.json")
    lines.append(f"run folder: {args.out} (comparison.png)")
    emit(args.json, {"out": str(args.out), "labels": labels,
                     "corner_share": {g: c.corner_share.to_json() for g, c in result.classes.items()},
                     "not_measurable": {g: c.not_measurable for g, c in result.classes.items() if c.not_measurable},
                     "warnings": list(result.warnings)}, lines)


if __name__ == "__main__":
    raise SystemExit(main())
