"""The life cycle of a run folder: create, replace, complete, roll back.

A run folder carries a record, ``aigc_run.json`` (``runs.record``), written when the run starts (status
``running``, which also proves the folder is writable before any work) and rewritten last (status ``complete``,
with every file's size and sha256). The run holds the folder's lock (``runs.locks``) from start to end, so a
second writer is refused naming the first. ``--overwrite`` replaces only a folder this toolkit wrote, never one
holding anything else or the run's own inputs; the old run is moved aside first and put back if the new one
fails, so an interrupted replacement never leaves the user with neither. Only files the record or journal lists
are ever deleted. Standard library only.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from aigc_explain.runs import locks
from aigc_explain.runs.contract import JOURNAL, LOCK
from aigc_explain.runs.files import write_skipped
from aigc_explain.runs.record import (check_complete, foreign_files, is_ours, list_files, read_record,  # noqa: F401
                                      remove_ours, RECORD_FORMAT, RECORD_VERSION, write_record)

log = logging.getLogger(__name__)


def _within(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def check_apart(out: str | Path, inputs: Iterable[str | Path | None], *, flag: str = "--out") -> None:
    """Refuse an output folder that equals, contains or lies inside one of the run's inputs."""
    target = Path(out).resolve()
    for given in inputs:
        if given is None:
            continue
        source = Path(given).resolve()
        if _within(source, target):
            raise ValueError(f"{flag} {out} holds the input {given}; writing (or replacing) it there would "
                             f"destroy the input: choose an {flag} outside your data and checkpoints")
        if source.is_dir() and _within(target, source):
            raise ValueError(f"{flag} {out} lies inside the input folder {given}; results written there would "
                             f"mix with the data: choose an {flag} outside it")


def replaced_path(target: str | Path) -> Path:
    """Where a run replaced by ``--overwrite`` waits until its successor completes."""
    target = Path(target)
    return target.parent / f".{target.name}.replaced"


def _refuse_foreign(target: Path, flag: str) -> None:
    if not is_ours(target):
        some = sorted(p.name for p in target.iterdir())[:3]
        raise ValueError(f"{flag}: output folder {target} holds files aigc_explain did not write "
                         f"({', '.join(some)}); --overwrite only replaces run folders of aigc_explain: "
                         f"choose another --out")
    extra = foreign_files(target)
    if extra:
        raise ValueError(f"{flag}: run folder {target} also holds files the run did not write "
                         f"({', '.join(extra[:3])}); move them out first or choose another --out")


def _state(target: Path, record: dict[str, Any] | None) -> str:
    holder = locks.probe(target)
    if holder is not None:
        return f"a run being written by {locks.describe_holder(holder)}"
    status = record.get("status") if record is not None else None
    if status == "complete" or record is None:
        return "a run"
    note = locks.stale_note(record)
    return f"a run that did not finish (status {status!r}{': ' + note if note else ''})"


class RunFolder:
    """A run folder being written. ``complete()`` marks it finished (last); on failure ``abort()`` rolls back:
    the partial run goes and a run it replaced comes back, unless ``keep_partial`` (a resumable training run)."""
    def __init__(self, path: Path, command: str, *, backup: Path | None = None, created: bool = False) -> None:
        self.path, self.command, self.backup, self.created = path, command, backup, created
        self.keep_partial = False
        self.completed = False

    def complete(self, **info: Any) -> None:
        try:
            write_record(self.path, self.command, "complete", files=list_files(self.path), **info)
            (self.path / JOURNAL).unlink(missing_ok=True)  # the record now lists every file
            self.completed = True
            if self.backup is not None and self.backup.exists():
                left = remove_ours(self.backup)
                if left:
                    log.warning("the replaced run at %s held files aigc_explain did not write (%s); kept there",
                                self.backup, ", ".join(left[:3]))
                self.backup = None
        finally:
            locks.release(self.path, force=True)

    def abort(self, exc: BaseException | None = None) -> None:
        try:
            self._abort(exc)
        finally:
            locks.release(self.path, force=True)

    def _abort(self, exc: BaseException | None) -> None:
        stopped = isinstance(exc, KeyboardInterrupt)
        reason = "interrupted" if stopped else f"{type(exc).__name__}: {exc}"[:300]
        if self.keep_partial:
            with contextlib.suppress(OSError):
                write_record(self.path, self.command, "interrupted" if stopped else "failed", error=reason)
            if self.backup is not None and self.backup.exists():
                log.warning("the run that %s replaced is kept at %s until this run completes", self.path,
                            self.backup)
            return
        skipped = list(getattr(exc, "skipped", None) or [])
        left = remove_ours(self.path) if self.path.is_dir() else []
        if self.backup is not None and self.backup.exists():
            if left:
                log.warning("%s now holds files aigc_explain did not write (%s); the run it replaced stays at %s",
                            self.path, ", ".join(left[:3]), self.backup)
                return
            os.rename(self.backup, self.path)
            if skipped and isinstance(exc, ValueError) and exc.args:
                path, why = skipped[0]
                exc.args = (f"{exc.args[0]} (first: {path}: {why}); {self.path} still holds the run it held "
                            f"before",)
            return
        if skipped or not self.created:
            self.path.mkdir(parents=True, exist_ok=True)
        if skipped:  # the message points to skipped.csv: it must exist
            with contextlib.suppress(OSError):
                locks.acquire(self.path, self.command)
                write_skipped(self.path, skipped)
                write_record(self.path, self.command, "failed", error=reason)
            if isinstance(exc, ValueError) and exc.args:
                exc.args = (f"{exc.args[0]}; the reasons are in {self.path / 'skipped.csv'}",)


def _replace(target: Path, backup: Path, command: str) -> None:
    """Move the held run folder ``target`` aside to ``backup`` and hold a fresh, empty ``target`` instead."""
    os.rename(target, backup)
    locks.rekey(target, backup)
    try:
        target.mkdir()
        locks.acquire(target, command)  # before the old lock goes: no gap for another writer
    except FileExistsError:
        raise FileExistsError(f"another process created {target} while this run replaced it; the old run is at "
                              f"{backup}") from None
    finally:
        locks.release(backup, force=True)


def open_run(out: str | Path, *, command: str, overwrite: bool = False, inputs: Iterable[str | Path | None] = (),
             flag: str = "--overwrite") -> RunFolder:
    """Start a run in ``out``: a new or empty folder, a failed run of ours, or (``overwrite``) any run folder
    of ours holding nothing else, which is moved aside and comes back if the new run fails. The folder's lock
    is held from here to ``complete``/``abort``. Checks writability at once."""
    target = Path(out)
    if target.is_symlink():
        raise ValueError(f"--out {target} is a symbolic link (to {os.readlink(target)}); pass the folder it points "
                         f"to, so that replacing a run never moves the link instead of the run")
    check_apart(target, inputs)
    if target.exists() and not target.is_dir():
        raise FileExistsError(f"output path {target} exists and is not a folder; choose another --out")
    backup = replaced_path(target)
    created = not target.exists()
    target.mkdir(parents=True, exist_ok=True)
    if any(target.iterdir()):
        if not is_ours(target):
            if overwrite:
                _refuse_foreign(target, flag)
            raise FileExistsError(f"output folder {target} holds files aigc_explain did not write; choose another "
                                  f"--out (or an empty folder)")
        record = read_record(target)
        if not overwrite and (record is None or record.get("status") != "failed"):  # refused before locking
            raise FileExistsError(f"output folder {target} already holds {_state(target, record)}; pass {flag} to "
                                  f"replace it or choose another --out")
        locks.acquire(target, command)  # refused here, naming the holder, while another process writes it
        try:
            created = _clear(target, backup, command, overwrite, flag) or created
        except BaseException:
            locks.release(target, force=True)
            raise
    else:
        locks.acquire(target, command)
    try:
        write_record(target, command, "running")  # fails here, before any work, if unwritable
    except BaseException:
        locks.release(target, force=True)
        raise
    return RunFolder(target, command, backup=backup if backup.exists() else None, created=created)


def _clear(target: Path, backup: Path, command: str, overwrite: bool, flag: str) -> bool:
    """Under the lock: make the run folder ``target`` ready for a new run (see ``open_run``)."""
    record = read_record(target)
    failed = record is not None and record.get("status") == "failed"
    if not overwrite and not failed:
        raise FileExistsError(f"output folder {target} already holds {_state(target, record)}; pass {flag} to "
                              f"replace it or choose another --out")
    _refuse_foreign(target, flag)
    if record is not None and record.get("status") == "running":
        log.warning("%s holds %s; replacing it", target, _state(target, record))
    if backup.exists():
        if record is not None and record.get("status") == "complete":
            remove_ours(backup)  # an older replaced run whose successor did complete
        else:  # the folder holds an unfinished replacement: keep the run it replaced
            remove_ours(target, keep=(LOCK,))
            return True
    if failed or backup.exists():
        remove_ours(target, keep=(LOCK,))
    else:
        _replace(target, backup, command)
    return True


@contextlib.contextmanager
def run_folder(out: str | Path, *, command: str, overwrite: bool = False,
               inputs: Iterable[str | Path | None] = ()) -> Iterator[RunFolder]:
    """``open_run`` as a context: completed on success, rolled back on any exception (Ctrl-C too)."""
    run = open_run(out, command=command, overwrite=overwrite, inputs=inputs)
    try:
        yield run
    except BaseException as exc:
        run.abort(exc)
        raise
    if not run.completed:
        run.complete()


def prepare_run_dir(path: str | Path, *, overwrite: bool = False, inputs: Iterable[str | Path | None] = (),
                    command: str = "run") -> Path:
    """Create a run folder for code that manages its own life cycle (notebooks, tests); see ``open_run``.
    The folder stays locked by this process until ``mark_complete``."""
    return open_run(path, command=command, overwrite=overwrite, inputs=inputs).path


def mark_running(path: str | Path, command: str) -> None:
    """Take the run folder's lock and mark it as being written again (a resumed training run); refused
    naming the holder while another process writes it."""
    path = Path(path)
    if path.is_symlink():
        raise ValueError(f"--out {path} is a symbolic link; pass the folder it points to")
    locks.acquire(path, command)
    record = read_record(path)
    if record is not None and record.get("status") == "running" and record.get("pid") != os.getpid():
        log.warning("%s was %s; taking it over", path, locks.stale_note(record) or "left running")
    write_record(path, command, "running")


def mark_complete(path: str | Path, command: str = "run") -> None:
    """Mark a folder made by ``prepare_run_dir`` complete once everything is written."""
    RunFolder(Path(path), command).complete()
