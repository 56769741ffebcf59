"""Bounds checked before anything large is read or built: a checkpoint's archive (declared sizes against its
bytes on disk), its tensors against the architecture it names (built on the meta device, so no memory is
taken), finite weights, sane mean/std, and the input size. A small file never becomes gigabytes of memory.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

MAX_IMAGE_SIZE = 4096  # one 4096² RGB float image is 200 MB; a batch of them through a ResNet, tens of GB
MAX_INFLATION = 2  # torch.save stores tensors uncompressed: declared bytes ≈ the file's own bytes
LARGE_MODEL = 256 << 20  # models above this many bytes are checked against the file before they are built
MIN_FIT = 0.5  # the share of the architecture's weights (by element) a checkpoint must supply, name and shape


def check_image_size(size: Any, *, what: str = "--image-size") -> int:
    """``size`` an integer from 16 to ``MAX_IMAGE_SIZE``: larger inputs do not fit in memory for a detector."""
    if not isinstance(size, int) or isinstance(size, bool) or not 16 <= size <= MAX_IMAGE_SIZE:
        raise ValueError(f"{what} is {size!r}; it must be an integer from 16 to {MAX_IMAGE_SIZE} (the largest input "
                         f"whose activations fit in memory for these detectors)")
    return size


def check_archive(path: str | Path, *, what: str = "checkpoint") -> None:
    """Refuse a zip checkpoint whose members declare far more bytes than the file holds (a deflate bomb),
    before ``torch.load`` inflates anything."""
    path = Path(path)
    if not path.is_file() or not zipfile.is_zipfile(path):
        return  # not a zip (a legacy torch file or junk): torch.load(weights_only=True) judges it
    on_disk = path.stat().st_size
    try:
        with zipfile.ZipFile(path) as archive:
            declared = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ValueError(f"{what} {path} is a damaged archive ({exc}); re-save or re-download it") from None
    if declared > MAX_INFLATION * on_disk + (1 << 20):
        raise ValueError(f"{what} {path} declares {declared / 2**20:.0f} MiB of data in a {on_disk / 2**20:.1f} MiB "
                         f"file: a compressed archive that would inflate in memory (torch.save never compresses); "
                         f"refused before loading")


def check_finite(state: dict[str, Any], path: str | Path) -> None:
    """Every floating tensor finite: NaN or inf weights give NaN probabilities, so say so at the source."""
    for key, value in state.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() and value.numel() and \
                not bool(torch.isfinite(value).all()):
            raise ValueError(f"checkpoint {path} holds non-finite weights (NaN or inf in {key}); every probability "
                             f"it gives would be NaN: use an undamaged checkpoint or retrain it")


def check_mean_std(mean: Any, std: Any, path: str | Path) -> None:
    """Normalisation on our 0–1 scale: mean in [-1, 2], std in [1e-3, 10] (0–255 values are refused)."""
    if any(not -1.0 <= float(v) <= 2.0 for v in mean):
        raise ValueError(f"checkpoint {path} is malformed: mean {list(mean)} is outside [-1, 2]; images are scaled "
                         f"to 0–1 first (0–255 values? divide them by 255)")
    if any(not 1e-3 <= float(v) <= 10.0 for v in std):
        raise ValueError(f"checkpoint {path} is malformed: std {list(std)} is outside [0.001, 10]; images are scaled "
                         f"to 0–1 first (0–255 values? divide them by 255)")


def _nbytes(value: Any) -> int:
    return value.numel() * value.element_size() if isinstance(value, torch.Tensor) else 0


def check_fits_arch(arch: str, image_size: int, state: dict[str, Any], path: str | Path,
                    build: Callable[..., Any]) -> None:
    """Before building ``arch`` for real: build it on the meta device (no memory), and refuse a checkpoint whose
    tensors are far larger than the model, or, for a model above ``LARGE_MODEL`` bytes, one that supplies under
    ``MIN_FIT`` of its weights (by element, matching name and shape). ``build`` is ``models.build_detector``
    (passed in: this module sits below the models). A tiny file naming a huge architecture is refused here, not after gigabytes."""
    try:
        with torch.device("meta"):
            expected = build(arch, image_size=image_size).backbone.state_dict()
    except (ValueError, KeyError, RuntimeError, TypeError, NotImplementedError):
        return  # an unknown name, or a model that cannot be built on meta: the real build names the problem
    total = sum(v.numel() for v in expected.values()) or 1
    matched = sum(v.numel() for k, v in expected.items()
                  if isinstance(state.get(k), torch.Tensor) and tuple(state[k].shape) == tuple(v.shape))
    given = sum(_nbytes(v) for v in state.values())
    model_bytes = sum(v.numel() * v.element_size() for v in expected.values())
    if given > 4 * model_bytes + (64 << 20):
        raise ValueError(f"checkpoint {path} holds {given / 2**20:.0f} MiB of tensors, far more than {arch} "
                         f"({model_bytes / 2**20:.0f} MiB); it is not a checkpoint of this architecture: pass the "
                         f"right --arch")
    if matched < MIN_FIT * total and model_bytes > LARGE_MODEL:  # a small model: the real fit names every key
        missing = next((k for k, v in expected.items() if not (isinstance(state.get(k), torch.Tensor) and
                                                             tuple(state[k].shape) == tuple(v.shape))), "?")
        raise ValueError(f"checkpoint {path} does not fit {arch}: it supplies {100 * matched / total:.0f}% of the "
                         f"model's {total:,} weights (e.g. {missing} is missing or of another shape); checked before "
                         f"building the model: pass the right --arch or the right checkpoint")
