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

from aigc_explain._cli import add_json_flag, emit, make_parser, run, setup_logging


def _build_parser() -> argparse.ArgumentParser:
    p = make_parser("spectrum", __doc__)
    p.add_argument("--images", required=True, help="flat folder, folder with 0_real/1_fake, or a split root")
    p.add_argument("--out", required=True, help="folder for spectra.npz, spectrum_1d.png, spectrum_2d.png")
    p.add_argument("--size", type=int, help="resize every image to N×N first (default: native size, one per class)")
    p.add_argument("--limit", type=int, help="use at most N images (balanced between classes)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument("-v", "--verbose", action="store_true")
    add_json_flag(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    setup_logging(args.verbose)
    return run("spectrum", lambda: _run(args))


def _run(args: argparse.Namespace) -> None:
    from aigc_explain.evidence.spectrum import write_spectrum_run

    result = write_spectrum_run(images=args.images, out=args.out, size=args.size, limit=args.limit, overwrite=args.overwrite,
                                arguments=vars(args))
    summary = result.summary
    size = "at their native size" if summary.resized_to is None else f"resized to {summary.resized_to}x{summary.resized_to}"
    lines = [f"log power spectra of {sum(s.n for s in summary.classes.values())} images, {size}:"]
    lines += [f"  {c:<6} n={s.n:<6} {s.image_size[0]}x{s.image_size[1]}" for c, s in summary.classes.items()]
    lines += [f"  {summary.n_skipped} skipped (skipped.csv)"] if summary.n_skipped else []
    lines.append(f"run folder: {result.out} (spectrum_1d.png, spectrum_2d.png)")
    emit(args.json, {"out": str(result.out), "classes": {c: s.n for c, s in summary.classes.items()},
                     "image_size": {c: list(s.image_size) for c, s in summary.classes.items()},
                     "resized_to": summary.resized_to}, lines)


if __name__ == "__main__":
    raise SystemExit(main())
