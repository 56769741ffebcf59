"""The zoo's vocabulary: a released ``Layout``, what a ``Release`` file says besides its weights, and reading its
nested state dict and the ``config.yaml`` beside it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

State = dict[str, torch.Tensor]
NESTINGS = ("model", "state_dict", "net", "model_state_dict")  # CNNDetection/GRIP, GRIP, GRIP, the report


@dataclass(frozen=True)
class Release:
    """What the file holds besides the weights: its top-level keys and a release ``config.yaml`` beside it."""
    top_keys: frozenset[str] = frozenset()
    config: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Layout:
    name: str
    paper: str
    released: str
    pipeline: str
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    match: Callable[[State, Release], bool]
    build: Callable[[bool], nn.Module]  # pretrained backbone (CLIP probes) or not
    rename: Callable[[State], State] = lambda state: state  # the file's keys -> the built module's keys
    part: str | None = None  # the one submodule the file holds (a probe's head); the rest comes pretrained


def release_state(obj: Any) -> State | None:
    """The flat state dict inside a released file (nested under model/state_dict/net or flat), ``module.``
    stripped; None when there is none."""
    if isinstance(obj, dict):
        for key in NESTINGS:
            if isinstance(obj.get(key), dict) and obj[key]:
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        return None
    return {str(k).removeprefix("module."): v for k, v in obj.items()}


def read_release_config(path: str | Path) -> dict[str, str]:
    """``key: value`` lines of the ``config.yaml`` GRIP releases beside ``weights.pth`` (empty when absent)."""
    config = Path(path).parent / "config.yaml"
    if not config.is_file() or config.stat().st_size > 64_000:
        return {}
    out = {}
    for line in config.read_text(errors="replace").splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and not key.startswith((" ", "#")):
            out[key.strip()] = value.strip().strip("'\"")
    return out


def shape(state: State, key: str) -> tuple[int, ...] | None:
    value = state.get(key)
    return tuple(value.shape) if isinstance(value, torch.Tensor) else None
