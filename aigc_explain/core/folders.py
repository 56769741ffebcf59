"""Image folders in the report's layout: which files are images, and their labels.

Layouts understood (label 0 = real, 1 = fake, -1 = unknown):
  * a split root ``<root>/<split>/{0_real,1_fake}`` (``real``/``fake`` also accepted),
  * a class folder ``<dir>/{0_real,1_fake}``,
  * a flat folder of images; if the folder itself is named ``0_real``/``1_fake``/``real``/``fake``
    its images take that label, otherwise the label is unknown.

  * one image file (labelled by its folder's name, as above),
  * a list file ``*.csv`` with columns ``path,label`` (label real/fake/unknown), e.g. the
    ``val_files.csv`` a ``train --val-split`` run writes, so exactly its held-out images can be used.

Folders are walked with links followed; a dangling image link or a link loop is kept as a ``Sample``
with its ``problem``, never decoded, so it ends up in ``skipped.csv`` with the reason.
"""

from __future__ import annotations

import csv
import errno
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from aigc_explain.runs.contract import LABEL_NAMES, LABEL_VALUES
from aigc_explain.runs.files import open_text

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"})
CLASS_FOLDERS = {"0_real": 0, "real": 0, "1_fake": 1, "fake": 1}
EXPECTED_LAYOUT = "expected <root>/<split>/0_real|1_fake/*.jpg (or real/fake folders)"


@dataclass(frozen=True)
class Sample:
    path: str
    label: int  # 0 real, 1 fake, -1 unknown
    problem: str | None = None  # why this entry cannot be read (a dangling link, a link loop): never decoded


class NoReadableImages(ValueError):
    """No image of a selection could be read; ``skipped`` holds every (path, reason), for skipped.csv."""
    def __init__(self, message: str, skipped: list[tuple[str, str]]) -> None:
        super().__init__(message)
        self.skipped = list(skipped)


def _walk(folder: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Image files below ``folder`` (links followed) and the entries that cannot be used: dangling image
    links, and folder links that lead back into a folder already being walked (reported once, not followed)."""
    files: list[Path] = []
    problems: list[tuple[Path, str]] = []
    seen: dict[tuple[int, int], Path] = {}

    def visit(path: Path, ancestors: tuple[tuple[int, int], ...]) -> None:
        try:
            entries = sorted(os.scandir(path), key=lambda e: e.name)
        except OSError as exc:
            problems.append((path, f"folder cannot be listed: {describe_error(exc)}"))
            return
        for entry in entries:
            full = Path(entry.path)
            try:
                is_dir = entry.is_dir()  # follows links
            except OSError as exc:
                problems.append((full, _broken_link(full) if entry.is_symlink() else f"cannot be read: {describe_error(exc)}"))
                continue
            if is_dir:
                st = full.stat()
                key = (st.st_dev, st.st_ino)
                if key in ancestors:
                    problems.append((full, f"symbolic link loop: {full} leads back to {os.path.realpath(full)}; "
                                           "not followed"))
                elif key in seen:
                    log.warning("%s is the folder %s again (a link); its images are listed once", full, seen[key])
                else:
                    seen[key] = full
                    visit(full, ancestors + (key,))
            elif entry.is_file():
                if full.suffix.lower() in IMAGE_EXTENSIONS:
                    files.append(full)
            elif entry.is_symlink():
                problem = _broken_link(full)
                if problem and (full.suffix.lower() in IMAGE_EXTENSIONS or "loop" in problem):
                    problems.append((full, problem))

    root = folder.stat()
    seen[(root.st_dev, root.st_ino)] = folder
    visit(folder, ((root.st_dev, root.st_ino),))
    return files, problems


def _broken_link(path: Path) -> str | None:
    """Why a symbolic link leads nowhere (a missing target or a loop of links), or None."""
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return f"symbolic link loop: {path} never reaches a file; not followed"
        return f"dangling symbolic link: its target {os.readlink(path)} does not exist"
    return None


def _images_in(folder: Path, label: int) -> list[Sample]:
    files, problems = _walk(folder)
    samples = [Sample(str(p), label) for p in files] + [Sample(str(p), label, why) for p, why in problems]
    return sorted(samples, key=lambda s: s.path)


def class_dirs(folder: Path) -> dict[int, Path]:
    """Map label -> class subfolder; two folders for the same label is ambiguous, so an error."""
    found: dict[int, Path] = {}
    for child in sorted(p for p in folder.iterdir() if p.is_dir()):
        label = CLASS_FOLDERS.get(child.name.lower())
        if label is None:
            continue
        if label in found:
            raise ValueError(f"{folder} has two folders for label {LABEL_NAMES[label]!r}: "
                             f"{found[label].name} and {child.name}; keep one")
        found[label] = child
    return found


def read_sample_list(path: str | Path) -> list[Sample]:
    """The samples of a ``path,label`` list file (see module docstring), in its order."""
    path = Path(path)
    with open_text(path) as f:
        rows = list(csv.reader(f))
    if not rows or rows[0][:2] != ["path", "label"]:
        raise ValueError(f"image list {path} must be a csv with the columns path,label (as train --val-split "
                         f"writes val_files.csv)")
    samples = []
    for i, row in enumerate(rows[1:], start=2):
        if len(row) < 2 or row[1] not in LABEL_VALUES:
            raise ValueError(f"image list {path}, line {i}: expected path,label with label real/fake/unknown, "
                             f"got {row!r}")
        problem = None if os.path.isfile(row[0]) else "listed in the image list but not found"
        samples.append(Sample(row[0], LABEL_VALUES[row[1]], problem))
    return samples


def find_samples(folder: str | Path, *, require_labels: bool = False) -> list[Sample]:
    """All images under ``folder`` with labels from the folder names (see module docstring)."""
    root = Path(folder)
    if root.is_file() and root.suffix.lower() == ".csv":
        samples = read_sample_list(root)
        if not any(s.problem is None for s in samples):
            raise ValueError(f"no listed image of {root} exists")
        if require_labels and any(s.label < 0 for s in samples):
            raise ValueError(f"{root} lists images without a real/fake label")
        return samples
    if root.is_file() and root.suffix.lower() in IMAGE_EXTENSIONS:  # one image, labelled by its folder's name
        return [Sample(str(root), CLASS_FOLDERS.get(root.parent.name.lower(), -1))]
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist ({EXPECTED_LAYOUT})")
    classes = class_dirs(root)
    if not classes:  # a split root: labelled folders one level down
        nested = {}
        for split in sorted(p for p in root.iterdir() if p.is_dir()):
            for label, cdir in class_dirs(split).items():
                nested.setdefault(label, []).append(cdir)
        samples = [s for label, dirs in sorted(nested.items()) for d in dirs for s in _images_in(d, label)]
        if not nested:
            samples = _images_in(root, CLASS_FOLDERS.get(root.name.lower(), -1))
            subs = sorted(p.name for p in root.iterdir() if p.is_dir())
            if subs and samples and samples[0].label < 0:
                log.warning("%s has sub-folders (%s) that are not class folders (0_real/1_fake): their images are "
                            "read as unlabelled", root, ", ".join(subs[:5]) + (" …" if len(subs) > 5 else ""))
    else:
        if require_labels:
            for label, name in ((0, "0_real"), (1, "1_fake")):
                if label not in classes:
                    raise FileNotFoundError(f"class folder {root / name} is missing ({EXPECTED_LAYOUT})")
        samples = [s for label, d in sorted(classes.items()) for s in _images_in(d, label)]
    for s in samples:
        if s.problem:
            log.warning("%s: %s", s.path, s.problem)
    if not any(s.problem is None for s in samples):
        raise ValueError(f"no images found under {root} ({EXPECTED_LAYOUT}; "
                         f"extensions {', '.join(sorted(IMAGE_EXTENSIONS))})")
    if require_labels and any(s.label < 0 for s in samples):
        raise ValueError(f"{root} has no 0_real/1_fake folders, so its images have no labels ({EXPECTED_LAYOUT})")
    return samples


def labelled_splits(root: str | Path) -> dict[str, Path]:
    """``{split: folder}`` of a split root, or ``{"": root}`` when ``root`` itself holds the class folders."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data folder {root} does not exist ({EXPECTED_LAYOUT})")
    if class_dirs(root):
        return {"": root}
    splits = {p.name: p for p in sorted(root.iterdir()) if p.is_dir() and class_dirs(p)}
    if not splits:
        raise FileNotFoundError(f"{root} holds no 0_real/1_fake folders, nor splits with them ({EXPECTED_LAYOUT})")
    return splits


def split_folder(root: str | Path, split: str) -> Path:
    """``root/split`` when root is a split root, else ``root`` itself when it already holds classes."""
    root = Path(root)
    if root.is_file() and root.suffix.lower() == ".csv":  # an image list (val_files.csv): already one split
        return root
    if not root.is_dir():
        raise FileNotFoundError(f"data folder {root} does not exist ({EXPECTED_LAYOUT})")
    if class_dirs(root):
        return root
    candidate = root / split
    if not candidate.is_dir():
        raise FileNotFoundError(f"split folder {candidate} is missing ({EXPECTED_LAYOUT})")
    return candidate


def balanced_subset(samples: list[Sample], limit: int | None) -> list[Sample]:
    """At most ``limit`` samples, alternating between classes so a quick run still sees both."""
    if limit is None or limit >= len(samples):
        return samples
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    by_label: dict[int, list[Sample]] = {}
    for s in samples:
        by_label.setdefault(s.label, []).append(s)
    ranked = sorted(((i, label) for label, group in by_label.items() for i in range(len(group))))
    return [by_label[label][i] for i, label in ranked[:limit]]


def one_class_warning(samples: list[Sample], where: str | Path) -> str | None:
    """A warning when labelled images hold only one class: accuracy is then that class's alone."""
    labels = {s.label for s in samples if s.label >= 0}
    if len(labels) != 1:
        return None
    have, lack = LABEL_NAMES[labels.pop()], None
    lack = "fake" if have == "real" else "real"
    return (f"{where} holds {have} images only (no {lack} image): accuracy is the {have} accuracy alone, not a "
            f"balanced score, and AP/AUC are undefined")


def class_counts(samples: list[Sample]) -> dict[str, int]:
    return {LABEL_NAMES[k]: sum(s.label == k for s in samples) for k in (0, 1, -1) if any(s.label == k for s in samples)}


def describe_error(exc: BaseException) -> str:
    """``Type: first line of the message``, at most 200 characters: a reason for skipped.csv."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:200]
