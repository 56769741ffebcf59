"""The field's spellings: timm's -b and --img-size, torchvision's weight names (IMAGENET1K_V1, DEFAULT),
grad-cam's layer indexing (layer4[-1]) and its single-image use (--images some.jpg)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from aigc_explain.cam import main as cam_main
from aigc_explain.core.models import weights_spec
from aigc_explain.explain.layers import dotted_name, resolve_layer
from aigc_explain.train import main as train_main


def test_timm_style_batch_and_image_size_flags(dataset: Path, tmp_path: Path):
    out = tmp_path / "run"
    assert train_main(["--data", str(dataset), "--out", str(out), "--model", "test_resnet", "--weights", "none",
                       "--img-size", "32", "-b", "4", "--epochs", "1", "--no-progress"]) == 0
    args = json.loads((out / "manifest.json").read_text())["arguments"]
    assert (args["image_size"], args["batch_size"]) == (32, 4)


def test_torchvision_weight_names(tmp_path: Path):
    assert weights_spec("IMAGENET1K_V1") == "imagenet:IMAGENET1K_V1"
    assert weights_spec("DEFAULT") == "imagenet"
    assert weights_spec("none") == "none" and weights_spec("imagenet") == "imagenet"
    own = tmp_path / "MYWEIGHTS"
    own.write_bytes(b"")
    assert weights_spec(str(own)) == str(own)  # a file of that name is a file


def test_torchvision_weight_name_loads_the_same_weights():
    cache = Path(torch.hub.get_dir()) / "checkpoints" / "mobilenet_v2-b0353104.pth"
    if not cache.is_file():
        pytest.skip(f"{cache} is not in torch's hub cache (make weights puts it there)")
    from aigc_explain.core.models import build_detector

    a = build_detector("mobilenet_v2", weights="IMAGENET1K_V1", image_size=64).backbone.features[0][0].weight
    b = build_detector("mobilenet_v2", weights="imagenet:IMAGENET1K_V1", image_size=64).backbone.features[0][0].weight
    assert torch.equal(a, b) and a.abs().sum() > 0


def test_gradcam_layer_indexing(tiny_detector):
    backbone = tiny_detector.backbone
    last = list(backbone.layer4._modules)[-1]
    assert dotted_name(backbone, "layer4[-1]") == f"layer4.{last}"
    assert dotted_name(backbone, "model.layer4[-1]") == f"layer4.{last}"
    assert dotted_name(backbone, "layer4[0].conv1") == "layer4.0.conv1"
    assert resolve_layer(backbone, "layer4[-1]")[1] is backbone.layer4[-1]
    with pytest.raises(ValueError, match=r"index 7 is out of range.*--list-layers"):
        dotted_name(backbone, "layer4[7]")


def test_cam_on_one_image_with_a_gradcam_layer(dataset: Path, tiny_ckpt: Path, tmp_path: Path):
    image = sorted((dataset / "val" / "1_fake").iterdir())[0]
    out = tmp_path / "one"
    assert cam_main(["--ckpt", str(tiny_ckpt), "--images", str(image), "--layer", "layer4[-1]", "--out", str(out),
                     "--overlays", "1", "--no-progress", "--device", "cpu"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_images"] == 1 and summary["layer"].startswith("layer4.")
    assert summary["groups"]["fake"]["n"] == 1  # labelled by its folder, 1_fake
    assert np.load(out / "cams.npz")["maps"].shape[0] == 1
    # its overlay is written once, as its own PNG named after it (a figure: title, colour bar), and nothing else
    assert [p.name for p in (out / "overlays").iterdir()] == [f"{image.stem}.png"]
    assert not (out / "overlays.png").exists()
    assert Image.open(out / "overlays" / f"{image.stem}.png").size[0] > 300
