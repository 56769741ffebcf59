"""Shared fixtures: tiny labelled image folders made in tmp_path, tiny detectors. Nothing downloads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cifake-dev"


def write_image(path: Path, array: np.ndarray, fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format=fmt, quality=95) if (fmt or path.suffix.lower()) in ("JPEG", ".jpg") \
        else Image.fromarray(array).save(path, format=fmt)
    return path


def cue_image(rng: np.random.Generator, size: int, fake: bool, where: str = "corner") -> np.ndarray:
    """Noise photo; fakes carry a bright 2-pixel-period stripe pattern in the corners (or centre)."""
    img = rng.integers(40, 200, size=(size, size, 3), dtype=np.uint8)
    if fake:
        q = size // 4
        pattern = np.zeros((q, q, 3), np.uint8)
        pattern[::2] = 255
        boxes = ([(0, 0), (0, size - q), (size - q, 0), (size - q, size - q)] if where == "corner"
                 else [((size - q) // 2, (size - q) // 2)])
        for r, c in boxes:
            img[r:r + q, c:c + q] = pattern
    return img


def make_dataset(root: Path, *, n_train: int = 8, n_val: int = 4, size: int = 32, seed: int = 0,
                 where: str = "corner", ext: str = ".png") -> Path:
    """``root/{train,val}/{0_real,1_fake}`` with a learnable cue in the fakes."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("val", n_val)):
        for label, name in ((0, "0_real"), (1, "1_fake")):
            for i in range(n):
                write_image(root / split / name / f"{i:03d}{ext}", cue_image(rng, size, bool(label), where))
    return root


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    return make_dataset(tmp_path / "data")


@pytest.fixture
def tiny_detector():
    from aigc_explain.models import build_detector

    import torch

    torch.manual_seed(0)
    return build_detector("test_resnet", image_size=32).eval()


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models gain nothing from threads; one is far steadier on a busy 2-core machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tiny_ckpt(tmp_path: Path) -> Path:
    """A saved test_resnet detector at 32 px (our own checkpoint format)."""
    import torch

    from aigc_explain.checkpoint import save_checkpoint
    from aigc_explain.models import build_detector

    torch.manual_seed(0)
    path = tmp_path / "ckpt" / "det.pth"
    path.parent.mkdir()
    save_checkpoint(path, build_detector("test_resnet", image_size=32))
    return path


def one_error_line(capsys) -> str:
    """The single line a command printed on stderr for a user mistake (asserts there is exactly one)."""
    err = [line for line in capsys.readouterr().err.strip().splitlines() if not line.startswith(("INFO", "WARNING"))]
    assert len(err) == 1, err
    return err[0]
