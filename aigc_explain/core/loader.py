"""Batches that survive bad files: the dataset returns a failure record instead of raising, the collate
function drops it, and the caller writes the (path, reason) pairs to ``skipped.csv``. Augmentations are seeded
per (seed, epoch, image) through ``EpochSampler`` keys, so they depend neither on workers nor on resuming."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from aigc_explain.core.folders import Sample, describe_error
from aigc_explain.core.images import ImagePipeline, read_image


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
            return None, sample.label, index, sample.problem or describe_error(exc)
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
