"""Image folders in the report's layout, robust image reading, and the recorded transforms.

Layouts understood (label 0 = real, 1 = fake, -1 = unknown):
  * a split root ``<root>/<split>/{0_real,1_fake}`` (``real``/``fake`` also accepted),
  * a class folder ``<dir>/{0_real,1_fake}``,
  * a flat folder of images; if the folder itself is named ``0_real``/``1_fake``/``real``/``fake``
    its images take that label, otherwise the label is unknown.

Bad files never crash an epoch: the dataset returns a failure record, the collate function drops
it, and the caller writes the (path, reason) pairs to ``skipped.csv``.
Evaluation preprocessing is resize to S×S (no centre crop: the corners must survive).
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"})
CLASS_FOLDERS = {"0_real": 0, "real": 0, "1_fake": 1, "fake": 1}
LABEL_NAMES = {0: "real", 1: "fake", -1: "unknown"}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
AUGMENTATIONS = ("none", "report", "blur-jpeg")
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
            problems.append((path, f"folder cannot be listed: {_describe(exc)}"))
            return
        for entry in entries:
            full = Path(entry.path)
            try:
                is_dir = entry.is_dir()  # follows links
            except OSError as exc:
                problems.append((full, _broken_link(full) if entry.is_symlink() else f"cannot be read: {_describe(exc)}"))
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


def _class_dirs(folder: Path) -> dict[int, Path]:
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


def find_samples(folder: str | Path, *, require_labels: bool = False) -> list[Sample]:
    """All images under ``folder`` with labels from the folder names (see module docstring)."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist ({EXPECTED_LAYOUT})")
    classes = _class_dirs(root)
    if not classes:  # a split root: labelled folders one level down
        nested = {}
        for split in sorted(p for p in root.iterdir() if p.is_dir()):
            for label, cdir in _class_dirs(split).items():
                nested.setdefault(label, []).append(cdir)
        samples = [s for label, dirs in sorted(nested.items()) for d in dirs for s in _images_in(d, label)]
        if not nested:
            samples = _images_in(root, CLASS_FOLDERS.get(root.name.lower(), -1))
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


def split_folder(root: str | Path, split: str) -> Path:
    """``root/split`` when root is a split root, else ``root`` itself when it already holds classes."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data folder {root} does not exist ({EXPECTED_LAYOUT})")
    if _class_dirs(root):
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


def _to_rgb_array(img: Image.Image) -> np.ndarray:
    """Any PIL mode -> (H, W, 3) uint8; 16-bit and float images are scaled, not clipped."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        if img.mode == "F":
            top = max(float(arr.max()), 1.0) if arr.max() > 1.0 else 1.0
        gray = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    return np.array(img.convert("RGB"), dtype=np.uint8)


def read_image(path: str | Path) -> torch.Tensor:
    """Decode an image as a (3, H, W) uint8 tensor. Raises on unreadable, truncated or bomb files.

    Pillow checks the pixel count against its decompression-bomb limit before decoding and names
    the problem of a bad file in its exception, which ends up in ``skipped.csv``.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path) as img:
            img.load()
            return _array_to_chw(_to_rgb_array(img))


def _array_to_chw(arr: np.ndarray) -> torch.Tensor:
    # CHW contiguous: a channels-last batch silently takes a much slower convolution path on CPU
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous()


def _describe(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:200]


class ImageDataset(Dataset):
    """Samples -> (image, label, index) or a failure record ``(None, label, index, reason)``.

    A key may be ``(epoch, index)`` (see ``EpochSampler``): the random transform is then seeded by
    (seed, epoch, index), so augmentations do not depend on worker count or on resuming a run.
    """

    def __init__(self, samples: list[Sample], transform: Any, *, seed: int = 0) -> None:
        self.samples = list(samples)
        self.transform = transform
        self.seed = seed

    def __len__(self) -> int:
        return len(self.samples)

    def _load(self, key: int | tuple[int, int]) -> torch.Tensor:
        problem = self.samples[key[1] if isinstance(key, tuple) else key].problem
        if problem:
            raise OSError(problem)
        if isinstance(key, tuple):
            epoch, index = key
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(((self.seed * 1_000_003 + epoch) * 1_000_003 + index) % (2**63))
                return self.transform(read_image(self.samples[index].path))
        return self.transform(read_image(self.samples[key].path))

    def __getitem__(self, key: int | tuple[int, int]) -> tuple:
        index = key[1] if isinstance(key, tuple) else key
        sample = self.samples[index]
        try:
            image = self._load(key)
        except (OSError, ValueError, SyntaxError, RuntimeError, Image.DecompressionBombError,
                Image.DecompressionBombWarning) as exc:  # PIL signals bad files with all of these
            return None, sample.label, index, sample.problem or _describe(exc)
        return image, sample.label, index, ""


@dataclass
class Batch:
    images: torch.Tensor
    labels: torch.Tensor
    indices: torch.Tensor
    failed: list[tuple[int, str]]  # (dataset index, reason)

    def pin_memory(self) -> "Batch":
        self.images = self.images.pin_memory()
        self.labels = self.labels.pin_memory()
        return self


def collate(items: list[tuple], normalize: Callable[[torch.Tensor], torch.Tensor] | None = None) -> Batch:
    """Stack the readable images (then ``normalize`` the whole batch at once); keep the failures so the
    caller can report them."""
    good = [it for it in items if it[0] is not None]
    failed = [(it[2], it[3]) for it in items if it[0] is None]
    if good:
        images = torch.stack([it[0] for it in good])
        if normalize is not None:
            images = normalize(images)
    else:
        images = torch.empty(0)
    return Batch(images, torch.tensor([it[1] for it in good], dtype=torch.float32),
                 torch.tensor([it[2] for it in good], dtype=torch.long), failed)


class Normalize255:
    """uint8 -> float ``(x/255 - mean)/std`` in one pass over one buffer (ToDtype + Normalize take two);
    works on one image or a batch."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        self.shift = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1) * 255.0
        self.scale = 1.0 / (torch.tensor(std, dtype=torch.float32).view(3, 1, 1) * 255.0)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return image.float().sub_(self.shift).mul_(self.scale)


class Resize:
    """Resize a uint8 image to size×size (bilinear, antialiased); a no-op at that size already."""

    def __init__(self, size: int) -> None:
        self.size = int(size)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        from torchvision.transforms.v2 import functional as TF

        if tuple(image.shape[-2:]) == (self.size, self.size):
            return image
        return TF.resize(image, [self.size, self.size], antialias=True)


class RandomJPEG:
    """Re-encode with a random JPEG quality in [low, high] through Pillow's libjpeg (CNNDetection's
    augmentation; torchvision's own JPEG encoder is deprecated)."""

    def __init__(self, low: int, high: int) -> None:
        self.low, self.high = int(low), int(high)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        from .perturb import Perturbation, apply

        quality = int(torch.randint(self.low, self.high + 1, ()).item())
        return apply(image, Perturbation("jpeg", quality))


class ImagePipeline:
    """Per-image uint8 steps, then normalisation. Called on one image it does both; ``make_loader``
    runs the steps per image and normalises each stacked batch once (stacking uint8 moves 4x fewer bytes)."""

    def __init__(self, steps: Callable[[torch.Tensor], torch.Tensor], normalize: Normalize255) -> None:
        self.steps, self.normalize = steps, normalize

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return self.normalize(self.steps(image))


def eval_transform(size: int, mean: tuple[float, ...] = IMAGENET_MEAN, std: tuple[float, ...] = IMAGENET_STD):
    """Resize to size×size (bilinear, antialiased), scale to [0, 1], normalise. No centre crop."""
    return ImagePipeline(Resize(size), Normalize255(mean, std))


def train_transform(size: int, augment: str = "none", mean: tuple[float, ...] = IMAGENET_MEAN,
                    std: tuple[float, ...] = IMAGENET_STD):
    """``none`` = the report's plain setting; ``report`` = flip, rotation ±10°, RandomCrop(padding 4);
    ``blur-jpeg`` = ``report`` plus CNNDetection-style blur (σ 0–3) and JPEG (q 30–100), p=0.5 each."""
    from torchvision.transforms import v2

    if augment not in AUGMENTATIONS:
        raise ValueError(f"augment={augment!r} is not one of {', '.join(AUGMENTATIONS)}")
    if augment == "none":
        return eval_transform(size, mean, std)
    steps: list[Any] = [Resize(size)]
    if augment == "blur-jpeg":
        kernel = 2 * min(9, (size - 1) // 2) + 1  # 3σ at σ=3, but never wider than the image
        steps += [v2.RandomApply([v2.GaussianBlur(kernel, sigma=(1e-3, 3.0))], p=0.5),
                  v2.RandomApply([RandomJPEG(30, 100)], p=0.5)]
    if augment in ("report", "blur-jpeg"):
        steps += [v2.RandomHorizontalFlip(), v2.RandomRotation(10), v2.RandomCrop(size, padding=4)]
    return ImagePipeline(v2.Compose(steps), Normalize255(mean, std))


def describe_preprocessing(size: int, mean: tuple[float, ...], std: tuple[float, ...]) -> dict:
    """What evaluation did to each image, for manifests and summaries."""
    return {"resize": [size, size], "interpolation": "bilinear, antialiased", "center_crop": False,
            "scale": "uint8/255", "mean": list(mean), "std": list(std)}


class EpochSampler(torch.utils.data.Sampler):
    """Yields ``(epoch, index)`` keys over an inner sampler (e.g. ``DistributedSampler``).

    ``set_epoch`` reshuffles deterministically; ``skip`` drops the first keys of an epoch, so a run
    interrupted mid-epoch resumes exactly where it stopped without decoding the skipped images.
    """

    def __init__(self, inner: Any) -> None:
        self.inner, self.epoch, self.skip = inner, 0, 0

    def set_epoch(self, epoch: int, *, skip: int = 0) -> None:
        self.epoch, self.skip = epoch, skip
        if hasattr(self.inner, "set_epoch"):
            self.inner.set_epoch(epoch)

    def __len__(self) -> int:
        return max(0, len(self.inner) - self.skip)

    def __iter__(self):
        for position, index in enumerate(self.inner):
            if position >= self.skip:
                yield (self.epoch, index)


def make_loader(samples: list[Sample], transform: Any, *, batch_size: int, workers: int = 0,
                pin_memory: bool = False, sampler: Any = None, seed: int = 0):
    """DataLoader (in order unless a sampler is given) with our failure-tolerant collate."""
    from torch.utils.data import DataLoader

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if workers < 0:
        raise ValueError(f"workers must be >= 0, got {workers}")
    normalize = None
    if isinstance(transform, ImagePipeline):
        transform, normalize = transform.steps, transform.normalize
    return DataLoader(ImageDataset(samples, transform, seed=seed), batch_size=batch_size,
                      sampler=sampler, num_workers=workers, collate_fn=functools.partial(collate, normalize=normalize),
                      pin_memory=pin_memory, persistent_workers=workers > 0)
