"""Owning a run folder: an exclusive lock held for the run's life, and the journal of the files it wrote.

The lock is ``fcntl.flock`` on the empty file ``.aigc_run.lock`` inside the run folder; the holder's record
names it (pid, host, command, time), so a second writer is refused in one line naming it. The kernel drops the lock when its holder
dies, so a record that still says ``running`` while nobody holds the lock was left by a process that no longer
runs (a stale run). Locks are per process and re-entrant: a process may reopen a folder it already holds.

Every file written through ``runs.files`` into a folder this process holds is appended to ``.aigc_run.journal``
before it is written, so in every state (running, failed, interrupted, killed) the toolkit knows which files in
a run folder are its own and deletes nothing else. Standard library only.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
from pathlib import Path
from typing import Any

from aigc_explain.runs.contract import JOURNAL, LOCK, RECORD


class RunFolderBusy(FileExistsError):
    """Another process holds the run folder's lock."""


class _Held:
    def __init__(self, folder: Path, fd: int) -> None:
        self.folder, self.fd, self.depth = folder, fd, 1
        self.journaled: set[str] = set()


_HELD: dict[Path, _Held] = {}  # resolved folder -> the lock this process holds on it


def host() -> str:
    return socket.gethostname()


def pid_alive(pid: Any) -> bool:
    """Whether ``pid`` names a live process on this host."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_holder(folder: Path) -> dict[str, Any]:
    """Who holds ``folder``: the pid, host, command and time its record names (the holder writes it first)."""
    try:
        with open(folder / RECORD, "rb") as fh:
            info = json.loads(fh.read(1 << 20).decode("utf-8", "replace"))
    except (OSError, ValueError, RecursionError):
        return {}
    return info if isinstance(info, dict) else {}


def describe_holder(info: dict[str, Any]) -> str:
    """``pid 123 on host h (cam, since …)`` from a lock file's or a record's fields."""
    what = f"pid {info.get('pid', '?')} on host {info.get('host', '?')}"
    extra = ", ".join(str(info[k])[:80] for k in ("command", "time") if isinstance(info.get(k), (str, int)))
    return what + (f" ({extra})" if extra else "")


def stale_note(record: dict[str, Any] | None) -> str:
    """For a record left ``running`` with its lock free: who left it and that it no longer runs."""
    if not isinstance(record, dict) or record.get("status") != "running":
        return ""
    pid, where = record.get("pid"), record.get("host")
    if not isinstance(pid, int) or not isinstance(where, (str, type(None))):
        return "left by a process that no longer holds the folder's lock"
    if where == host() and pid_alive(pid) and pid != os.getpid():
        return f"left by pid {pid} on host {where}, which runs but does not hold the folder's lock"
    if where in (None, host()):
        return f"left by pid {pid} on host {where or host()}, which no longer runs"
    return f"left by pid {pid} on host {where}, which no longer holds the folder's lock"


def acquire(folder: str | Path, command: str) -> None:
    """Lock ``folder`` (an existing folder) for this process; ``RunFolderBusy`` names the holder otherwise."""
    folder = Path(folder)
    key = folder.resolve()
    if key in _HELD:
        _HELD[key].depth += 1
        return
    try:
        fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ValueError(f"run folder {folder} holds a symbolic link named {LOCK}; remove it") from None
        raise
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        holder = _read_holder(folder)
        raise RunFolderBusy(f"run folder {folder} is being written by {describe_holder(holder)}; two runs must "
                            f"not write one folder: wait for it to finish, stop it, or choose another --out") from None
    except BaseException:
        os.close(fd)
        raise
    _HELD[key] = _Held(folder, fd)


def probe(folder: str | Path) -> dict[str, Any] | None:
    """The holder of ``folder``'s lock when another process holds it, else None (creates nothing)."""
    folder = Path(folder)
    if folder.resolve() in _HELD:
        return None
    try:
        fd = os.open(folder / LOCK, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _read_holder(folder) or {"pid": "?", "host": "?"}
    finally:
        os.close(fd)  # closing drops the shared lock taken to look
    return None


def holds(folder: str | Path) -> bool:
    return Path(folder).resolve() in _HELD


def release(folder: str | Path, *, force: bool = False) -> None:
    """Give up this process's lock on ``folder`` (the outermost release of a re-entrant lock); no-op if not held."""
    key = Path(folder).resolve()
    held = _HELD.get(key)
    if held is None:
        return
    held.depth -= 1
    if held.depth > 0 and not force:
        return
    del _HELD[key]
    try:
        fcntl.flock(held.fd, fcntl.LOCK_UN)
    finally:
        os.close(held.fd)


def rekey(old: str | Path, new: str | Path) -> None:
    """The held folder ``old`` was renamed to ``new`` (the lock travels with the folder)."""
    held = _HELD.pop(Path(old).resolve(), None)
    if held is not None:
        held.folder = Path(new)
        _HELD[Path(new).resolve()] = held


def note_written(path: str | Path) -> None:
    """Journal ``path`` in the innermost held run folder that contains it (before the file is written)."""
    if not _HELD:
        return
    target = Path(os.path.abspath(path))
    parent = target.parent.resolve()
    best = None
    for key, held in _HELD.items():
        if (parent == key or key in parent.parents) and (best is None or len(key.parts) > len(best[0].parts)):
            best = (key, held)
    if best is None:
        return
    key, held = best
    rel = (parent / target.name).relative_to(key).as_posix()
    if rel in held.journaled or rel in (LOCK, JOURNAL, RECORD):
        return
    fd = os.open(key / JOURNAL, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    try:
        os.write(fd, (json.dumps(rel) + "\n").encode())
    finally:
        os.close(fd)
    held.journaled.add(rel)


def read_journal(folder: str | Path) -> set[str]:
    """The relative names a run journaled in ``folder`` (empty when it has no journal)."""
    path = Path(folder) / JOURNAL
    try:
        if path.is_symlink():
            return set()
        with open(path, "rb") as fh:
            lines = fh.read(64 << 20).splitlines()
    except OSError:
        return set()
    names = set()
    for line in lines:
        try:
            name = json.loads(line)
        except (ValueError, RecursionError):
            continue  # a line torn by a kill: the file it named was not written yet
        if isinstance(name, str):
            names.add(name)
    return names
