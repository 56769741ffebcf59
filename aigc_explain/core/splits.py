"""Training and validation splits that never overlap.

A training run validates on ``<data>/val`` and trains on ``<data>/train``. A folder holding only the class
folders is refused unless ``--val-split F`` asks for a seeded split, stratified by class, which is recorded in
the run folder (``train_files.csv``, ``val_files.csv``: ``path,label``) so ``evaluate`` and ``cam`` can use
exactly the held-out part (``--images RUN/val_files.csv``). Either way, files whose bytes are identical in both
splits are counted: a duplicate across splits is a leak, and the run says so.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from aigc_explain.core.folders import EXPECTED_LAYOUT, Sample, class_dirs, find_samples
from aigc_explain.runs.contract import LABEL_NAMES
from aigc_explain.runs.files import write_csv

log = logging.getLogger(__name__)

SPLIT_FILES = {"train": "train_files.csv", "val": "val_files.csv"}


@dataclass(frozen=True)
class Splits:
    train: list[Sample]
    val: list[Sample]
    source: str  # "folders" (<data>/train and <data>/val) or "val-split" (made here from one folder)
    val_split: float | None = None
    seed: int = 0
    duplicates: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """What the manifest says about the splits."""
        return {"source": self.source, "val_split": self.val_split, "seed": self.seed,
                "files": dict(SPLIT_FILES) if self.source == "val-split" else None,
                "duplicates_across_splits": self.duplicates}


def check_val_split(value: float | None) -> None:
    if value is not None and not (isinstance(value, (int, float)) and 0 < value < 1):
        raise ValueError(f"--val-split must be a fraction in (0, 1), e.g. 0.2, got {value!r}")


def stratified_split(samples: list[Sample], fraction: float, seed: int) -> tuple[list[Sample], list[Sample]]:
    """(train, val): per class a seeded ``fraction`` (at least one image) held out; both lists sorted by path."""
    check_val_split(fraction)
    rng = np.random.default_rng(seed)
    train, val = [], []
    by_label: dict[int, list[Sample]] = defaultdict(list)
    for s in sorted(samples, key=lambda s: s.path):
        by_label[s.label].append(s)
    for label in sorted(by_label):
        group = by_label[label]
        if len(group) < 2:
            raise ValueError(f"--val-split needs at least 2 {LABEL_NAMES[label]} images to hold one out, "
                             f"found {len(group)}")
        n_val = min(len(group) - 1, max(1, int(round(fraction * len(group)))))
        chosen = set(rng.permutation(len(group))[:n_val].tolist())
        for i, s in enumerate(group):
            (val if i in chosen else train).append(s)
    return sorted(train, key=lambda s: s.path), sorted(val, key=lambda s: s.path)


def _digest(path: str, limit: int | None = None) -> str | None:
    """blake2b of the file's bytes (its first ``limit`` bytes only, when given); None when it cannot be read."""
    h = hashlib.blake2b(digest_size=16)
    try:
        with open(path, "rb") as f:
            if limit is not None:
                h.update(f.read(limit))
            else:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
    except OSError:
        return None
    return h.hexdigest()


def _size(path: str) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None


HEAD = 4096  # bytes hashed first: files of one size that differ mostly differ here already


def cross_split_duplicates(train: list[Sample], val: list[Sample], *, examples: int = 5) -> dict[str, Any]:
    """Validation images whose bytes equal a training image's: ``{"count", "examples": [[val, train], …]}``.
    Files are compared by size, then by a digest of their first ``HEAD`` bytes, and read whole only when both
    agree (in most datasets: never), so start-up stays close to one ``stat`` per file."""
    sizes = [{s.path: n for s in split if s.problem is None and (n := _size(s.path)) is not None}
             for split in (train, val)]
    shared = set(sizes[0].values()) & set(sizes[1].values())
    heads: dict[tuple[int, str | None], list[str]] = defaultdict(list)
    for path, n in sizes[0].items():
        if n in shared:
            heads[n, _digest(path, HEAD)].append(path)
    whole: dict[str, str | None] = {}  # full digests, each training file read once at most
    found = []
    for path, n in sizes[1].items():
        same_head = heads.get((n, _digest(path, HEAD))) if n in shared else None
        if not same_head:
            continue
        digest = _digest(path)
        for other in same_head:
            if other not in whole:
                whole[other] = _digest(other)
            if digest is not None and whole[other] == digest:
                found.append([path, other])
                break
    return {"count": len(found), "examples": found[:examples]}


def duplicate_warning(duplicates: dict[str, Any]) -> str | None:
    count = duplicates.get("count", 0)
    if not count:
        return None
    val_path, train_path = duplicates["examples"][0]
    return (f"{count} validation image(s) have the same bytes as a training image (e.g. {val_path} = {train_path}): "
            f"a duplicate across splits is a leak that inflates validation accuracy; remove them from one split")


def training_splits(data: str | Path, *, val_split: float | None = None, seed: int = 0,
                    recorded_in: str | Path | None = None) -> Splits:
    """The run's (train, val) samples: ``<data>/train`` and ``<data>/val``, or a seeded stratified split of a
    folder of class folders when ``val_split`` is given. A folder without train/ and val/ and without
    ``val_split`` is refused: validating on the training images would pick the "best" model on them.
    ``recorded_in``: a resumed run's folder, whose recorded lists (if any) are its split, kept as it was."""
    check_val_split(val_split)
    recorded = recorded_splits(recorded_in) if recorded_in is not None and val_split is not None else None
    if recorded is not None:
        return Splits(recorded[0], recorded[1], "val-split", float(val_split), seed)
    root = Path(data)
    if not root.is_dir():
        raise FileNotFoundError(f"data folder {root} does not exist ({EXPECTED_LAYOUT})")
    labelled = {name: (root / name).is_dir() and bool(class_dirs(root / name)) for name in ("train", "val")}
    if all(labelled.values()):
        if val_split is not None:
            raise ValueError(f"--val-split {val_split}: {root} already has train/ and val/ folders; drop --val-split "
                             f"(it splits a folder that holds only 0_real/ and 1_fake/)")
        train = find_samples(root / "train", require_labels=True)
        val = find_samples(root / "val", require_labels=True)
        splits = Splits(train, val, "folders", None, seed)
    elif class_dirs(root):
        if val_split is None:
            raise ValueError(f"--data {root} holds class folders but no train/ and val/ splits: training would "
                             f"validate on its own training images; pass --val-split 0.2 to hold out a seeded, "
                             f"class-stratified 20%, or lay the data out as <root>/train|val/0_real|1_fake")
        train, val = stratified_split(find_samples(root, require_labels=True), val_split, seed)
        splits = Splits(train, val, "val-split", float(val_split), seed)
    else:
        missing = [name for name, ok in labelled.items() if not ok]
        raise FileNotFoundError(f"--data {root} has no {' and no '.join(f'{m}/' for m in missing)} folder with "
                                f"0_real/ and 1_fake/ ({EXPECTED_LAYOUT}); for a folder of class folders only, "
                                f"pass --val-split 0.2")
    return replace(splits, duplicates=cross_split_duplicates(splits.train, splits.val))


def write_split_lists(run_dir: str | Path, splits: Splits) -> None:
    """``train_files.csv`` and ``val_files.csv`` (absolute paths) for a split made here; nothing otherwise."""
    if splits.source != "val-split":
        return
    for name, samples in (("train", splits.train), ("val", splits.val)):
        write_csv(Path(run_dir) / SPLIT_FILES[name], ("path", "label"),
                  [[os.path.abspath(s.path), LABEL_NAMES[s.label]] for s in samples])


def recorded_splits(run_dir: str | Path) -> tuple[list[Sample], list[Sample]] | None:
    """The split lists a ``--val-split`` run wrote, or None when the run has none."""
    paths = {name: Path(run_dir) / file for name, file in SPLIT_FILES.items()}
    if not all(p.is_file() for p in paths.values()):
        return None
    return find_samples(paths["train"], require_labels=True), find_samples(paths["val"], require_labels=True)
