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


class SaidOnce(logging.Filter):
    """Lets each warning's text through once: a command's steps can meet the same thing again (the demo's two CAM
    runs at one coarse layer, evaluate's perturbations of one-class data), and a warning is said once."""
    def __init__(self) -> None:
        super().__init__()
        self.said: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        text = record.getMessage()
        if text in self.said:
            return False
        self.said.add(text)
        return True


def setup_logging(verbose: bool = False) -> None:
    """Log lines on stderr for one command run (each warning said once)."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr, force=True)
    for handler in logging.getLogger().handlers:
        handler.addFilter(SaidOnce())


def run(command: str, body: Callable[[], object]) -> int:
    """Run ``body``; user errors and OS errors (disk full, read-only, permission) print
    ``<command>: error: <message>`` on one line and return 2; an allocation that fails names its size (2);
    Ctrl-C, SIGTERM and SIGHUP roll the run back and return 128 + the signal (130, 143, 129); anything else is
    one line pointing to a log file that holds the traceback (1)."""
    from aigc_explain.runs.signals import exit_code, stop_on_signals

    try:
        with stop_on_signals():
            body()
    except USER_ERRORS as exc:
        return _say(command, str(exc), 2)
    except OSError as exc:  # a full disk, a read-only or unwritable --out: the user's to fix, one line
        from aigc_explain.runs.files import describe_os_error

        return _say(command, describe_os_error(exc), 2)
    except KeyboardInterrupt as exc:
        print(f"{command}: {'interrupted' if not str(exc) else str(exc)}", file=sys.stderr)
        return exit_code(exc)
    except MemoryError as exc:
        return _say(command, f"out of memory{': ' + str(exc) if str(exc) else ''}; lower --batch-size or "
                             f"--image-size, or use a machine with more memory", 2)
    except Exception as exc:  # noqa: BLE001 - the top of a command: no user ever sees a bare traceback
        allocation = _allocation_size(exc)
        if allocation:
            return _say(command, f"out of memory: an allocation of {allocation} failed; lower --batch-size or "
                                 f"--image-size, or use a machine with more memory", 2)
        where = _write_traceback(command)
        return _say(command, f"unexpected {type(exc).__name__}: {str(exc)[:300]} (a bug or an unforeseen input; "
                             f"the traceback is in {where})", 1)
    return 0


def _say(command: str, message: str, code: int) -> int:
    print(f"{command}: error: {' '.join(message.splitlines())}", file=sys.stderr)
    return code


def _allocation_size(exc: BaseException) -> str | None:
    """The size of a failed allocation, from torch's CPU or CUDA out-of-memory message."""
    import re

    text = str(exc)
    if "allocate" not in text or not ("memory" in text or "out of memory" in text.lower()):
        return None
    found = re.search(r"allocate (\d+) bytes", text)
    if found:
        return f"{int(found.group(1)) / 2**30:.2f} GiB"
    found = re.search(r"[Tt]ried to allocate ([\d.]+ [KMGT]i?B)", text)
    return found.group(1) if found else "unknown size"


def _write_traceback(command: str) -> str:
    """Write the current exception's traceback to a log file; its path (or why it could not be written)."""
    import os
    import tempfile
    import time
    import traceback

    folder = Path(os.environ.get("AIGC_EXPLAIN_LOG_DIR") or tempfile.gettempdir())
    path = folder / f"aigc_explain-{command.replace(' ', '_')}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(f"aigc_explain {command}\nargv: {sys.argv}\n\n{traceback.format_exc()}")
    except OSError as err:
        return f"no log file ({err})"
    return str(path)


def add_detector_arguments(p: argparse.ArgumentParser) -> None:
    """How a checkpoint is read: the options of every command that loads one (``load_detector``'s arguments)."""
    p.add_argument("--arch", help="architecture, when the checkpoint does not say and keys do not tell")
    p.add_argument("--fake-index", type=int, default=1, choices=(0, 1),
                   help="for a checkpoint with a two-logit head: which output is 'fake' (default 1); p(fake) = "
                        "softmax[fake-index], recorded in the run")


def add_explain_arguments(p: argparse.ArgumentParser, command: str, *, images_required: bool = True) -> None:
    """The options every explaining command shares (cam, sanity, faithfulness)."""
    p.add_argument("--ckpt", required=True, help="detector checkpoint (ours, the report's, CNNDetection's)")
    p.add_argument("--images", required=images_required,
                   help="a folder (flat, with 0_real/1_fake, or a split root), one image, or an image list "
                        "(path,label csv such as a training run's val_files.csv)")
    p.add_argument("--out", help=default_out_help(command))
    add_detector_arguments(p)
    p.add_argument("--method", default="gradcam", help="gradcam (default), gradcam++, hirescam, xgradcam, layercam, "
                                                      "eigencam, eigengradcam, scorecam, ablationcam, fullgrad, …")
    p.add_argument("--layer", default="auto", help="auto (default: the deepest top-level block whose map at the input "
                                                   "size has a side >= 7, so corners and centre are told apart), a "
                                                   "dotted module name of the backbone (layer4.2) or grad-cam's "
                                                   "indexing (layer4[-1]); see cam --list-layers")
    p.add_argument("--target", default="fake", choices=("fake", "real", "predicted"),
                   help="explain the logit (fake), its negation (real) or each image's predicted class")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    p.add_argument("-v", "--verbose", action="store_true")


GENERIC_STEMS = ("best_model", "final_model", "checkpoint", "model", "weights")


def default_out_help(command: str) -> str:
    """--out's help: what ``default_out`` picks."""
    return (f"run folder (default reports/{command}/<detector>-<images-name>, the detector named after its run folder "
            f"when the checkpoint is best_model.pth or the like)")


def default_out(command: str, ckpt: str, images: str) -> Path:
    """``reports/<command>/<detector>-<images-name>``: one folder per (detector, image set). A checkpoint with a
    generic name (``best_model.pth``) is named after its run folder (``runs/plain/best_model.pth`` -> ``plain``),
    so two detectors' runs do not collide."""
    path = Path(ckpt)
    name = path.stem if path.stem not in GENERIC_STEMS else f"{path.resolve().parent.name}-{path.stem}"
    return Path("reports") / command / f"{name}-{Path(images).resolve().stem}"


def add_json_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the result as one JSON line instead of a summary")


def emit(as_json: bool, data: dict, lines: list[str]) -> None:
    """The command's result on stdout: a short summary for people, or (``--json``) one JSON line."""
    import json

    def plain(value: object) -> object:  # numpy numbers and arrays
        if hasattr(value, "tolist"):
            return value.tolist()
        raise TypeError(f"{type(value).__name__} is not JSON serialisable")

    print(json.dumps(data, default=plain) if as_json else "\n".join(lines))


def wrapped(text: str, *, indent: str = "  ", width: int = 100) -> list[str]:
    """A sentence of a summary as lines of at most ``width`` characters, continuation lines indented further."""
    import textwrap

    return textwrap.wrap(text, width, initial_indent=indent, subsequent_indent=indent + "  ") or [indent.rstrip()]


def _no_default(action: argparse.Action) -> bool:
    return action.default is None or action.default is False or action.default is argparse.SUPPRESS


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """``--help`` keeps the description's line breaks and shows every option's default."""
    def add_argument(self, action: argparse.Action) -> None:
        if action.help is None and action.option_strings and not _no_default(action):
            action.help = "(default: %(default)s)"  # argparse shows nothing for an option without help
        super().add_argument(action)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if not action.option_strings or "default" in text or _no_default(action):
            return text
        return f"{text} (default: %(default)s)" if text else "(default: %(default)s)"


def plain_doc(doc: str | None) -> str:
    """A module docstring as help text: reST markup (``code``, `name`) dropped."""
    import re

    return re.sub(r"`{1,2}([^`]+)`{1,2}", r"\1", doc or "").strip()


def make_parser(command: str, doc: str | None, **kwargs: object) -> argparse.ArgumentParser:
    """The parser of ``aigc-explain <command>``: plain description, every default shown."""
    return argparse.ArgumentParser(prog=f"aigc-explain {command}", description=plain_doc(doc),
                                   formatter_class=HelpFormatter, **kwargs)
