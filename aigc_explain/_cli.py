"""What every command-line entry point shares: logging set-up and turning user mistakes into one
clear line with exit code 2 (no traceback for a wrong path or flag)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError,
               PermissionError)


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr, force=True)


def run(command: str, body: Callable[[], object]) -> int:
    """Run ``body``; user errors and OS errors (disk full, read-only, permission) print
    ``<command>: error: <message>`` on one line and return 2."""
    try:
        body()
    except USER_ERRORS as exc:
        print(f"{command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a full disk, a read-only or unwritable --out: the user's to fix, one line
        from aigc_explain.runs.files import describe_os_error

        print(f"{command}: error: {describe_os_error(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return 130
    return 0


def add_explain_arguments(p: argparse.ArgumentParser, command: str, *, images_required: bool = True) -> None:
    """The options every explaining command shares (cam, sanity, faithfulness)."""
    p.add_argument("--ckpt", required=True, help="detector checkpoint (ours, the report's, CNNDetection's)")
    p.add_argument("--images", required=images_required,
                   help="flat folder, folder with 0_real/1_fake, or a split root")
    p.add_argument("--out", help=f"run folder (default reports/{command}/<ckpt-stem>-<images-name>)")
    p.add_argument("--arch", help="architecture, when the checkpoint does not say and keys do not tell")
    p.add_argument("--method", default="gradcam", help="gradcam (default), gradcam++, hirescam, xgradcam, layercam, "
                                                      "eigencam, eigengradcam, scorecam, ablationcam, fullgrad, …")
    p.add_argument("--layer", default="auto", help="auto or a dotted module name of the backbone (see cam --list-layers)")
    p.add_argument("--target", default="fake", choices=("fake", "real", "predicted"),
                   help="explain the logit (fake), its negation (real) or each image's predicted class")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    p.add_argument("-v", "--verbose", action="store_true")


def default_out(command: str, ckpt: str, images: str) -> Path:
    """``reports/<command>/<ckpt-stem>-<images-name>``: one folder per (detector, image set)."""
    return Path("reports") / command / f"{Path(ckpt).stem}-{Path(images).resolve().name}"
