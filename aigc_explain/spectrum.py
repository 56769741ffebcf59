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

from aigc_explain._cli import make_parser, run, setup_logging
def _build_parser() -> argparse.ArgumentParser:
    p = make_parser("spectrum", __doc__)
    p.add_argument("--images", required=True, help="flat folder, folder with 0_real/1_fake, or a split root")
    p.add_argument("--out", required=True, help="folder for spectra.npz, spectrum_1d.png, spectrum_2d.png")
    p.add_argument("--size", type=int, help="resize every image to N×N first (default: native size, one per class)")
    p.add_argument("--limit", type=int, help="use at most N images (balanced between classes)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    setup_logging(args.verbose)
    return run("spectrum", lambda: _run(args))


def _run(args: argparse.Namespace) -> None:
    from aigc_explain.evidence.spectrum import class_spectra, write_spectra
    from aigc_explain.core.folders import NoReadableImages, balanced_subset, find_samples
    from aigc_explain.runs.files import write_json, write_manifest, write_skipped
    from aigc_explain.runs.folders import run_folder

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
