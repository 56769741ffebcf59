"""The ``diagnose`` job: what a detector relies on (frequency bands, periodic peaks, local vs. global, storage),
measured on a labelled folder and written as a run folder: diagnose.json (numbers and verdict), diagnose.md,
diagnose_predictions.csv, bands.png, shuffle.png, patch_map.png, skipped.csv, manifest.json, aigc_run.json."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import expit

from aigc_explain.checks.patch_map import BLUR_SIGMA, PatchMaps, patch_maps
from aigc_explain.checks.reliance import (DEFAULT_BANDS, Measured, band_variants, measure, parse_bands, parse_patches,
                                          peak_variant, reencode_variants, shuffle_variants)
from aigc_explain.checks.reliance_summary import markdown, summarize_measured, verdict
from aigc_explain.checks.spectral_peaks import PeakFinder
from aigc_explain.core.folders import balanced_subset, find_samples, one_class_warning
from aigc_explain.core.images import describe_preprocessing
from aigc_explain.core.inference import resolve_amp
from aigc_explain.core.models import Detector
from aigc_explain.reporting.diagnose import bands_figure, patch_map_figure, shuffle_figure
from aigc_explain.reporting.figures import save_figure
from aigc_explain.runs.contract import LABEL_NAMES
from aigc_explain.runs.diagnose_summary import (DIAGNOSE_SCHEMA_VERSION, AmpChoice, DiagnoseSummary, PatchMapSummary,
                                                PeaksFound)
from aigc_explain.runs.files import sha256_file, write_csv, write_json, write_manifest, write_skipped, write_text
from aigc_explain.runs.folders import run_folder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DiagnoseSettings:
    bands: str = DEFAULT_BANDS
    patches: str = "16,32"
    reencode: tuple[str, ...] = ()
    peaks: bool = True
    limit: int | None = None  # at most this many images, balanced between the classes
    batch_size: int = 64
    threshold: float = 0.5
    seed: int = 0
    n_boot: int = 2000
    map_images: int = 4  # per class, for the patch map (0: none)
    amp: str = "off"

    def __post_init__(self) -> None:
        parse_bands(self.bands)
        reencode_variants(self.reencode)
        if self.limit is not None and self.limit < 2:
            raise ValueError(f"--limit must be >= 2 (one image per class at least), got {self.limit}")
        if self.batch_size < 1:
            raise ValueError(f"--batch-size must be >= 1, got {self.batch_size}")
        if not 0 < self.threshold < 1:
            raise ValueError(f"--threshold must be in (0, 1), got {self.threshold}")
        if self.map_images < 0:
            raise ValueError(f"--map-images must be >= 0, got {self.map_images}")
        if self.n_boot < 1:
            raise ValueError(f"--n-boot must be >= 1, got {self.n_boot}")


@dataclass
class Diagnosis:
    summary: DiagnoseSummary
    measured: Measured
    maps: PatchMaps | None
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _add_peaks(detector: Detector, measured: Measured, peaks: PeaksFound, samples: list, **options: Any) -> None:
    """A second pass for the peak variant (the peaks are known only after the first); matched by path."""
    variant = peak_variant(detector.image_size, [tuple(b) for b in peaks.bins], peaks.freqs)
    by_path = {s.path: s for s in samples}
    second = measure(detector, [by_path[p] for p in measured.paths], [variant], clean=False, **options)
    where = dict(zip(second.paths, second.logits[variant.name]))
    measured.logits[variant.name] = np.array([where.get(p, np.nan) for p in measured.paths])
    measured.variants.append(variant)


def diagnose(detector: Detector, images: str | Path, settings: DiagnoseSettings = DiagnoseSettings(), *,
             device: Any = "cpu", workers: int = 0, progress: bool = False) -> Diagnosis:
    """Every variant over the labelled images of ``images``; the summary holds ``diagnose.json``'s content."""
    size = detector.image_size
    bands, patches = parse_bands(settings.bands), parse_patches(settings.patches, size)
    samples = balanced_subset(find_samples(images, require_labels=True), settings.limit)
    variants = band_variants(size, bands) + shuffle_variants(patches, settings.seed) + \
        reencode_variants(settings.reencode)
    options = dict(batch_size=settings.batch_size, device=device, workers=workers, amp=settings.amp)
    finder = PeakFinder(size) if settings.peaks else None
    measured = measure(detector, samples, variants, progress=progress, on_batch=finder, **options)
    peaks = finder.peaks() if finder is not None else None
    if peaks is not None and peaks.found:
        _add_peaks(detector, measured, peaks, samples, **options)
    measures = summarize_measured(measured, threshold=settings.threshold, n_boot=settings.n_boot)
    readable = set(measured.paths)
    kept = [s for s in samples if s.path in readable]
    maps = None
    if settings.map_images:
        maps = patch_maps(detector, kept, max(patches), per_class=settings.map_images, device=device, amp=settings.amp)
    warning = one_class_warning(kept, images)
    used, reason = resolve_amp(device, settings.amp)
    summary = DiagnoseSummary(
        schema_version=DIAGNOSE_SCHEMA_VERSION, images=str(images), n_images=len(measured.paths),
        n_real=int((measured.labels == 0).sum()), n_fake=int((measured.labels == 1).sum()),
        n_skipped=len(measured.skipped), threshold=settings.threshold, clean=measures.clean, bands=measures.bands,
        peaks=measures.peaks, shuffle=measures.shuffle, reencode=measures.reencode, peaks_found=peaks,
        patch_map=_map_summary(maps), verdict=verdict(measures, peaks), settings=asdict(settings),
        amp=AmpChoice(used=used, reason=reason), how=dict(HOW), warnings=[warning] if warning else [])
    return Diagnosis(summary, measured, maps, measured.skipped)


HOW = {"domain": "the detector's input: after its resize to S×S, in normalised units (a removed band contributes 0; "
                 "removed DC becomes the normalisation mean)",
       "bands": "radial |f| in cycles/pixel, per channel; a band ending at 1/2 takes the corners",
       "shuffle": "p×p tiles permuted per image, seeded by (seed, p, image position)",
       "reencode": "in memory, before the resize (core.images.Reencode)",
       "patch_map": f"only one tile sharp, the rest the image's Gaussian blur (σ {BLUR_SIGMA:g} px)"}


def _map_summary(maps: PatchMaps | None) -> PatchMapSummary | None:
    if maps is None:
        return None
    return PatchMapSummary(patch=maps.patch, n=len(maps.paths), classes=maps.class_means(),
                           cam="gradcam, auto layer, target fake" if maps.cams is not None else None)


def _prediction_rows(measured: Measured) -> list[tuple]:
    rows = []
    for name, logits in [("clean", measured.clean), *measured.logits.items()]:
        probs = expit(logits)
        rows += [(name, p, LABEL_NAMES[int(y)], f"{pr:.6f}") for p, y, pr in zip(measured.paths, measured.labels,
                                                                                 probs)]
    return rows


def write_diagnosis(result: Diagnosis, *, out: Path) -> None:
    summary = result.summary
    write_json(out / "diagnose.json", summary.to_json())
    write_text(out / "diagnose.md", markdown(summary.measures, summary.verdict))
    write_csv(out / "diagnose_predictions.csv", ("variant", "path", "label", "prob_fake"),
              _prediction_rows(result.measured))
    title = summary.verdict[0] if summary.verdict else ""
    save_figure(bands_figure(summary.bands, summary.clean, title=title), out / "bands.png")
    shuffle_title = next((s for s in summary.verdict if s.startswith("Patch shuffling")), "")
    save_figure(shuffle_figure(summary.shuffle, summary.reencode, summary.clean, title=shuffle_title),
                out / "shuffle.png")
    if result.maps is not None:
        m = result.maps
        save_figure(patch_map_figure(m.images, m.scores, m.labels, m.cams, patch=m.patch), out / "patch_map.png")
    write_skipped(out, result.skipped)


def write_diagnose_run(detector: Detector, *, ckpt: str | Path, images: str | Path, out: str | Path,
                       settings: DiagnoseSettings, arguments: dict[str, Any], overwrite: bool = False,
                       device: Any = "cpu", workers: int = 0, progress: bool = False) -> DiagnoseSummary:
    """``diagnose``: the run folder ``out`` (see the module docstring); returns diagnose.json's content."""
    with run_folder(out, command="diagnose", overwrite=overwrite, inputs=[ckpt, images]) as run:
        result = diagnose(detector, images, settings, device=device, workers=workers, progress=progress)
        write_diagnosis(result, out=run.path)
        write_manifest(run.path, command="diagnose", arguments=arguments, checkpoint_sha256=sha256_file(ckpt),
                       detector=detector.config(),
                       preprocessing=describe_preprocessing(detector.image_size, detector.mean, detector.std))
    return result.summary
