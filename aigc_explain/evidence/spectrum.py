"""The frequency view of a folder (Durall et al. 2020): per class the mean ± std azimuthal log power spectrum
and the mean 2-D log spectrum of the images themselves, to check the up-convolution artefacts the report
blames. Spectra need one image size per class: a class that mixes sizes is refused unless every image is
resized to one size first (which itself reshapes the high frequencies)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from aigc_explain.analysis.spectra import SpectrumAccumulator, to_gray
from aigc_explain.core.images import read_image
from aigc_explain.reporting.figures import save_figure
from aigc_explain.reporting.frequency import spectrum_1d_figure, spectrum_2d_figure
from aigc_explain.runs.files import save_npz

GROUP_NAMES = {0: "real", 1: "fake", -1: "images"}


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


def class_spectra(samples: list, *, size: int | None = None) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """One ``SpectrumAccumulator`` per class (real, fake first), and the (path, reason) of unreadable files."""
    accs: dict[str, SpectrumAccumulator] = {}
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


def spectra_arrays(accs: dict[str, Any]) -> dict[str, np.ndarray]:
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


def write_spectra(accs: dict[str, Any], out: Path) -> dict[str, np.ndarray]:
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
