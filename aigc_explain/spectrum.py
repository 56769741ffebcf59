"""``python -m aigc_explain.spectrum --images DIR --out DIR`` — the frequency view of a folder, to check
the up-convolution artefacts the report blames (Durall et al. 2020; Odena et al. 2016).

Per image: grayscale (ITU-R 601 luma, 0-255) -> 2-D FFT -> shift -> log power -> azimuthal average.
Per class (real, fake, or all images when unlabelled): mean ± std of the 1-D spectrum
(``spectrum_1d.png``), the mean 2-D log spectrum (``spectrum_2d.png``), all values in ``spectra.npz``.

Spectra need one image size per class. By default images keep their native size and a class that mixes
sizes is refused; ``--size N`` resizes every image to N×N first (bilinear, antialiased). Resizing itself
reshapes the high frequencies, so compare only spectra made with the same ``--size``."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from ._cli import run, setup_logging

log = logging.getLogger(__name__)
GROUP_NAMES = {0: "real", 1: "fake", -1: "images"}


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="aigc-explain spectrum", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", required=True, help="flat folder, folder with 0_real/1_fake, or a split root")
    p.add_argument("--out", required=True, help="folder for spectra.npz, spectrum_1d.png, spectrum_2d.png")
    p.add_argument("--size", type=int, help="resize every image to N×N first (default: native size, one per class)")
    p.add_argument("--limit", type=int, help="use at most N images (balanced between classes)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def load_gray(path: str | Path, size: int | None = None) -> np.ndarray:
    """An image file as (H, W) float64 luma in 0-255, resized to size×size when ``size`` is given."""
    from PIL import Image

    from .data import read_image
    from .spectra import to_gray

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
    from PIL import Image

    from .spectra import SpectrumAccumulator

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
    from .figures import save_figure
    from .report_figures import spectrum_1d_figure, spectrum_2d_figure

    arrays = spectra_arrays(accs)
    from .runs import save_npz

    save_npz(out / "spectra.npz", compressed=True, **arrays)
    names = [str(c) for c in arrays["classes"]]
    one_d = {c: {"freq": arrays[f"{c}_freq"], "mean": arrays[f"{c}_mean_1d"], "std": arrays[f"{c}_std_1d"],
                 "n": arrays[f"{c}_n"]} for c in names}
    save_figure(spectrum_1d_figure(one_d), out / "spectrum_1d.png")
    save_figure(spectrum_2d_figure({c: arrays[f"{c}_mean_2d"] for c in names}, {c: int(arrays[f"{c}_n"]) for c in names}),
                out / "spectrum_2d.png")
    return arrays


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    setup_logging(args.verbose)
    return run("spectrum", lambda: _run(args))


def _run(args: argparse.Namespace) -> None:
    from .data import NoReadableImages, balanced_subset, find_samples
    from .runs import run_folder, write_json, write_manifest, write_skipped

    if args.size is not None and args.size < 2:
        raise ValueError(f"--size must be >= 2 pixels, got {args.size}")
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be >= 1, got {args.limit}")
    samples = balanced_subset(find_samples(args.images), args.limit)
    with run_folder(args.out, command="spectrum", overwrite=args.overwrite, inputs=[args.images]) as run:
        out = run.path
        accs, skipped = class_spectra(samples, size=args.size)
        if not accs:
            raise NoReadableImages(f"none of the {len(samples)} images under {args.images} could be read", skipped)
        write_spectra(accs, out)
        write_skipped(out, skipped)
        summary = {"classes": {c: {"n": a.n, "image_size": list(a.shape)} for c, a in accs.items()},
                   "resized_to": args.size, "gray": "ITU-R 601 luma, 0-255", "log": "natural log of |FFT|^2 + 1e-10",
                   "freq": "ring radius / min(H, W), cycles per pixel", "n_skipped": len(skipped)}
        write_json(out / "summary.json", summary)
        write_manifest(out, command="spectrum", arguments=vars(args))
    print(json.dumps({"out": str(out), "classes": {c: a.n for c, a in accs.items()}}))


if __name__ == "__main__":
    raise SystemExit(main())
