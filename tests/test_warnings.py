"""One warning said once per command run: a coarse layer, one-class data, sub-folders that are not class folders
and unreadable files are each said once on stderr, however many steps of the command meet them, and a summary
does not say a warning again. (stderr, not caplog: a command sets up its own logging, as it does for a person.)"""

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from aigc_explain.cam import main as cam_main
from aigc_explain.compare import main as compare_main
from aigc_explain.evaluate import main as evaluate_main

COARSE = "the CAM of layer layer4 is only 1x1"
ONE_CLASS = "holds fake images only (no real image)"


def _warnings(err: str) -> list[str]:
    lines = [line for line in err.splitlines() if line.startswith("WARNING")]
    twice = [line for line, n in Counter(lines).items() if n > 1]
    assert not twice, f"said more than once: {twice}"
    return lines


def _said(lines: list[str], text: str) -> int:
    return sum(text in line for line in lines)


@pytest.fixture
def pets(tmp_path: Path, write_image) -> Path:
    """Sub-folders that are not class folders, and a file that is no image."""
    rng = np.random.default_rng(0)
    for name in ("cats", "dogs"):
        for i in range(3):
            write_image(tmp_path / "pets" / name / f"{i}.png", rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))
    (tmp_path / "pets" / "cats" / "broken.png").write_bytes(b"not a png")
    return tmp_path / "pets"


def test_cam_says_each_warning_once(tiny_ckpt: Path, pets: Path, tmp_path: Path, capsys):
    capsys.readouterr()
    assert cam_main(["--ckpt", str(tiny_ckpt), "--images", str(pets), "--out", str(tmp_path / "run"), "--layer",
                     "layer4", "-b", "2", "--no-progress", "--device", "cpu", "--html"]) == 0
    out, err = capsys.readouterr()
    said = _warnings(err)
    assert _said(said, COARSE) == 1 and _said(said, "that are not class folders") == 1
    assert _said(said, "skipped") == 1  # the unreadable file: by the run, not again by its page
    assert "1 note(s) on it" in out and "WARNING" not in out


def test_evaluate_says_each_warning_once_over_its_perturbations(tiny_ckpt: Path, dataset: Path, capsys,
                                                                tmp_path: Path):
    import shutil

    one_class = tmp_path / "fakes"
    shutil.copytree(dataset / "val" / "1_fake", one_class / "val" / "1_fake")
    (one_class / "val" / "0_real").mkdir()
    capsys.readouterr()
    assert evaluate_main(["--ckpt", str(tiny_ckpt), "--data", str(one_class), "--out", str(tmp_path / "sweep"),
                          "--perturb", "jpeg=90,50", "--cam", "--cam-layer", "layer4", "--device", "cpu"]) == 0
    said = _warnings(capsys.readouterr().err)  # clean + 2 perturbations met them; before: 3 and 4 times
    assert _said(said, COARSE) == 1 and _said(said, f"{one_class / 'val'} {ONE_CLASS}") == 1


def test_compare_says_its_warnings_once(tiny_ckpt: Path, pets: Path, tmp_path: Path, capsys):
    for name in ("a", "b"):
        assert cam_main(["--ckpt", str(tiny_ckpt), "--images", str(pets), "--out", str(tmp_path / name),
                         "--layer", "layer4", "--no-progress", "--device", "cpu", "--overlays", "0"]) == 0
    capsys.readouterr()
    assert compare_main([str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "c"), "--n-perm", "50",
                         "--n-boot", "50"]) == 0
    out, err = capsys.readouterr()
    said = _warnings(err)
    assert _said(said, "all: not measurable at this layer") == 1
    assert not any(line.split(": ", 1)[1] in out for line in said)  # the summary counts them, says none again
    assert f"{len(said)} warning(s) above" in out
