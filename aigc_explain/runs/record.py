"""A run folder's record, ``aigc_run.json``, and what it says is ours.

The record is written first (``running``) and last (``complete``, with every file's size and sha256). A reader
trusts a folder only when the record is complete, well formed, every listed file is a regular file of the
listed size and hash, and the folder holds no symbolic link. The files the toolkit may delete are those the
record or the journal (``runs.locks``) lists, plus the record, lock and journal themselves; in a folder of an
older version, only the output names it could have written. Standard library only.
"""

from __future__ import annotations

import fnmatch
import json
import os
import stat
import time
from pathlib import Path, PurePosixPath
from typing import Any

from aigc_explain.runs.contract import JOURNAL, LEGACY_OUTPUTS, LOCK, RECORD
from aigc_explain.runs.files import sha256_file, write_json
from aigc_explain.runs.locks import describe_holder, host, probe, read_journal, stale_note

RECORD_FORMAT = "aigc_explain.run"
RECORD_VERSION = 2  # 2: files carry {size, sha256}; 1: sizes only
STATUSES = ("running", "complete", "failed", "interrupted")
MAX_JSON_BYTES = 64 << 20  # a record, summary or settings file larger than this is not one we wrote
_OWN = (RECORD, LOCK, JOURNAL)


def load_json(path: str | Path, *, what: str | None = None) -> Any:
    """Strict JSON of at most ``MAX_JSON_BYTES``; ValueError naming the file otherwise (deep nesting too)."""
    path = Path(path)
    name = what or str(path)
    if path.is_symlink():
        raise ValueError(f"{name} is a symbolic link; run folders hold only the files their run wrote")
    with open(path, "rb") as fh:
        data = fh.read(MAX_JSON_BYTES + 1)
    if len(data) > MAX_JSON_BYTES:
        raise ValueError(f"{name} is larger than {MAX_JSON_BYTES >> 20} MiB; it is not a file aigc_explain wrote")
    try:
        return json.loads(data.decode("utf-8", "surrogateescape"))
    except RecursionError:
        raise ValueError(f"{name} is nested too deeply to be a file aigc_explain wrote; run its command again") \
            from None
    except ValueError as exc:
        raise ValueError(f"{name} is not valid JSON ({exc}); run the command that wrote it again") from None


def read_record(folder: str | Path) -> dict[str, Any] | None:
    """The folder's record as a dict, or None when it has none or one that is not a record at all."""
    try:
        record = load_json(Path(folder) / RECORD)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("format") == RECORD_FORMAT else None


def write_record(folder: Path, command: str, status: str, **extra: Any) -> None:
    """Rewrite the record; an unfinished one keeps the files an earlier, complete record listed (a resumed run's
    older files stay ours)."""
    if status != "complete" and "files" not in extra:
        previous = read_record(folder)
        if previous is not None and isinstance(previous.get("files"), dict):
            extra["files"] = previous["files"]
    write_json(folder / RECORD, {"format": RECORD_FORMAT, "version": RECORD_VERSION, "command": command,
                                 "status": status, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                                 "pid": os.getpid(), "host": host(), **extra})


def walk(folder: Path) -> tuple[list[str], list[str]]:
    """(files, symbolic links) below ``folder`` as relative posix names; links are never followed."""
    files, links = [], []
    for root, dirs, names in os.walk(folder):
        for name in dirs + names:
            full = Path(root) / name
            rel = full.relative_to(folder).as_posix()
            if full.is_symlink():
                links.append(rel)
            elif name in names:
                files.append(rel)
    return sorted(files), sorted(links)


def list_files(folder: Path) -> dict[str, dict[str, Any]]:
    """Every file below ``folder`` but the record, lock and journal, with its size and sha256."""
    files, _ = walk(folder)
    return {rel: {"size": (folder / rel).lstat().st_size, "sha256": sha256_file(folder / rel)}
            for rel in files if rel not in _OWN}


def _safe_name(rel: Any) -> bool:
    if not isinstance(rel, str) or not rel or "\x00" in rel:
        return False
    parts = PurePosixPath(rel).parts
    return not PurePosixPath(rel).is_absolute() and ".." not in parts and rel not in _OWN


def _entry(value: Any) -> tuple[int, str | None] | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value, None  # a version-1 record: sizes only
    if isinstance(value, dict) and isinstance(value.get("size"), int) and not isinstance(value["size"], bool) \
            and value["size"] >= 0 and isinstance(value.get("sha256"), str) and len(value["sha256"]) == 64:
        return value["size"], value["sha256"]
    return None


def check_complete(folder: str | Path, *, what: str = "run folder", hashes: bool = True) -> dict[str, Any]:
    """The record of a finished, undamaged run; otherwise ValueError naming what is wrong and the fix."""
    folder = Path(folder)
    if folder.is_symlink():
        raise ValueError(f"{what} {folder} is a symbolic link; pass the folder it points to")
    record = read_record(folder)
    if record is None:
        raise ValueError(f"{what} {folder} has no {RECORD}: it was written by an older aigc_explain or is not "
                         f"a run folder; run the command that makes it again")
    status = record.get("status")
    if status != "complete":
        holder = probe(folder) if status == "running" else None
        note = f"still being written by {describe_holder(holder)}" if holder else \
            stale_note(record) if status == "running" else ""
        raise ValueError(f"{what} {folder} is a run that did not finish (status {status!r}"
                         f"{': ' + note if note else ': interrupted, failed or still running'}); finish it "
                         f"(train --resume) or run its command again with --overwrite")
    files = record.get("files")
    if not isinstance(files, dict) or not files:
        raise ValueError(f"{what} {folder} is damaged: its {RECORD} lists no files; run its command again")
    _, links = walk(folder)
    if links:
        raise ValueError(f"{what} {folder} holds a symbolic link ({links[0]}); a run folder holds only the files "
                         f"its run wrote: remove the link or run its command again")
    for rel, value in files.items():
        entry = _entry(value)
        if not _safe_name(rel) or entry is None:
            raise ValueError(f"{what} {folder} is damaged: its {RECORD} lists {str(rel)[:80]!r} with "
                             f"{str(value)[:80]}; run its command again")
        size, digest = entry
        try:
            st = (folder / rel).lstat()
        except OSError:
            raise ValueError(f"{what} {folder} is damaged: {rel} is missing; run its command again") from None
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{what} {folder} is damaged: {rel} is not a regular file; run its command again")
        if st.st_size != size:
            raise ValueError(f"{what} {folder} is damaged: {rel} has {st.st_size} bytes but {size} were written; "
                             f"run its command again")
        if hashes and digest is not None and sha256_file(folder / rel) != digest:
            raise ValueError(f"{what} {folder} is damaged: {rel} is not the file the run wrote (its sha256 "
                             f"differs); run its command again")
    return record


# ------------------------------------------------------------------------------ what is ours
def _legacy_manifest(folder: Path) -> bool:
    """A run folder written before records existed: its manifest names this toolkit."""
    try:
        manifest = load_json(folder / "manifest.json")
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and "command" in manifest and \
        isinstance(manifest.get("versions"), dict) and "aigc_explain" in manifest["versions"]


def is_ours(folder: Path) -> bool:
    """A folder aigc_explain wrote: it has a record or a run's lock, or the manifest of an older version."""
    return read_record(folder) is not None or (folder / LOCK).is_file() or _legacy_manifest(folder)


def _temporary_of(rel: str, names: set[str]) -> bool:
    """``.NAME.xxxx.tmp``: the temporary file of an atomic write of NAME that a kill interrupted."""
    path = PurePosixPath(rel)
    if not (path.name.startswith(".") and path.name.endswith(".tmp")):
        return False
    stem = path.name[1:].rsplit(".", 2)[0]
    return str(path.parent / stem).removeprefix("./") in names


def foreign_files(folder: Path) -> list[str]:
    """Files and links below ``folder`` that the toolkit did not write (empty: the whole folder is ours)."""
    record = read_record(folder)
    files, links = walk(folder)
    listed = record.get("files") if record is not None else None
    names = set(listed) if isinstance(listed, dict) else set()
    names |= read_journal(folder)
    legacy = record is None or record.get("version") != RECORD_VERSION  # older: only its output names are ours
    nested = {str(PurePosixPath(rel).parent) for rel in files if PurePosixPath(rel).name == RECORD and "/" in rel}
    nested = {n for n in nested if is_ours(folder / n)}
    foreign = [rel for rel in links if not any(rel.startswith(n + "/") for n in nested)]
    for rel in files:
        inner = next((n for n in sorted(nested, key=len, reverse=True) if rel.startswith(n + "/")), None)
        if inner is not None or rel in _OWN or rel in names or _temporary_of(rel, names):
            continue
        if legacy and any(fnmatch.fnmatchcase(rel, pattern) for pattern in LEGACY_OUTPUTS):
            continue
        foreign.append(rel)
    for inner in nested:
        foreign += [f"{inner}/{rel}" for rel in foreign_files(folder / inner)]
    return sorted(foreign)


def remove_ours(folder: Path, *, keep: tuple[str, ...] = ()) -> list[str]:
    """Delete the toolkit's files below ``folder`` (never anything else), then the folders they leave empty;
    the folder itself goes too when it is left empty. Returns what was left (someone else's files)."""
    left = set(foreign_files(folder))
    files, links = walk(folder)
    for rel in files + links:
        if rel not in left and rel not in keep and not any(rel.startswith(k + "/") for k in keep):
            try:
                (folder / rel).unlink()
            except FileNotFoundError:
                pass
    for root, dirs, _ in sorted(os.walk(folder, topdown=False), key=lambda t: -len(t[0])):
        for name in dirs:
            path = Path(root) / name
            if not path.is_symlink():
                try:
                    path.rmdir()
                except OSError:
                    pass  # not empty: it holds someone else's files
    if not keep:
        try:
            folder.rmdir()
        except OSError:
            pass
    return sorted(left)
