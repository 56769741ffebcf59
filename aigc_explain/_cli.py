"""What every command-line entry point shares: logging set-up and turning user mistakes into one
clear line with exit code 2 (no traceback for a wrong path or flag)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, PermissionError)


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr, force=True)


def run(command: str, body: Callable[[], object]) -> int:
    """Run ``body``; user errors print ``<command>: error: <message>`` and return 2."""
    try:
        body()
    except USER_ERRORS as exc:
        print(f"{command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return 130
    return 0
