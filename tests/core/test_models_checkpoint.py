"""Detectors: factory, weights, self-describing checkpoints, and every foreign format load_detector reads."""

from pathlib import Path
from urllib.error import URLError

import pytest
import timm
import torch
import torchvision
from torch import nn

from aigc_explain.core.checkpoint import infer_arch, load_detector, normalize_report_keys, save_checkpoint
from aigc_explain.core.models import build_detector, resolve_arch, WeightsUnavailableError


def test_presets_and_unknown_names():
    assert resolve_arch("resnet") == ("torchvision", "resnet101")
    assert resolve_arch("vit") == ("timm", "vit_small_patch16_224")
    assert resolve_arch("swin") == ("timm", "swin_tiny_patch4_window7_224")
    assert resolve_arch("mobilenet_v2") == ("torchvision", "mobilenet_v2")
    with pytest.raises(ValueError, match="did you mean.*resnet18"):
        resolve_arch("resnet19")


@pytest.mark.parametrize("arch,size", [("mobilenet_v2", 32), ("resnet18", 32), ("test_vit", 32), ("test_resnet", 32)])
def test_head_is_one_logit(arch, size):
    det = build_detector(arch, image_size=size).eval()
    assert det(torch.zeros(2, 3, size, size)).shape == (2, 1)
    last = [m for m in det.modules() if isinstance(m, nn.Linear)][-1]
    assert last.out_features == 1


def test_weights_file_for_torchvision_backbone(tmp_path: Path):
    ref = torchvision.models.resnet18()  # an ImageNet-shaped (1000-class) state dict
    torch.save(ref.state_dict(), tmp_path / "r18.pth")
    det = build_detector("resnet18", weights=str(tmp_path / "r18.pth"))
    assert torch.equal(det.backbone.conv1.weight, ref.conv1.weight)
    assert det.backbone.fc.out_features == 1
    with pytest.raises(ValueError, match=r"does not fit ResNet: missing keys conv1.weight, "):
        torch.save({"bn1.weight": ref.bn1.weight}, tmp_path / "partial.pth")
        build_detector("resnet18", weights=str(tmp_path / "partial.pth"))


def test_imagenet_offline_failure_names_cache_and_flag(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))

    def no_network(*args, **kwargs):
        raise URLError("no network")

    monkeypatch.setattr(torchvision.models._api, "get_model", no_network)
    monkeypatch.setattr(torchvision.models, "get_model", no_network)
    with pytest.raises(WeightsUnavailableError, match=r"put resnet18-.*\.pth at .*checkpoints.*--weights PATH"):
        build_detector("resnet18", weights="imagenet")


def test_imagenet_prefers_a_cached_weight_set(monkeypatch, tmp_path):
    from aigc_explain.core.models import _torchvision_weights

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "mobilenet_v2-b0353104.pth").write_bytes(b"")
    assert _torchvision_weights("mobilenet_v2", "imagenet").name == "IMAGENET1K_V1"
    assert _torchvision_weights("mobilenet_v2", "imagenet:IMAGENET1K_V2").name == "IMAGENET1K_V2"
    with pytest.raises(ValueError, match="has weight sets"):
        _torchvision_weights("mobilenet_v2", "imagenet:V9")


def test_mobilenet_v2_imagenet_offline():
    from aigc_explain.core.offline import MOBILENET_V2, hub_checkpoints_dir

    if not (hub_checkpoints_dir() / Path(MOBILENET_V2[1]).name).is_file():
        pytest.skip("run `make weights` to seed torch's hub cache")
    det = build_detector("mobilenet_v2", weights="imagenet")
    ref = torchvision.models.mobilenet_v2(weights="IMAGENET1K_V1")
    assert torch.equal(det.backbone.features[0][0].weight, ref.features[0][0].weight)


def test_checkpoint_round_trip_is_atomic_and_self_describing(tmp_path: Path, tiny_detector):
    path = tmp_path / "det.pth"
    save_checkpoint(path, tiny_detector, epoch=3, metrics={"val_acc": 0.5})
    assert [p.name for p in tmp_path.iterdir()] == ["det.pth"]  # no temporary file left behind
    raw = torch.load(path, weights_only=True)
    assert raw["arch"] == "test_resnet" and raw["image_size"] == 32 and raw["class_names"] == ["real", "fake"]
    assert raw["epoch"] == 3 and "torch" in raw["versions"]
    det = load_detector(path)
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(det(x), tiny_detector(x))


class AIGCResnet(nn.Module):  # the report notebook's wrapper, rebuilt here
    def __init__(self):
        super().__init__()
        self.resnet = torchvision.models.resnet101()
        self.resnet.fc = nn.Sequential(nn.Linear(2048, 1), nn.Sigmoid())

    def forward(self, x):
        return self.resnet(x)


class AIGCVit(nn.Module):
    def __init__(self):
        super().__init__()
        self.resnet = timm.create_model("vit_small_patch16_224", pretrained=False)
        self.resnet.head = nn.Sequential(nn.Linear(384, 1), nn.Sigmoid())

    def forward(self, x):
        return self.resnet(x)


class AIGCSwin(nn.Module):
    def __init__(self):
        super().__init__()
        self.resnet = timm.create_model("swin_tiny_patch4_window7_224", pretrained=False)
        self.resnet.head.fc = nn.Sequential(nn.Linear(768, 1), nn.Sigmoid())

    def forward(self, x):
        return self.resnet(x)


@pytest.mark.parametrize("wrapper,arch", [(AIGCResnet, "resnet101"), (AIGCVit, "vit_small_patch16_224"),
                                          (AIGCSwin, "swin_tiny_patch4_window7_224")])
def test_report_checkpoints_load_and_match(tmp_path: Path, wrapper, arch):
    """The report's best_model.pth (raw wrapper state dict): same architecture, same outputs."""
    torch.manual_seed(0)
    report = wrapper().eval()
    torch.save(report.state_dict(), tmp_path / "best_model.pth")
    det = load_detector(tmp_path / "best_model.pth")
    assert det.arch == arch and det.image_size == 224
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert torch.allclose(torch.sigmoid(det(x)), report(x), atol=1e-6)


@pytest.mark.parametrize("style", ["model_state_dict", "model", "ddp"])
def test_wrapped_state_dict_styles(tmp_path: Path, style):
    """aigc_detector_final.pth dicts, CNNDetection's {'model': ...}, DDP's module. prefix."""
    torch.manual_seed(0)
    report = torchvision.models.resnet18()
    report.fc = nn.Sequential(nn.Linear(512, 1), nn.Sigmoid())
    sd = {f"resnet.{k}": v for k, v in report.eval().state_dict().items()}
    obj = {"model_state_dict": {"model_state_dict": sd, "epoch": 4, "optimizer_state_dict": {}},
           "model": {"model": sd}, "ddp": {f"module.{k}": v for k, v in sd.items()}}[style]
    torch.save(obj, tmp_path / "aigc_detector_final.pth")
    det = load_detector(tmp_path / "aigc_detector_final.pth")
    assert det.arch == "resnet18"
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(torch.sigmoid(det(x)), report(x), atol=1e-6)


def test_arch_inference_and_override(tmp_path: Path):
    sd = normalize_report_keys(AIGCResnet().state_dict())
    assert infer_arch(sd) == ("resnet101", 224)
    with pytest.raises(ValueError, match="cannot infer the architecture.*--arch"):
        infer_arch({"foo.weight": torch.zeros(1)})
    torch.save(torchvision.models.resnet18().state_dict(), tmp_path / "r18.pth")
    with pytest.raises(ValueError, match="does not fit resnet50: missing keys .*wrong shapes layer1.0.conv1.weight"):
        load_detector(tmp_path / "r18.pth", arch="resnet50")


class Boom:
    def __reduce__(self):
        return (Path.touch, (Path("/tmp/aigc_explain_pwned"),))


def test_unsafe_pickle_is_refused_and_never_run(tmp_path: Path):
    Path("/tmp/aigc_explain_pwned").unlink(missing_ok=True)
    torch.save({"state_dict": Boom()}, tmp_path / "evil.pth")
    with pytest.raises(ValueError, match="weights_only=True"):
        load_detector(tmp_path / "evil.pth")
    assert not Path("/tmp/aigc_explain_pwned").exists()
    with pytest.raises(FileNotFoundError, match="does not exist; check --ckpt"):
        load_detector(tmp_path / "none.pth")
