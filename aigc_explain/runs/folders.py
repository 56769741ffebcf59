"""The life cycle of a run folder: create, replace, complete, roll back.

A run folder carries a record, ``aigc_run.json``, written when the run starts (status ``running``, which also
proves the folder is writable before any work) and rewritten last (status ``complete``, with every file's
size), so a reader can tell a finished run from an interrupted or damaged one. ``--overwrite`` replaces only
a folder this toolkit wrote, never one that holds the run's own inputs; the old run is moved aside first and
put back if the new one fails, so an interrupted replacement never leaves the user with neither.
Standard library only.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from aigc_explain.runs.contract import RECORD
from aigc_explain.runs.files import write_json, write_skipped

RECORD_FORMAT = "aigc_explain.run"
RECORD_VERSION = 1

log = logging.getLogger(__name__)


def read_record(folder: str | Path) -> dict[str, Any] | None:
    """The folder's ``aigc_run.json`` as a dict, or None when it has none (or an unreadable one)."""
    try:
        record = json.loads((Path(folder) / RECORD).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("format") == RECORD_FORMAT else None


def _legacy_manifest(folder: Path) -> bool:
    """A run folder written before records existed: its manifest names this toolkit."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and "command" in manifest and \
        "aigc_explain" in (manifest.get("versions") or {})


def _files(folder: Path) -> dict[str, int]:
    """Every file below ``folder`` (links not followed) with its size, the record itself left out."""
    found = {}
    for root, dirs, names in os.walk(folder):
        for name in names:
            full = Path(root) / name
            rel = full.relative_to(folder).as_posix()
            if rel != RECORD:
                found[rel] = full.lstat().st_size
    return found


def _write_record(folder: Path, command: str, status: str, **extra: Any) -> None:
    write_json(folder / RECORD, {"format": RECORD_FORMAT, "version": RECORD_VERSION, "command": command,
                                 "status": status, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **extra})


def check_complete(folder: str | Path, *, what: str = "run folder") -> dict[str, Any]:
    """The record of a finished, undamaged run; otherwise ValueError naming what is wrong and the fix."""
    folder = Path(folder)
    record = read_record(folder)
    if record is None:
        raise ValueError(f"{what} {folder} has no {RECORD}: it was written by an older aigc_explain or is not "
                         f"a run folder; run the command that makes it again")
    if record.get("status") != "complete":
        raise ValueError(f"{what} {folder} is incomplete (status {record.get('status')!r}: interrupted, failed or "
                         f"still running); finish it (train --resume) or run its command again with --overwrite")
    for rel, size in (record.get("files") or {}).items():
        path = folder / rel
        try:
            actual = path.lstat().st_size
        except OSError:
            raise ValueError(f"{what} {folder} is damaged: {rel} is missing; run its command again") from None
        if actual != size:
            raise ValueError(f"{what} {folder} is damaged: {rel} has {actual} bytes but {size} were written; "
                             f"run its command again") from None
    return record


# ------------------------------------------------------------------------------ run folder life cycle
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


def _check_replaceable(target: Path, flag: str) -> None:
    record = read_record(target)
    if record is None and not _legacy_manifest(target):
        some = sorted(p.name for p in target.iterdir())[:3]
        raise ValueError(f"{flag}: output folder {target} holds files aigc_explain did not write "
                         f"({', '.join(some)}); --overwrite only replaces run folders of aigc_explain: "
                         f"choose another --out")
    if record is not None and record.get("status") == "complete":
        extra = sorted(set(_files(target)) - set(record.get("files") or {}))
        if extra:
            raise ValueError(f"{flag}: run folder {target} also holds files the run did not write "
                             f"({', '.join(extra[:3])}); move them out first or choose another --out")


class RunFolder:
    """A run folder being written. ``complete()`` marks it finished (last); on failure ``abort()`` rolls back:
    the partial run goes and a run it replaced comes back, unless ``keep_partial`` (a resumable training run)."""
    def __init__(self, path: Path, command: str, *, backup: Path | None = None, created: bool = False) -> None:
        self.path, self.command, self.backup, self.created = path, command, backup, created
        self.keep_partial = False
        self.completed = False

    def complete(self, **info: Any) -> None:
        _write_record(self.path, self.command, "complete", files=_files(self.path), **info)
        self.completed = True
        if self.backup is not None and self.backup.exists():
            shutil.rmtree(self.backup)
            self.backup = None

    def abort(self, exc: BaseException | None = None) -> None:
        reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"[:300]
        if self.keep_partial:
            with contextlib.suppress(OSError):
                _write_record(self.path, self.command, "interrupted" if isinstance(exc, KeyboardInterrupt)
                              else "failed", error=reason)
            if self.backup is not None and self.backup.exists():
                log.warning("the run that %s replaced is kept at %s until this run completes", self.path,
                            self.backup)
            return
        skipped = list(getattr(exc, "skipped", None) or [])
        shutil.rmtree(self.path, ignore_errors=True)
        if self.backup is not None and self.backup.exists():
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
                write_skipped(self.path, skipped)
                _write_record(self.path, self.command, "failed", error=reason)
            if isinstance(exc, ValueError) and exc.args:
                exc.args = (f"{exc.args[0]}; the reasons are in {self.path / 'skipped.csv'}",)


def open_run(out: str | Path, *, command: str, overwrite: bool = False, inputs: Iterable[str | Path | None] = (),
             flag: str = "--overwrite") -> RunFolder:
    """Start a run in ``out``: a new or empty folder, a failed run of ours, or (``overwrite``) any run folder
    of ours, which is moved aside and comes back if the new run fails. Checks writability at once."""
    target = Path(out)
    check_apart(target, inputs)
    if target.exists() and not target.is_dir():
        raise FileExistsError(f"output path {target} exists and is not a folder; choose another --out")
    backup = replaced_path(target)
    created = not target.exists()
    if target.is_dir() and any(target.iterdir()):
        record = read_record(target)
        failed = record is not None and record.get("status") == "failed"
        if not overwrite and not failed:
            state = "an incomplete run" if record is not None and record.get("status") != "complete" else "a run"
            raise FileExistsError(f"output folder {target} already holds {state}; pass {flag} to replace it or "
                                  f"choose another --out")
        _check_replaceable(target, flag)
        if backup.exists():
            if record is not None and record.get("status") == "complete":
                shutil.rmtree(backup)  # an older replaced run whose successor did complete
            else:  # the folder holds an unfinished replacement: keep the run it replaced
                shutil.rmtree(target)
        if target.exists():
            if failed:
                shutil.rmtree(target)
            else:
                os.rename(target, backup)
        created = True
    target.mkdir(parents=True, exist_ok=True)
    _write_record(target, command, "running", pid=os.getpid())  # fails here, before any work, if unwritable
    return RunFolder(target, command, backup=backup if backup.exists() else None, created=created)


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
    """Create a run folder for code that manages its own life cycle (notebooks, tests); see ``open_run``."""
    return open_run(path, command=command, overwrite=overwrite, inputs=inputs).path


def mark_running(path: str | Path, command: str) -> None:
    """Mark a run folder as being written again (a resumed training run)."""
    _write_record(Path(path), command, "running", pid=os.getpid())


def mark_complete(path: str | Path, command: str = "run") -> None:
    """Mark a folder made by ``prepare_run_dir`` complete once everything is written."""
    RunFolder(Path(path), command).complete()
