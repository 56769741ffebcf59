"""The frequency view of a folder (Durall et al. 2020): per class the mean ± std azimuthal log power spectrum
and the mean 2-D log spectrum of the images themselves, to check the up-convolution artefacts the report
blames. Spectra need one image size per class: a class that mixes sizes is refused unless every image is
resized to one size first (which itself reshapes the high frequencies). ``write_spectrum_run`` is the
``spectrum`` command's job: spectra.npz, spectrum_1d.png, spectrum_2d.png, summary.json, skipped.csv and
manifest.json in a run folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from aigc_explain.analysis.spectra import SpectrumAccumulator, to_gray
from aigc_explain.core.folders import NoReadableImages, Sample, balanced_subset, find_samples
from aigc_explain.core.images import read_image
from aigc_explain.reporting.figures import save_figure
from aigc_explain.reporting.frequency import spectrum_1d_figure, spectrum_2d_figure
from aigc_explain.runs.files import save_npz, write_json, write_manifest, write_skipped
from aigc_explain.runs.folders import run_folder
from aigc_explain.runs.summaries import ClassSpectrum, SpectrumSummary

GROUP_NAMES = {0: "real", 1: "fake", -1: "images"}
Spectra = dict[str, SpectrumAccumulator]  # class name (real, fake or images) -> its accumulated spectra


@dataclass(frozen=True)
class SpectrumRun:
    """What ``write_spectrum_run`` wrote: the run folder, its summary and the arrays of its spectra.npz."""
    out: Path
    summary: SpectrumSummary
    arrays: dict[str, np.ndarray]


def load_gray(path: str | Path, size: int | None = None) -> np.ndarray:
    """An image file as (H, W) float64 luma in 0-255, resized to size×size when ``size`` is given."""
    rgb = read_image(path).permute(1, 2, 0).numpy()
    if size is not None and rgb.shape[:2] != (size, size):
        rgb = np.asarray(Image.fromarray(rgb).resize((size, size), Image.BILINEAR))
    return to_gray(rgb)


def _mixed_sizes(group: str, first: tuple[str, tuple[int, ...]], path: str, shape: tuple[int, ...]) -> ValueError:
    return ValueError(f"--images: class {group} mixes image sizes {first[1][0]}x{first[1][1]} ({first[0]}) and "
                      f"{shape[0]}x{shape[1]} ({path}); spectra need one size per class: pass --size N to resize "
                      "all images (resizing changes the high frequencies)")


def class_spectra(samples: list[Sample], *, size: int | None = None) -> tuple[Spectra, list[tuple[str, str]]]:
    """One ``SpectrumAccumulator`` per class (real, fake first), and the (path, reason) of unreadable files."""
    accs: Spectra = {}
    first: dict[str, tuple[str, tuple[int, ...]]] = {}
    skipped: list[tuple[str, str]] = []
    for sample in sorted(samples, key=lambda s: (s.label < 0, s.label)):
        group = GROUP_NAMES[sample.label]
        try:
            if sample.problem:
                raise OSError(sample.problem)
            gray = load_gray(sample.path, size)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            skipped.append((sample.path, sample.problem or f"{type(exc).__name__}: {exc}"[:200]))
            continue
        first.setdefault(group, (sample.path, gray.shape))
        if gray.shape != first[group][1]:
            raise _mixed_sizes(group, first[group], sample.path, gray.shape)
        accs.setdefault(group, SpectrumAccumulator(gray.shape)).add(gray)
    return accs, skipped


def spectra_arrays(accs: Spectra) -> dict[str, np.ndarray]:
    """What ``spectra.npz`` holds: ``classes`` and per class ``<class>_n``, ``_freq`` (cycles/pixel:
    ring radius / min(H, W)), ``_mean_1d``, ``_std_1d`` (population std), ``_mean_2d``."""
    out: dict[str, np.ndarray] = {"classes": np.array(list(accs))}
    for name, acc in accs.items():
        mean = acc.mean_1d()
        out[f"{name}_n"] = np.array(acc.n)
        out[f"{name}_freq"] = np.arange(mean.size) / min(acc.shape)
        out[f"{name}_mean_1d"] = mean
        out[f"{name}_std_1d"] = acc.std_1d()
        out[f"{name}_mean_2d"] = acc.mean_2d()
    return out


def write_spectra(accs: Spectra, *, out: Path) -> dict[str, np.ndarray]:
    """Write ``spectra.npz`` and the two figures into ``out``."""
    arrays = spectra_arrays(accs)

    save_npz(out / "spectra.npz", compressed=True, **arrays)
    names = [str(c) for c in arrays["classes"]]
    one_d = {c: {"freq": arrays[f"{c}_freq"], "mean": arrays[f"{c}_mean_1d"], "std": arrays[f"{c}_std_1d"],
                 "n": arrays[f"{c}_n"]} for c in names}
    save_figure(spectrum_1d_figure(one_d), out / "spectrum_1d.png")
    save_figure(spectrum_2d_figure({c: arrays[f"{c}_mean_2d"] for c in names}, {c: int(arrays[f"{c}_n"]) for c in names}),
                out / "spectrum_2d.png")
    return arrays


def write_spectrum_run(*, images: str | Path, out: str | Path, size: int | None = None, limit: int | None = None,
                       overwrite: bool = False, arguments: dict[str, Any]) -> SpectrumRun:
    """The ``spectrum`` job: the spectra of the images under ``images`` (at most ``limit``, balanced between the
    classes; resized to size×size when ``size`` is given) in the run folder ``out``."""
    if size is not None and size < 2:
        raise ValueError(f"--size must be >= 2 pixels, got {size}")
    if limit is not None and limit < 1:
        raise ValueError(f"--limit must be >= 1, got {limit}")
    samples = balanced_subset(find_samples(images), limit)
    with run_folder(out, command="spectrum", overwrite=overwrite, inputs=[images]) as run:
        accs, skipped = class_spectra(samples, size=size)
        if not accs:
            raise NoReadableImages(f"none of the {len(samples)} images under {images} could be read", skipped)
        arrays = write_spectra(accs, out=run.path)
        write_skipped(run.path, skipped)
        summary = SpectrumSummary(classes={c: ClassSpectrum(n=a.n, image_size=list(a.shape)) for c, a in accs.items()},
                                  resized_to=size, n_skipped=len(skipped))
        write_json(run.path / "summary.json", summary.to_json())
        write_manifest(run.path, command="spectrum", arguments=arguments)
    return SpectrumRun(run.path, summary, arrays)
