"""The sanity and faithfulness commands' jobs: run the check and write its run folder (json with the
numbers and the verdict, csv, figures, skipped.csv, manifest, record)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aigc_explain.checks.faithfulness import BASELINES, run_faithfulness
from aigc_explain.checks.randomization import MODES, run_sanity
from aigc_explain.core.images import describe_preprocessing
from aigc_explain.core.models import Detector
from aigc_explain.explain.folder import CamSettings
from aigc_explain.explain.road import ROAD_PERCENTILES
from aigc_explain.reporting.figures import save_figure
from aigc_explain.reporting.trust import deletion_insertion_figure, sanity_curve_figure, sanity_examples_figure
from aigc_explain.runs.check_summaries import FaithfulnessSummary, SanitySummary
from aigc_explain.runs.files import library_versions, sha256_file, write_csv, write_json, write_manifest, write_skipped
from aigc_explain.runs.folders import run_folder

FAITHFULNESS_COLUMNS = ("map", "baseline", "n", "deletion_auc", "deletion_ci_low", "deletion_ci_high",
                        "insertion_auc", "insertion_ci_low", "insertion_ci_high", "road_morf", "road_lerf",
                        "road_combined")


def _provenance(detector: Detector, ckpt: str | Path) -> dict[str, Any]:
    return {"checkpoint_sha256": sha256_file(ckpt),
            "preprocessing": describe_preprocessing(detector.image_size, detector.mean, detector.std),
            "versions": library_versions()}


def _row_label(mode: str, block: str) -> str:
    return "original" if mode == "original" else f"{mode[:4]}. {block}"


def write_sanity_run(detector: Detector, *, ckpt: str | Path, images: str | Path, out: str | Path,
                     arguments: dict[str, Any], cam: CamSettings = CamSettings(), overwrite: bool = False,
                     mode: str = "both", n_examples: int = 4, max_images: int | None = 32,
                     seed: int = 0) -> SanitySummary:
    """sanity.json, sanity_curve.png, sanity_examples.png (``run_sanity`` of ``cam``'s method, layer, target)."""
    with run_folder(out, command="sanity", overwrite=overwrite, inputs=[ckpt, images]) as run:
        modes = MODES if mode == "both" else (mode,)
        result = run_sanity(detector, images, cam=cam, modes=modes, max_images=max_images, n_examples=n_examples,
                            seed=seed)
        extra = _provenance(detector, ckpt)
        summary = result.summary().replace(**extra)
        write_json(run.path / "sanity.json", summary.to_json())
        save_figure(sanity_curve_figure(summary), run.path / "sanity_curve.png")
        if n_examples:
            labels = [_row_label(s.mode, s.block) for s in result.steps]
            save_figure(sanity_examples_figure(result.example_images, [s.examples for s in result.steps], labels,
                                               [s.mode for s in result.steps]), run.path / "sanity_examples.png")
        write_skipped(run.path, result.skipped)
        write_manifest(run.path, command="sanity", arguments=arguments, checkpoint_sha256=extra["checkpoint_sha256"],
                       detector=detector.config(), preprocessing=extra["preprocessing"])
    return summary


def write_faithfulness_run(detector: Detector, *, ckpt: str | Path, images: str | Path, out: str | Path,
                           arguments: dict[str, Any], cam: CamSettings = CamSettings(), overwrite: bool = False,
                           steps: int = 20, baselines: Sequence[str] = BASELINES, max_images: int | None = 64,
                           seed: int = 0, road_percentiles: Sequence[int] = ROAD_PERCENTILES,
                           road_images: int = 16) -> FaithfulnessSummary:
    """faithfulness.json, faithfulness.csv, deletion_insertion.png (``run_faithfulness`` of ``cam``'s method)."""
    with run_folder(out, command="faithfulness", overwrite=overwrite, inputs=[ckpt, images]) as run:
        result = run_faithfulness(detector, images, cam=cam, steps=steps, baselines=baselines, max_images=max_images,
                                  seed=seed, road_percentiles=road_percentiles, road_images=road_images)
        extra = _provenance(detector, ckpt)
        summary = result.summary().replace(**extra)
        write_json(run.path / "faithfulness.json", summary.to_json())
        rows = [row.to_json() for row in summary.rows]
        write_csv(run.path / "faithfulness.csv", FAITHFULNESS_COLUMNS,
                  [["" if row.get(c) is None else row.get(c) for c in FAITHFULNESS_COLUMNS] for row in rows])
        save_figure(deletion_insertion_figure(summary), run.path / "deletion_insertion.png")
        write_skipped(run.path, result.skipped)
        write_manifest(run.path, command="faithfulness", arguments=arguments,
                       checkpoint_sha256=extra["checkpoint_sha256"], detector=detector.config(),
                       preprocessing=extra["preprocessing"])
    return summary
