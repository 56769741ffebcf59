"""Shared fixtures: tiny labelled image folders made in tmp_path, tiny detectors and checkpoints, the CIFAKE
development data when it is there, and the one-line error a command prints. Nothing downloads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CIFAKE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cifake-dev"


def _write_image(path: Path, array: np.ndarray, fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if (fmt or path.suffix.lower()) in ("JPEG", ".jpg"):
        Image.fromarray(array).save(path, format=fmt, quality=95)
    else:
        Image.fromarray(array).save(path, format=fmt)
    return path


def _cue_image(rng: np.random.Generator, size: int, fake: bool, where: str = "corner") -> np.ndarray:
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


def _make_dataset(root: Path, *, n_train: int = 8, n_val: int = 4, size: int = 32, seed: int = 0,
                  where: str = "corner", ext: str = ".png") -> Path:
    """``root/{train,val}/{0_real,1_fake}`` with a learnable cue in the fakes."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("val", n_val)):
        for label, name in ((0, "0_real"), (1, "1_fake")):
            for i in range(n):
                _write_image(root / split / name / f"{i:03d}{ext}", _cue_image(rng, size, bool(label), where))
    return root


@pytest.fixture(scope="session")
def write_image():
    """``write_image(path, array, fmt=None)``: save a uint8 array (JPEG at quality 95), making its folder."""
    return _write_image


@pytest.fixture(scope="session")
def make_data():
    """``make_data(root, n_train=8, n_val=4, size=32, seed=0, where="corner", ext=".png")``: a labelled
    split root whose fakes carry a learnable pattern in the corners (or the centre)."""
    return _make_dataset


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    return _make_dataset(tmp_path / "data")


@pytest.fixture
def cifake() -> Path:
    """The CIFAKE development subset in ../shared; the test is skipped where it is absent."""
    if not CIFAKE.is_dir():
        pytest.skip(f"{CIFAKE} is not present")
    return CIFAKE


@pytest.fixture
def tiny_detector():
    import torch

    from aigc_explain.core.models import build_detector

    torch.manual_seed(0)
    return build_detector("test_resnet", image_size=32).eval()


def _saved(tmp_path: Path, arch: str, size: int) -> Path:
    import torch

    from aigc_explain.core.checkpoint import save_checkpoint
    from aigc_explain.core.models import build_detector

    torch.manual_seed(0)
    path = tmp_path / "ckpt" / "det.pth"
    path.parent.mkdir(exist_ok=True)
    save_checkpoint(path, build_detector(arch, image_size=size))
    return path


@pytest.fixture
def tiny_ckpt(tmp_path: Path) -> Path:
    """A saved test_resnet detector at 32 px (our own checkpoint format)."""
    return _saved(tmp_path, "test_resnet", 32)


@pytest.fixture
def ckpt(tmp_path: Path) -> Path:
    """A saved resnet18 detector at 64 px (random weights): 2x2 maps at layer4, 8x8 at layer2."""
    return _saved(tmp_path, "resnet18", 64)


@pytest.fixture
def error_line(capsys):
    """``error_line()``: the single line a command printed on stderr for a user mistake (asserts it is one)."""
    def read() -> str:
        err = [line for line in capsys.readouterr().err.strip().splitlines()
               if not line.startswith(("INFO", "WARNING"))]
        assert len(err) == 1, err
        return err[0]
    return read


@pytest.fixture(scope="session")
def unit_mass():
    """``unit_mass(maps)``: ReLU, then each map divided by its sum (all-zero when it has no positive mass)."""
    def normalise(maps: np.ndarray) -> np.ndarray:
        stack = np.maximum(np.asarray(maps, dtype=np.float64), 0.0)
        stack = stack[None] if stack.ndim == 2 else stack
        total = stack.sum(axis=(1, 2), keepdims=True)
        out = np.where(total > 0, stack / np.where(total > 0, total, 1.0), 0.0)
        return out if np.ndim(maps) == 3 else out[0]
    return normalise


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models gain nothing from threads; one is far steadier on a busy 2-core machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def ctrl_c_at(monkeypatch):
    """``ctrl_c_at(n)``: training sends itself SIGINT right after its n-th step; ``ctrl_c_at(None)`` undoes it."""
    import signal

    from aigc_explain.core import training

    original = training._Run._step

    def patch(n: int | None) -> None:
        if n is None:
            monkeypatch.setattr(training._Run, "_step", original)
            return
        calls = {"n": 0}

        def step(self, x, y):
            out = original(self, x, y)
            calls["n"] += 1
            if calls["n"] == n:
                signal.raise_signal(signal.SIGINT)
            return out

        monkeypatch.setattr(training._Run, "_step", step)
    return patch
