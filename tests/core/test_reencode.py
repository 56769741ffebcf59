"""--reencode jpeg:Q|png: every image re-encoded identically in memory before preprocessing, in train,
evaluate and cam alike, and recorded where the run says how it preprocessed."""

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from aigc_explain.cam import main as cam_main
from aigc_explain.core.images import Reencode
from aigc_explain.evaluate import main as evaluate_main
from aigc_explain.train import main as train_main


def test_parse_and_pixels():
    assert Reencode.parse("jpeg:95") == Reencode("jpeg", 95) and Reencode.parse("PNG").name == "png"
    assert Reencode.parse(None) is None
    for bad in ("jpeg", "jpeg:0", "jpeg:101", "webp", "png:3"):
        with pytest.raises(ValueError, match="--reencode .*jpeg:Q"):
            Reencode.parse(bad)
    rng = np.random.default_rng(0)
    image = torch.from_numpy(rng.integers(0, 256, (3, 16, 16), dtype=np.uint8))
    assert torch.equal(Reencode.parse("png")(image), image)  # lossless
    buf = io.BytesIO()
    Image.fromarray(image.permute(1, 2, 0).numpy()).save(buf, format="JPEG", quality=40)
    expected = np.asarray(Image.open(buf).convert("RGB"))
    assert np.array_equal(Reencode.parse("jpeg:40")(image).permute(1, 2, 0).numpy(), expected)


def _probs(folder: Path) -> list[str]:
    return [r["prob_fake"] for r in csv.DictReader((folder / "predictions.csv").read_text().splitlines())]


def test_evaluate_and_cam_reencode(dataset: Path, tiny_ckpt: Path, tmp_path: Path):
    runs = {}
    for name, extra in (("plain", []), ("png", ["--reencode", "png"]), ("jpeg", ["--reencode", "jpeg:10"])):
        assert evaluate_main(["--ckpt", str(tiny_ckpt), "--data", str(dataset), "--out", str(tmp_path / name),
                              *extra]) == 0
        runs[name] = _probs(tmp_path / name)
    assert runs["png"] == runs["plain"] and runs["jpeg"] != runs["plain"]
    metrics = json.loads((tmp_path / "jpeg" / "metrics.json").read_text())
    manifest = json.loads((tmp_path / "jpeg" / "manifest.json").read_text())
    assert metrics["reencode"] == "jpeg:10" and manifest["preprocessing"]["reencode"] == "jpeg:10"
    assert cam_main(["--ckpt", str(tiny_ckpt), "--images", str(dataset / "val"), "--out", str(tmp_path / "cam"),
                     "--reencode", "jpeg:10", "--layer", "layer1", "--no-progress", "--overlays", "0"]) == 0
    summary = json.loads((tmp_path / "cam" / "summary.json").read_text())
    assert summary["settings"]["reencode"] == "jpeg:10" and summary["preprocessing"]["reencode"] == "jpeg:10"


def test_train_records_reencode_and_resume_keeps_it(dataset: Path, tmp_path: Path, error_line):
    args = ["--data", str(dataset), "--out", str(tmp_path / "run"), "--model", "test_resnet", "--weights", "none",
            "--image-size", "32", "--batch-size", "4", "--no-progress"]
    assert train_main([*args, "--epochs", "1", "--reencode", "jpeg:50"]) == 0
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["arguments"]["reencode"] == "jpeg:50" and manifest["preprocessing"]["reencode"] == "jpeg:50"
    assert train_main([*args, "--resume", "--epochs", "2", "--reencode", "png"]) == 2
    assert "--reencode png differs from its jpeg:50" in error_line()
