"""Signals handled like Ctrl-C: SIGTERM and SIGHUP raise ``Stopped`` (a ``KeyboardInterrupt``), so every run
folder rolls back or is marked interrupted, and a replaced run is put back, whichever signal stopped it.

``GracefulStop`` defers SIGINT, SIGTERM and SIGHUP to a safe point: the handler only records the request and the
caller stops where its state is whole (training: at the batch boundary), so no signal pattern can save half a
step. A repeated signal outside a ``critical()`` section stops at once, still at a whole state. Standard library
only; handlers are installed in the main thread only (elsewhere Python cannot).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator

log = logging.getLogger(__name__)

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Stopped(KeyboardInterrupt):
    """A run stopped by a signal other than Ctrl-C; ``signum`` says which (exit code 128 + signum)."""
    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


def exit_code(exc: KeyboardInterrupt) -> int:
    """128 + the signal number: 130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP."""
    return 128 + getattr(exc, "signum", signal.SIGINT)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within this context SIGTERM and SIGHUP raise ``Stopped`` in the main thread, like Ctrl-C does."""
    if not _main_thread():
        yield
        return

    def handler(signum, frame):
        raise Stopped(signum)

    previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


class GracefulStop:
    """SIGINT/SIGTERM/SIGHUP request a stop that the caller takes at its own safe point (``check``)."""
    def __init__(self, what: str = "this batch") -> None:
        self.what = what
        self.signum: int | None = None
        self._critical = 0

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def exception(self) -> KeyboardInterrupt:
        return KeyboardInterrupt() if self.signum in (None, signal.SIGINT) else Stopped(self.signum)

    def check(self) -> None:
        """Raise the requested stop here (a safe point)."""
        if self.signum is not None:
            raise self.exception()

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        """A section no signal may cut: a stop requested inside waits for its end."""
        self._critical += 1
        try:
            yield
        finally:
            self._critical -= 1

    def _handler(self, signum, frame) -> None:
        first = self.signum is None
        if first:
            self.signum = signum
            log.warning("%s: stopping after %s (the state is saved whole; press again to stop sooner, still "
                        "between batches)", signal.Signals(signum).name, self.what)
        elif self._critical == 0:
            raise self.exception()  # outside a step: the state is whole here too

    @contextlib.contextmanager
    def installed(self) -> Iterator["GracefulStop"]:
        if not _main_thread():
            yield self
            return
        signums = (signal.SIGINT, *STOP_SIGNALS)
        previous = {s: signal.signal(s, self._handler) for s in signums}
        try:
            yield self
        finally:
            for s, h in previous.items():
                signal.signal(s, h)
