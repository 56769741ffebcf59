"""``python -m aigc_explain.sanity --ckpt CKPT --images DIR`` — the model-parameter randomisation test
(Adebayo et al. 2018): re-initialise the detector block by block from the top and check that the CAMs
lose their similarity to the trained detector's. Writes sanity.json (numbers and a verdict in plain
words), sanity_curve.png, sanity_examples.png and manifest.json."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._cli import add_explain_arguments, default_out, run, setup_logging

MAX_ROWS_PER_MODE = 24  # the examples figure thins longer schedules evenly (first and last step kept)


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="aigc-explain sanity", description=__doc__)
    add_explain_arguments(p, "sanity")
    p.add_argument("--max-images", type=int, default=32, help="images used (balanced between classes)")
    p.add_argument("--mode", default="both", choices=("cascading", "independent", "both"),
                   help="cascading: randomise the top k blocks; independent: only block k")
    p.add_argument("--examples", type=int, default=4, help="images shown in sanity_examples.png")
    p.add_argument("--seed", type=int, default=0, help="seed of the re-initialisation")
    p.add_argument("--batch-size", type=int, default=32)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    setup_logging(args.verbose)
    return run("sanity", lambda: _run(args))


def _run(args: argparse.Namespace) -> None:
    from .cam_methods import method_names
    from .checkpoint import load_detector
    from .data import describe_preprocessing
    from .figures import save_figure
    from .models import resolve_device
    from .randomization import MODES, run_sanity
    from .runs import library_versions, run_folder, sha256_file, write_json, write_manifest, write_skipped

    if args.method.lower() not in method_names():
        raise ValueError(f"--method {args.method!r} is unknown; use one of: {', '.join(method_names())}")
    if not Path(args.images).is_dir():
        raise FileNotFoundError(f"--images {args.images} is not a folder; pass a folder of images "
                                f"(flat, with 0_real/1_fake, or a split root)")
    if args.max_images < 1 or args.examples < 0:
        raise ValueError("--max-images must be >= 1 and --examples >= 0")
    detector = load_detector(args.ckpt, arch=args.arch).to(resolve_device(args.device))
    out_path = args.out or default_out("sanity", args.ckpt, args.images)
    with run_folder(out_path, command="sanity", overwrite=args.overwrite, inputs=[args.ckpt, args.images]) as run:
        out = run.path
        modes = MODES if args.mode == "both" else (args.mode,)
        result = run_sanity(detector, args.images, method=args.method.lower(), layer=args.layer, target=args.target,
                            modes=modes, max_images=args.max_images, n_examples=args.examples, seed=args.seed,
                            batch_size=args.batch_size)
        sha = sha256_file(args.ckpt)
        prep = describe_preprocessing(detector.image_size, detector.mean, detector.std)
        summary = {**result.to_dict(), "checkpoint_sha256": sha, "preprocessing": prep, "versions": library_versions()}
        write_json(out / "sanity.json", summary)
        save_figure(curve_figure(summary), out / "sanity_curve.png")
        if args.examples:
            labels = [_row_label(s.mode, s.block) for s in result.steps]
            save_figure(examples_figure(result.example_images, [s.examples for s in result.steps], labels,
                                        [s.mode for s in result.steps]), out / "sanity_examples.png")
        write_skipped(out, result.skipped)
        write_manifest(out, command="sanity", arguments=vars(args), checkpoint_sha256=sha, detector=detector.config(),
                       preprocessing=prep)
    print(json.dumps({"out": str(out), "layer": result.layer, "passed": result.passed, "verdict": result.verdict}))


def _row_label(mode: str, block: str) -> str:
    return "original" if mode == "original" else f"{mode[:4]}. {block}"


# ------------------------------------------------------------------------------------------ figures
def curve_figure(summary: dict[str, Any]):
    """Mean similarity (95% bootstrap band) per randomisation step, one line per metric, one panel per
    schedule; x tick labels name the block randomised at that step. Drawn from sanity.json alone."""
    from .figures import pyplot

    plt = pyplot()
    original = summary["steps"][0]
    modes = [m for m in ("cascading", "independent") if any(s["mode"] == m for s in summary["steps"])]
    fig, axes = plt.subplots(1, max(1, len(modes)), squeeze=False, layout="constrained",
                             figsize=(max(6.0, 0.32 * len(summary["blocks"]) + 3) * max(1, len(modes)) / 1.4, 4.2))
    for ax, mode in zip(axes[0], modes):
        steps = [original] + [s for s in summary["steps"] if s["mode"] == mode]
        xs = np.arange(len(steps))
        for metric in summary["metrics"]:
            mean = np.array([_num(s["similarity"][metric]["mean"]) for s in steps])
            lo, hi = (np.array([_num(s["similarity"][metric]["ci95"][k]) for s in steps]) for k in (0, 1))
            ax.plot(xs, mean, marker="o", markersize=3, label=metric)
            ax.fill_between(xs, lo, hi, alpha=0.15)
        ax.axhline(summary["threshold"], color="grey", linestyle="--", linewidth=0.8)
        ax.set_xticks(xs, ["original"] + [s["block"] for s in steps[1:]], rotation=90, fontsize=7)
        ax.set_ylim(-1.05, 1.05)
        if ax is axes[0, 0]:
            ax.set_ylabel("similarity to the trained detector's map")
        ax.set_title(f"{mode} randomisation ({summary['method']}, layer {summary['layer']})", fontsize=9)
        ax.legend(fontsize=7)
    return fig


def _num(value: float | None) -> float:
    return np.nan if value is None else float(value)


def _thin(indices: list[int]) -> list[int]:
    if len(indices) <= MAX_ROWS_PER_MODE:
        return indices
    keep = np.unique(np.linspace(0, len(indices) - 1, MAX_ROWS_PER_MODE).round().astype(int))
    return [indices[i] for i in keep]


def examples_figure(images: np.ndarray, maps: Sequence[np.ndarray], labels: Sequence[str], modes: Sequence[str]):
    """Top row: the inputs; then one row per step: signed maps / max|map| (red +, blue -)."""
    from .figures import pyplot

    plt = pyplot()
    rows = [i for i, m in enumerate(modes) if m == "original"]
    for mode in ("cascading", "independent"):
        rows += _thin([i for i, m in enumerate(modes) if m == mode])
    ncols = max(1, len(images))
    fig, axes = plt.subplots(len(rows) + 1, ncols, figsize=(1.5 * ncols + 1.2, 1.5 * (len(rows) + 1)), squeeze=False,
                             layout="constrained")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for j, img in enumerate(images):
        axes[0, j].imshow(img)
    axes[0, 0].set_ylabel("input", fontsize=7)
    for r, i in enumerate(rows, start=1):
        for j, m in enumerate(maps[i][:ncols]):
            axes[r, j].imshow(m / max(float(np.abs(m).max()), 1e-12), cmap="RdBu_r", vmin=-1, vmax=1)
        axes[r, 0].set_ylabel(labels[i], fontsize=6, rotation=0, ha="right", va="center")
    fig.suptitle("signed maps after each randomisation step", fontsize=9)
    return fig


if __name__ == "__main__":
    raise SystemExit(main())
