"""What the reader checks before it trusts a run file: types and structure of json, finite and in-range values
in csv columns, and array shapes, dtypes and declared sizes before anything is loaded. Every violation is one
ValueError naming the file. Standard library + numpy.
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from aigc_explain.runs.contract import GROUPS
from aigc_explain.runs.records import R, RecordError

MAX_SIDE = 16384  # no map or input size we write is larger
_AGAIN = "run the command that wrote it again"


def bad(path: str | Path, what: str) -> ValueError:
    return ValueError(f"{path} {what}; {_AGAIN}")


def read_record_file(cls: type[R], data: Any, path: str | Path) -> R:
    """``data`` (read from ``path``) as the record ``cls``; a value of the wrong shape is one line naming the file."""
    try:
        return cls.from_json(data, path=Path(path).name)
    except RecordError as exc:
        raise bad(path, f"is not a valid {Path(path).name}: {exc}") from None


def mapping(obj: Any, path: str | Path, what: str = "") -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise bad(path, f"holds {type(obj).__name__} {'in ' + what + ' ' if what else ''}where an object belongs")
    return obj


def _int(value: Any, lo: int, hi: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi


def size_pair(value: Any, path: str | Path, key: str) -> tuple[int, int]:
    if not (isinstance(value, (list, tuple)) and len(value) == 2 and all(_int(v, 1, MAX_SIDE) for v in value)):
        raise bad(path, f"has {key} {str(value)[:60]}, not two sizes from 1 to {MAX_SIDE}")
    return int(value[0]), int(value[1])


def check_summary(summary: Any, path: Path) -> dict[str, Any]:
    """A CAM run's ``summary.json``: the fields the readers use, with their types."""
    summary = mapping(summary, path)
    size_pair(summary.get("map_size"), path, "map_size")
    size_pair(summary.get("input_size"), path, "input_size")
    groups = mapping(summary.get("groups", {}), path, "groups")
    for name, group in groups.items():
        if name not in GROUPS:
            raise bad(path, f"names an unknown group {name[:40]!r} (known: {', '.join(GROUPS)})")
        if not _int(mapping(group, path, f"groups.{name}").get("n"), 0, 10**12):
            raise bad(path, f"has groups.{name}.n {str(group.get('n'))[:40]}, not a count")
    for key in ("settings", "detector", "regions", "preprocessing"):
        if key in summary and summary[key] is not None:
            mapping(summary[key], path, key)
    for key in ("method", "layer", "target"):
        if key in summary and not isinstance(summary[key], str):
            raise bad(path, f"has {key} {str(summary[key])[:40]}, not a name")
    warnings = summary.get("warnings", [])
    if not isinstance(warnings, list) or not all(isinstance(w, str) for w in warnings):
        raise bad(path, "has warnings that are not a list of lines")
    for key, value in (summary.get("regions") or {}).items():
        if not (isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value <= 1):
            raise bad(path, f"has regions.{key} {str(value)[:40]}, not a fraction in (0, 1]")
    return summary


def in_range(values: np.ndarray, path: Path, column: str, lo: float, hi: float, *, nan: np.ndarray | None = None
             ) -> np.ndarray:
    """``values`` finite and within [lo, hi]; NaN exactly where ``nan`` says (nowhere when None)."""
    expect_nan = np.zeros(len(values), bool) if nan is None else nan
    isnan = np.isnan(values)
    wrong = (isnan != expect_nan) | (~isnan & (~np.isfinite(values) | (values < lo) | (values > hi)))
    if wrong.any():
        i = int(np.flatnonzero(wrong)[0])
        raise bad(path, f"column {column} row {i + 1} holds {values[i]!r}; it must be a finite number in "
                        f"[{lo:g}, {hi:g}]" + (" (NaN only for an empty map)" if nan is not None else ""))
    return values


def flags(values: list[str], path: Path, column: str) -> np.ndarray:
    wrong = [v for v in values if v not in ("True", "False")]
    if wrong:
        raise bad(path, f"column {column} holds {wrong[0][:40]!r}; expected True or False")
    return np.array([v == "True" for v in values], dtype=bool)


def check_history(history: dict[str, np.ndarray], path: Path) -> None:
    epochs = history["epoch"]
    if not (np.all(np.isfinite(epochs)) and np.array_equal(epochs, np.arange(1, len(epochs) + 1))):
        raise bad(path, "column epoch is not 1, 2, 3, …")
    for key in ("train_acc", "val_acc"):
        in_range(history[key], path, key, 0.0, 1.0)
    for key in ("train_loss", "val_loss"):
        in_range(history[key], path, key, 0.0, 1e6)


# ------------------------------------------------------------------------------ arrays, before loading
def _header(fh, path: Path, name: str) -> tuple[tuple[int, ...], np.dtype]:
    try:
        version = np.lib.format.read_magic(fh)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read(fh)
    except (ValueError, OSError, EOFError) as exc:
        raise bad(path, f"holds {name} that is not a numpy array ({exc})") from None
    if dtype.hasobject:
        raise bad(path, f"holds {name} of Python objects; aigc_explain writes numbers and text only")
    return tuple(int(s) for s in shape), dtype


def npy_header(path: Path, *, shape: tuple[int, ...] | None = None) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype a ``.npy`` file declares, checked against its size (and ``shape``) unread."""
    with open(path, "rb") as fh:
        found, dtype = _header(fh, path, "an array")
        offset = fh.tell()
    if shape is not None and found != shape:
        raise bad(path, f"holds an array of shape {found}; the run recorded {shape}")
    if math.prod(found) * dtype.itemsize + offset != path.stat().st_size:
        raise bad(path, f"declares {found} {dtype} but holds {path.stat().st_size} bytes")
    return found, dtype


def npz_members(path: Path, budget: int) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Each member's declared shape and dtype, read from the zip's headers, after checking that what the archive
    declares (zip sizes and array headers) fits ``budget`` bytes: a small file never inflates to gigabytes."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            declared = sum(i.file_size for i in infos)
            if declared > budget:
                raise bad(path, f"declares {declared} bytes uncompressed, more than the {budget} its run recorded "
                                f"(a compressed bomb or a damaged file)")
            members = {}
            for info in infos:
                name = info.filename.removesuffix(".npy")
                with archive.open(info) as fh:
                    shape, dtype = _header(fh, path, name)
                if math.prod(shape) * dtype.itemsize > info.file_size:
                    raise bad(path, f"declares {name} of shape {shape} in {info.file_size} bytes")
                members[name] = (shape, dtype)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
        raise bad(path, f"is not a readable archive ({type(exc).__name__}: {exc})") from None
    return members


def check_array(array: np.ndarray, path: Path, name: str, *, shape: tuple[int, ...] | None = None,
                kind: str = "f", lo: float | None = None, hi: float | None = None, nan: bool = False) -> np.ndarray:
    """An array's dtype kind, shape and value range, as the run recorded them."""
    if array.dtype.kind not in kind:
        raise bad(path, f"holds {name} of dtype {array.dtype}, not {'/'.join(kind)}")
    if shape is not None and array.shape != shape:
        raise bad(path, f"holds {name} of shape {array.shape}; the run recorded {shape}")
    if array.dtype.kind in "fiu" and array.size:
        values = array[~np.isnan(array)] if nan and array.dtype.kind == "f" else array
        if array.dtype.kind == "f" and not np.all(np.isfinite(values)):
            raise bad(path, f"holds non-finite values in {name}")
        if values.size and ((lo is not None and values.min() < lo) or (hi is not None and values.max() > hi)):
            raise bad(path, f"holds {name} outside [{lo}, {hi}]")
    return array
