"""The checkpoints people have: two-logit heads load (p(fake) = softmax[fake-index], exactly), a 1000-class
ImageNet head is named as such, a whole pickled model is refused with the whole hint, and no message carries
a terminal escape code."""

import json
from pathlib import Path

import pytest
import torch
import torchvision

from aigc_explain.cam import main as cam_main
from aigc_explain.core.checkpoint import load_detector
from aigc_explain.core.heads import fit_head
from aigc_explain.evaluate import main as evaluate_main


def _resnet18(num_classes: int) -> torch.nn.Module:
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None, num_classes=num_classes).eval()


def test_a_two_logit_head_gives_softmax_of_the_fake_output(tmp_path: Path):
    model = _resnet18(2)
    with torch.no_grad():  # a head that is not symmetric, so the two indices differ
        model.fc.bias.copy_(torch.tensor([0.3, -0.2]))
    path = tmp_path / "two.pth"
    torch.save({"model": model.state_dict()}, path)  # CNNDetection-style wrapper, two logits
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        softmax = model(x).softmax(dim=1)
        for index in (1, 0):
            det = load_detector(path, fake_index=index)
            assert det.head["logits"] == 2 and det.head["fake_index"] == index
            p = torch.sigmoid(det(x)).reshape(-1)
            torch.testing.assert_close(p, softmax[:, index], rtol=1e-5, atol=1e-6)


def test_fake_index_is_recorded_by_evaluate_and_cam_runs(tmp_path: Path, dataset: Path):
    path = tmp_path / "two.pth"
    torch.save(_resnet18(2).state_dict(), path)
    out = tmp_path / "eval"
    assert evaluate_main(["--ckpt", str(path), "--data", str(dataset), "--out", str(out), "--fake-index", "0",
                          "--device", "cpu"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["detector"]["head"]["fake_index"] == 0
    run = tmp_path / "cam"
    assert cam_main(["--ckpt", str(path), "--images", str(dataset / "val"), "--out", str(run), "--limit", "2",
                     "--overlays", "0", "--no-progress", "--device", "cpu"]) == 0
    assert json.loads((run / "summary.json").read_text())["detector"]["head"]["fake_index"] == 1


def test_an_imagenet_classifier_is_named_with_what_to_do(tmp_path: Path, error_line):
    path = tmp_path / "resnet18-imagenet.pth"
    torch.save(_resnet18(1000).state_dict(), path)
    assert evaluate_main(["--ckpt", str(path), "--data", str(tmp_path), "--out", str(tmp_path / "e")]) == 2
    line = error_line()
    assert "is an ImageNet classifier (1000 classes in fc), not a real-vs-fake detector" in line
    assert "fine-tune it with train --weights FILE" in line
    with pytest.raises(ValueError, match="a 5-class head"):
        fit_head({"fc.weight": torch.zeros(5, 8)}, "fc")


def test_a_whole_pickled_model_is_refused_with_the_whole_hint(tmp_path: Path, error_line):
    path = tmp_path / "whole.pth"
    torch.save(_resnet18(1), path)  # torch.save(model): a pickle of classes, not a state dict
    assert cam_main(["--ckpt", str(path), "--images", str(tmp_path), "--out", str(tmp_path / "c")]) == 2
    line = error_line()
    assert "holds a whole pickled object (torchvision.models.resnet.ResNet)" in line
    assert "torch.save(model.state_dict(), 'weights.pth')" in line and line.endswith("pass that file")
    assert "\x1b" not in line


def test_bad_fake_index_is_refused(tmp_path: Path, capsys):
    with pytest.raises(SystemExit):
        evaluate_main(["--ckpt", "x.pth", "--data", str(tmp_path), "--out", str(tmp_path / "e"), "--fake-index", "2"])
    assert "--fake-index" in capsys.readouterr().err
