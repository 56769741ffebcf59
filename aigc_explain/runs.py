"""Run folders: creation without silent overwrites, manifests, atomic writes, file hashes.

Every command that writes results writes them into one run folder with a ``manifest.json`` that
records what produced them (schema version, arguments, library versions, checkpoint hash), so a
folder found months later still says where it came from. Pure standard library: no torch here.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

MANIFEST_SCHEMA_VERSION = 1
_VERSIONED = ("aigc_explain", "torch", "torchvision", "timm", "grad-cam", "numpy", "pillow")

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


def prepare_run_dir(path: str | Path, *, overwrite: bool = False, flag: str = "--overwrite") -> Path:
    """Create ``path`` for a new run; refuse a non-empty folder unless ``overwrite``.

    With ``overwrite`` the old contents are removed first, so no stale file from an earlier run
    can be mistaken for a result of this one.
    """
    run = Path(path)
    if run.exists() and not run.is_dir():
        raise FileExistsError(f"output path {run} exists and is not a folder; choose another --out")
    if run.is_dir() and any(run.iterdir()):
        if not overwrite:
            raise FileExistsError(
                f"output folder {run} already holds a run; pass {flag} to replace it or choose another --out"
            )
        shutil.rmtree(run)
    run.mkdir(parents=True, exist_ok=True)
    return run


def _json_safe(value: Any) -> Any:
    """NaN/inf become null and paths become strings, so every manifest is strict JSON."""
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
    """Write via a temporary file in the same folder and rename: readers never see half a file."""
    path = Path(path)
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


def write_json(path: str | Path, obj: Any) -> None:
    text = json.dumps(_json_safe(obj), indent=2, sort_keys=False, allow_nan=False)
    atomic_write_bytes(path, (text + "\n").encode())


def write_csv(path: str | Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Atomic CSV write; floats keep full precision so json summaries can be recomputed from it."""
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["nan" if isinstance(v, float) and math.isnan(v) else v for v in row])
    atomic_write_bytes(path, buf.getvalue().encode())


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
