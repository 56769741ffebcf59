"""Known-answer and against-grad-cam tests for aigc_explain.explain.methods (tiny random-init models)."""

from __future__ import annotations


import numpy as np
import pytest
import timm
import torch
import torchvision
from pytorch_grad_cam.ablation_layer import AblationLayerVit
from timm.models.resnet import BasicBlock, ResNet
from torch import nn

from aigc_explain.explain import layers as cl
from aigc_explain.explain import methods as cm


pytestmark = pytest.mark.usefixtures("one_thread")


class _Detector(nn.Module):
    """Like the package's Detector: a backbone with a one-logit head."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)


def _resnet18() -> nn.Module:
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None, num_classes=1)


def _tiny_resnet() -> nn.Module:
    """A timm ResNet with 16 channels in layer4, for the methods that run one forward per channel."""
    torch.manual_seed(0)
    return ResNet(BasicBlock, [1, 1, 1, 1], num_classes=1, channels=(8, 8, 16, 16), stem_width=8)


def _vit(img_size: tuple[int, int] | int = (32, 48)) -> nn.Module:
    torch.manual_seed(0)
    return timm.create_model("vit_small_patch16_224", pretrained=False, num_classes=1, img_size=img_size,
                             depth=2, embed_dim=48, num_heads=2)


def _swin(img_size: tuple[int, int] | int = (64, 96)) -> nn.Module:
    torch.manual_seed(0)
    return timm.create_model("swin_tiny_patch4_window7_224", pretrained=False, num_classes=1,
                             img_size=img_size, window_size=4, embed_dim=24, depths=(1, 1), num_heads=(1, 2))


class QuadrantNet(nn.Module):
    """logit = mean over channels and the top-left quadrant of relu(conv1x1(x)) - 0.1."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 2, 1, bias=False), nn.ReLU())
        with torch.no_grad():
            self.features[0].weight.copy_(torch.tensor([1.0, 0.5])[:, None, None, None].expand(2, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x)
        h, w = f.shape[-2:]
        return f[:, :, : h // 2, : w // 2].mean(dim=(1, 2, 3))[:, None] - 0.1


class TinyCNN(nn.Module):
    """No layer4/features/blocks: the auto layer is found by a probe forward."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(4, 8, 3, stride=2, padding=1))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(torch.relu(self.body(x))).flatten(1))


# Non-square inputs catch (H, W) / (W, H) mix-ups; grids: resnet (2, 3), vit (2, 3), swin (8, 12).
CASES = {"resnet": (_resnet18, (64, 96)), "tinyresnet": (_tiny_resnet, (64, 96)),
         "vit": (_vit, (32, 48)), "swin": (_swin, (64, 96))}


@pytest.fixture(scope="module")
def models() -> dict[str, tuple[_Detector, str, nn.Module, object, torch.Tensor]]:
    out = {}
    for key, (make, (h, w)) in CASES.items():
        det = _Detector(make())
        name, layer = cl.resolve_layer(det.backbone, cl.block_names(det.backbone)[-1], image_size=h)  # the last block
        torch.manual_seed(1)
        out[key] = (det, name, layer, cl.reshape_transform_for(det.backbone, name), torch.randn(2, 3, h, w))
    return out


def _reference(method: str, det: nn.Module, layer: nn.Module, rt: object, x: torch.Tensor,
               signs: list[float]) -> np.ndarray:
    cls = cm.METHODS[method]
    if method == "fullgrad":
        cam = cls(model=det, target_layers=[layer], reshape_transform=None)
    elif method == "ablationcam" and rt is not None:
        cam = cls(model=det, target_layers=[layer], reshape_transform=rt, ablation_layer=AblationLayerVit())
    else:
        cam = cls(model=det, target_layers=[layer], reshape_transform=rt)
    with cam:
        np.random.seed(0)  # randomcam
        return cam(input_tensor=x, targets=[cm.LogitTarget(s) for s in signs])


# One forward per channel: 1024 resnet18 forwards, ~35 s; a 16-channel timm ResNet runs the same code.
_SLOW = ("scorecam", "ablationcam")


_PAIRS = [(key, method) for method in cm.method_names() for key in CASES
          if key != ("resnet" if method in _SLOW else "tinyresnet")]


@pytest.mark.parametrize(("key", "method"), _PAIRS)
def test_matches_gradcam(models: dict, key: str, method: str) -> None:
    det, _, layer, rt, x = models[key]
    signs = [1.0, -1.0]
    if method == "shapleycam" and rt is not None:
        with pytest.raises(ValueError, match="shapleycam"):
            cm.compute_cams(det, layer, x, signs, method=method, reshape_transform=rt)
        return
    np.random.seed(0)
    raw, logits = cm.compute_cams(det, layer, x, signs, method=method, reshape_transform=rt)
    expected = _reference(method, det, layer, rt, x, signs)
    assert raw.dtype == np.float32 and logits.dtype == np.float32 and logits.shape == (2,)
    with torch.no_grad():
        np.testing.assert_allclose(logits, det(x)[:, 0].numpy(), atol=1e-5)
    got = cm.scale_like_gradcam(raw, tuple(x.shape[-2:]))
    assert got.shape == expected.shape == (2, *x.shape[-2:])
    assert np.abs(got - expected).max() < 1e-5


def test_raw_resolution(models: dict) -> None:
    grids = {"resnet": (2, 3), "tinyresnet": (2, 3), "vit": (2, 3), "swin": (8, 12)}
    for key, grid in grids.items():
        det, _, layer, rt, x = models[key]
        raw, _ = cm.compute_cams(det, layer, x, [1, 1], reshape_transform=rt)
        assert raw.shape == (2, *grid), key


def test_gradcam_known_answer_and_sign() -> None:
    model, x = QuadrantNet(), torch.zeros(1, 3, 8, 8)
    x[:, :, :4, :4] = 1.0
    fake, logit = cm.compute_cams(model, model.features, x, [1.0])
    real, _ = cm.compute_cams(model, model.features, x, [-1.0])
    expected = np.zeros((1, 8, 8), np.float32)
    expected[:, :4, :4] = (3 + 1.5) / (2 * 64)  # weights 1/(2HW) per channel, activations 3 and 1.5
    np.testing.assert_allclose(fake, expected, rtol=1e-6)
    np.testing.assert_allclose(logit, [(3 + 1.5) / 2 - 0.1], rtol=1e-6)
    assert np.array_equal(real, -fake)


def test_hirescam_localises_evidence() -> None:
    model = QuadrantNet()
    raw, _ = cm.compute_cams(model, model.features, torch.ones(1, 3, 8, 8), [1.0], method="hirescam")
    expected = np.zeros((1, 8, 8), np.float32)
    expected[:, :4, :4] = (3 + 1.5) / (2 * 16)  # grad 1/(2*16) in the quadrant only
    np.testing.assert_allclose(raw, expected, rtol=1e-6)


def test_signs_for_each_target() -> None:
    model, x = QuadrantNet(), torch.zeros(2, 3, 8, 8)
    x[0, :, :4, :4] = 1.0  # image 0: logit 2.15 ("fake"); image 1: logit -0.1 ("real")
    with torch.no_grad():
        logits = model(x)
    assert cm.signs_for("predicted", logits).tolist() == [1.0, -1.0]
    assert cm.signs_for("fake", logits).tolist() == [1.0, 1.0]
    assert cm.signs_for("real", logits[:, 0].numpy()).tolist() == [-1.0, -1.0]
    out = torch.tensor([[2.0], [-3.0]])
    assert cm.LogitTarget(-1.0)(out).tolist() == [-2.0, 3.0]
    assert cm.LogitTarget(1.0)(out[1]).item() == -3.0
    with pytest.raises(ValueError, match="target='fakes' is unknown; use one of fake, real, predicted"):
        cm.signs_for("fakes", logits)
    with pytest.raises(ValueError, match=r"sign=0\.5"):
        cm.LogitTarget(0.5)


def test_unknown_method_and_bad_inputs() -> None:
    model = QuadrantNet()
    x = torch.zeros(2, 3, 8, 8)
    with pytest.raises(ValueError, match="method='gradcamm' is unknown; use one of: .*gradcam"):
        cm.compute_cams(model, model.features, x, [1, 1], method="gradcamm")
    with pytest.raises(ValueError, match="signs has 1 values for 2 images"):
        cm.compute_cams(model, model.features, x, [1])
    with pytest.raises(ValueError, match=r"signs must be \+1"):
        cm.compute_cams(model, model.features, x, [1, 0])
    with pytest.raises(ValueError, match="batch_size=0"):
        cm.compute_cams(model, model.features, x, [1, 1], batch_size=0)
    conv = nn.Conv2d(3, 2, 1)
    with pytest.raises(ValueError, match=r"\(B, 1\) logits; got \(2, 2, 8, 8\)"):
        cm.compute_cams(conv, conv, x, [1, 1])
    with pytest.raises(ValueError, match="raw must be"):
        cm.scale_like_gradcam(np.zeros((8, 8)), (8, 8))


def test_unknown_layer_suggests_names() -> None:
    with pytest.raises(ValueError, match=r"layer='layer5'.*--list-layers.*layer4"):
        cl.resolve_layer(_resnet18(), "layer5")
    with pytest.raises(ValueError, match=r"layer='blocks.9.norm1'.*--list-layers.*blocks.1.norm1"):
        cl.reshape_transform_for(_vit(), "blocks.9.norm1")
    name, layer = cl.resolve_layer(_resnet18(), "layer3.1.conv2")
    assert name == "layer3.1.conv2" and isinstance(layer, nn.Conv2d)


def test_auto_layers() -> None:
    auto = lambda m, size=64: cl.resolve_layer(m, image_size=size)[0]  # noqa: E731
    # at 224 px the last block resolves corners from centre (7x7): the usual Grad-CAM layer
    assert auto(_resnet18(), 224) == "layer4.1"
    assert auto(torchvision.models.mobilenet_v2(weights=None, num_classes=1), 224) == "features.18"
    # at 64 px the last block gives 2x2: the deepest block with a side >= 7 (8x8, stride 8) instead
    assert auto(_resnet18()) == "layer2.1"
    assert auto(torchvision.models.resnet50(weights=None, num_classes=1)) == "layer2.3"
    assert auto(timm.create_model("resnet18", pretrained=False, num_classes=1)) == "layer2.1"
    assert auto(torchvision.models.mobilenet_v2(weights=None, num_classes=1)) == "features.6"
    assert auto(_vit()) == "blocks.1.norm1"  # every block has the same 4x4 token grid: the last
    assert auto(_swin()) == "layers.1.blocks.0.norm1"
    assert auto(TinyCNN(), 16) == "body"


def test_auto_layer_says_why_and_list_marks_it() -> None:
    mnv2 = torchvision.models.mobilenet_v2(weights=None, num_classes=1)
    choice = cl.auto_layer(mnv2, 64)
    assert choice.map_size == (8, 8) and "the last block features.18 gives only 2x2" in choice.reason
    assert "the last block" in cl.auto_layer(mnv2, 224).reason
    vit = cl.auto_layer(_vit(64), 64)
    assert vit.map_size == (4, 4) and "too coarse" in vit.reason
    rows = cl.layer_table(mnv2, 64)
    blocks = [r for r in rows if r[2]]
    assert [r[0] for r in blocks] == [f"features.{i}" for i in range(19)] and rows[:19] == blocks
    assert [r[0] for r in rows if r[3]] == ["features.6"]
    text = cl.format_layer_table(rows, 64)
    assert "* features.6\t8x8" in text and "  features.18\t2x2" in text and "other modules:" in text


def test_list_layers_grids() -> None:
    layers = dict(cl.list_layers(_resnet18(), 64))
    assert layers["layer4"] == (2, 2) and layers["layer3"] == (4, 4) and layers["conv1"] == (32, 32)
    assert "avgpool" not in layers and "fc" not in layers  # 1x1 and flat outputs are not maps
    names = [n for n, _ in cl.list_layers(_resnet18(), 64)]
    assert names.index("layer3") < names.index("layer4.0.conv1") < names.index("layer4")
    assert dict(cl.list_layers(_vit(64), 64))["blocks.1.norm1"] == (4, 4)
    swin = dict(cl.list_layers(_swin(64), 64))
    assert swin["layers.1.blocks.0.norm1"] == (8, 8) and swin["layers.0.blocks.0"] == (16, 16)


def test_vit_tokens_to_map_known_answer() -> None:
    vit = _vit((32, 48))  # grid (2, 3), one cls token
    rt = cl.reshape_transform_for(vit, "blocks.1.norm1")
    tokens = torch.arange(2 * 7 * 5, dtype=torch.float32).reshape(2, 7, 5)
    out = rt(tokens)
    assert out.shape == (2, 5, 2, 3)
    assert torch.equal(out[1, 4, 1, 2], tokens[1, 1 + 1 * 3 + 2, 4])
    assert cl.reshape_transform_for(vit, "patch_embed.proj") is None
    assert cl.reshape_transform_for(_resnet18(), "layer4") is None
    nhwc = torch.randn(1, 8, 12, 4)
    assert torch.equal(cl.reshape_transform_for(_swin(), "layers.1")(nhwc), nhwc.permute(0, 3, 1, 2))


def test_state_restored_and_no_hooks(models: dict) -> None:
    det, _, layer, _, x = models["resnet"]
    det.backbone.fc.weight.requires_grad_(False)
    det.train()
    flags = [p.requires_grad for p in det.parameters()]
    cm.compute_cams(det, layer, x, [1, -1])
    assert [p.requires_grad for p in det.parameters()] == flags
    assert det.training and det.backbone.layer1.training
    assert not layer._forward_hooks and not any(m._forward_hooks for m in det.modules())
    with pytest.raises(ValueError, match="layer was not called"):
        cm.compute_cams(det, nn.Conv2d(3, 3, 1), x, [1, -1])  # error inside the frozen section
    assert [p.requires_grad for p in det.parameters()] == flags
    assert not any(m._forward_hooks for m in det.modules())
    det.backbone.fc.weight.requires_grad_(True)
    det.eval()


@pytest.mark.parametrize("method", ["gradcam", "eigencam", "scorecam"])
def test_chunking_matches_one_batch(models: dict, method: str) -> None:
    det, _, layer, rt, x = models["vit"]
    x3 = torch.cat([x, x[:1] * 0.5])
    one, logits_one = cm.compute_cams(det, layer, x3, [1, -1, 1], method=method, reshape_transform=rt)
    chunked, logits_chunked = cm.compute_cams(det, layer, x3, [1, -1, 1], method=method,
                                              reshape_transform=rt, batch_size=2)
    np.testing.assert_allclose(chunked, one, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(logits_chunked, logits_one, rtol=1e-5, atol=1e-6)
