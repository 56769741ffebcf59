"""Writing results: atomic files (temporary file + ``os.replace``), JSON/CSV/NumPy writers, manifests,
``skipped.csv`` and file hashes. A failed write (a full disk, Ctrl-C) leaves the previous file, if any, as it
was. File names that are not valid UTF-8 keep their bytes (surrogate escapes) in every text file written
here and read back with ``open_text``. Standard library + numpy only."""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import json
import logging
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from aigc_explain.runs.locks import note_written

MANIFEST_SCHEMA_VERSION = 1
_VERSIONED = ("aigc_explain", "torch", "torchvision", "timm", "grad-cam", "numpy", "pillow")
TEXT_ERRORS = "surrogateescape"

log = logging.getLogger(__name__)


def library_versions() -> dict[str, str | None]:
    """Installed versions of the libraries whose behaviour shapes our results."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _json_safe(value: Any) -> Any:
    """NaN/inf become null and paths become strings, so every file is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return _json_safe(value.item())
    return value


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write via a temporary file in the same folder and rename: readers never see half a file, and a
    failed write (a full disk) leaves the previous file, if any, as it was."""
    path = Path(path)
    note_written(path)  # journaled first: a run folder always knows which of its files are ours
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; results should be as readable as any file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8", TEXT_ERRORS))


def write_json(path: str | Path, obj: Any) -> None:
    text = json.dumps(_json_safe(obj), indent=2, sort_keys=False, allow_nan=False)
    atomic_write_bytes(path, (text + "\n").encode())


def write_csv(path: str | Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Atomic CSV write; floats keep full precision so json summaries can be recomputed from it."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["nan" if isinstance(v, float) and math.isnan(v) else v for v in row])
    write_text(path, buf.getvalue())


def save_npy(path: str | Path, array: Any) -> None:
    buf = io.BytesIO()
    np.save(buf, array)
    atomic_write_bytes(path, buf.getvalue())


def save_npz(path: str | Path, *, compressed: bool = False, **arrays: Any) -> None:
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def open_text(path: str | Path):
    """Open a text file this toolkit wrote (UTF-8, undecodable file-name bytes kept as surrogates)."""
    return open(path, encoding="utf-8", errors=TEXT_ERRORS, newline="")


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(run_dir: str | Path, *, command: str, arguments: dict[str, Any], **extra: Any) -> dict:
    """Write ``manifest.json``: what produced this folder, with which libraries, when."""
    manifest = {
        "schema_version": MANIFEST_SCHEMA_VERSION,
        "command": command,
        "argv": sys.argv,
        "arguments": arguments,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "versions": library_versions(),
        **extra,
    }
    write_json(Path(run_dir) / "manifest.json", manifest)
    return manifest


def write_skipped(run_dir: str | Path, skipped: Sequence[tuple[str, str]]) -> Path:
    """``skipped.csv`` (path, reason) — always written, empty but for its header when nothing failed."""
    path = Path(run_dir) / "skipped.csv"
    unique = dict(skipped)  # the same bad file met in every epoch is listed once
    write_csv(path, ("path", "reason"), sorted(unique.items()))
    if unique:
        log.warning("%d file(s) could not be read and were skipped; see %s", len(unique), path)
    return path



_OS_HINTS = {errno.ENOSPC: "the disk is full: free space or choose another --out",
             errno.EDQUOT: "the disk quota is exceeded: free space or choose another --out",
             errno.EROFS: "the file system is read-only: choose another --out",
             errno.EACCES: "permission denied: choose a folder you can write to",
             errno.EPERM: "operation not permitted: choose a folder you can write to"}


def describe_os_error(exc: OSError) -> str:
    """One line for an OSError: what failed, on which path, and the fix where one is known."""
    where = f" ({exc.filename})" if exc.filename else ""
    hint = _OS_HINTS.get(exc.errno or -1)
    text = exc.strerror or str(exc)
    return f"{text}{where}" + (f"; {hint}" if hint else "")
