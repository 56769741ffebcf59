"""The ResNet detectors of the zoo (CNNDetection, NPR, Corvi 2023), read from files in their released layouts.

Each reference forward is written here from the paper's description, in plain functional torch on the state
dict's tensors (input normalisation, stem, Bottlenecks, head), and must give our rebuilt model's probabilities
to 1e-5; a naive variant (no residual, a down-sampling stem) must not, so the test can tell. Weights are random
(BN statistics too), with the head scaled so the logits are spread and the sigmoid is not saturated."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from aigc_explain.core.checkpoint import load_detector
from aigc_explain.core.models import build_detector

IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
CORVI_CONFIG = "arch: res50nodown\nmodel_name: Corvi2023\nnorm_type: resnet\npatch_size: null\nweights_file: weights.pth\n"


def _random_state(arch: str, x: torch.Tensor, head: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict of ``arch`` with random BN statistics, its head rescaled to logits of mean 0, std 2 on ``x``."""
    torch.manual_seed(seed)
    model = build_detector(arch).backbone.eval()
    with torch.no_grad():
        for name, buf in model.named_buffers():
            if name.endswith("running_mean"):
                buf.normal_(0, 0.1)
            elif name.endswith("running_var"):
                buf.uniform_(0.5, 1.5)
        for name, p in model.named_parameters():
            if ".bn" in name or name.startswith("bn") or "downsample.1" in name:
                p.normal_(1.0 if name.endswith("weight") else 0.0, 0.1)
        z = model(x).flatten()
        fc = model.get_submodule(head)
        fc.weight.mul_(2 / z.std())
        fc.bias.copy_((fc.bias - z.mean()) * 2 / z.std())
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# ------------------------------------------------------------------ reference forwards, from the papers
def _bn(x, s, p):
    return F.batch_norm(x, s[p + "running_mean"], s[p + "running_var"], s[p + "weight"], s[p + "bias"], False, 0.0, 1e-5)


def _bottleneck(x, s, p, stride):
    out = F.relu(_bn(F.conv2d(x, s[p + "conv1.weight"]), s, p + "bn1."))
    out = F.relu(_bn(F.conv2d(out, s[p + "conv2.weight"], stride=stride, padding=1), s, p + "bn2."))
    out = _bn(F.conv2d(out, s[p + "conv3.weight"]), s, p + "bn3.")
    if p + "downsample.0.weight" in s:
        x = _bn(F.conv2d(x, s[p + "downsample.0.weight"], stride=stride), s, p + "downsample.1.")
    return F.relu(out + x)


def _resnet(x, s, *, kernel, stride, stages):
    """ResNet-50 (v1.5: stride on the 3x3 conv) with the given stem; global average of the last stage."""
    x = F.relu(_bn(F.conv2d(x, s["conv1.weight"], stride=stride, padding=kernel // 2), s, "bn1."))
    x = F.max_pool2d(x, 3, stride=stride, padding=1)
    for i, blocks in enumerate(stages, start=1):
        for b in range(blocks):
            x = _bottleneck(x, s, f"layer{i}.{b}.", 2 if (b == 0 and i > 1) else 1)
    return x.mean((2, 3))


def ref_cnndetection(x, s):  # Wang 2020: torchvision ResNet-50, fc(2048 -> 1)
    return F.linear(_resnet(x, s, kernel=7, stride=2, stages=(3, 4, 6, 3)), s["fc.weight"], s["fc.bias"])


def ref_corvi(x, s, stem_stride=1):  # Corvi 2023: no down-sampling in the stem; dropout is off at test time
    return F.linear(_resnet(x, s, kernel=7, stride=stem_stride, stages=(3, 4, 6, 3)), s["fc.weight"], s["fc.bias"])


def ref_npr(x, s, residual=True):  # Tan 2024: (x - nearest_up(x[::2, ::2])) * 2/3 into conv1 (3x3, s2), layer1-2, fc1
    if residual:
        x = x - x[..., ::2, ::2].repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)
    x = x * (2.0 / 3.0)
    return F.linear(_resnet(x, s, kernel=3, stride=2, stages=(3, 4)), s["fc1.weight"], s["fc1.bias"])


def _normalise(images: torch.Tensor, mean_std=IMAGENET) -> torch.Tensor:
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in mean_std)
    return (images.float() / 255 - mean) / std


def _images(n: int, size: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, size, size), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def _probs(detector, x):
    with torch.no_grad():
        return torch.sigmoid(detector(x)).flatten()


CASES = {  # name -> (reference, head, test input side, published input size)
    "cnndetection": (ref_cnndetection, "fc", 64, 256),
    "npr": (ref_npr, "fc1", 64, 256),
    "corvi2023": (ref_corvi, "fc", 32, 256),
}


def _save(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(obj, path)
    return path


def _released(tmp_path: Path, name: str, state) -> Path:
    """The file as each project releases it."""
    if name == "cnndetection":
        optimizer = {"state": {}, "param_groups": [{"lr": 1e-4, "params": [0, 1]}]}
        return _save(tmp_path / "blur_jpg_prob0.5.pth", {"model": state, "optimizer": optimizer, "total_steps": 1234})
    if name == "npr":
        return _save(tmp_path / "NPR.pth", state)
    folder = tmp_path / "Corvi2023"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(CORVI_CONFIG)
    return _save(folder / "weights.pth", {"model": {f"module.{k}": v for k, v in state.items()}})


@pytest.mark.parametrize("name", list(CASES))
def test_released_file_loads_with_no_flags_and_matches_the_published_forward(name, tmp_path):
    reference, head, side, size = CASES[name]
    x = _normalise(_images(4, side))
    state = _random_state(name, x, head)
    detector = load_detector(_released(tmp_path / "other-name", name, state))
    assert (detector.arch, detector.image_size, detector.mean, detector.std) == (name, size, *IMAGENET)
    ours = _probs(detector, x)
    with torch.no_grad():
        logits = reference(x, state).flatten()
    assert logits.std() > 0.5 and 0.01 < ours.min() and ours.max() < 0.99  # spread, not saturated
    assert torch.allclose(ours, torch.sigmoid(logits), atol=1e-5, rtol=0)
    naive = {"npr": lambda: ref_npr(x, state, residual=False), "corvi2023": lambda: ref_corvi(x, state, stem_stride=2),
             "cnndetection": lambda: ref_corvi(x, state, stem_stride=1)}[name]
    with torch.no_grad():
        assert not torch.allclose(ours, torch.sigmoid(naive().flatten()), atol=1e-3)


def test_npr_through_its_published_input_pipeline(tmp_path):
    """256-px images through our evaluation transform (a no-op resize at 256, ImageNet mean/std) = the paper's."""
    from aigc_explain.core.images import eval_transform

    images = _images(2, 256, seed=3)
    state = _random_state("npr", _normalise(images), "fc1")
    detector = load_detector(_released(tmp_path, "npr", state))
    ours = _probs(detector, torch.stack([eval_transform(detector.image_size, detector.mean, detector.std)(im)
                                         for im in images]))
    with torch.no_grad():
        assert torch.allclose(ours, torch.sigmoid(ref_npr(_normalise(images), state).flatten()), atol=1e-5, rtol=0)


@pytest.mark.parametrize("nesting", ["model", "module", "state_dict", "net", "flat"])
def test_corvi_nesting_variants(nesting, tmp_path):
    state = _random_state("corvi2023", _normalise(_images(2, 32)), "fc")
    obj = {"model": state, "module": {"model": {f"module.{k}": v for k, v in state.items()}},
           "state_dict": {"state_dict": state}, "net": {"net": state}, "flat": state}[nesting]
    (tmp_path / "config.yaml").write_text(CORVI_CONFIG)
    detector = load_detector(_save(tmp_path / "weights.pth", obj))
    assert detector.arch == "corvi2023" and detector.backbone.conv1.stride == (1, 1)
    assert detector.backbone.maxpool.stride == 1


def test_corvi_without_its_config_is_a_plain_resnet50_unless_named(tmp_path):
    """The weights alone cannot tell the stem's stride: no config.yaml -> resnet50; --arch corvi2023 overrides."""
    state = _random_state("corvi2023", _normalise(_images(2, 32)), "fc")
    path = _save(tmp_path / "weights.pth", {"net": state})
    assert load_detector(_save(tmp_path / "flat.pth", state)).arch == "resnet50"
    assert load_detector(path, arch="corvi2023").arch == "corvi2023"


def test_cnndetection_at_224_is_still_available(tmp_path):
    x = _normalise(_images(2, 64))
    state = _random_state("cnndetection", x, "fc")
    path = _released(tmp_path, "cnndetection", state)
    old = load_detector(path, arch="resnet50")
    assert (old.arch, old.image_size) == ("resnet50", 224)
    assert torch.allclose(_probs(old, x), _probs(load_detector(path), x), atol=1e-6)


def test_a_truncated_npr_file_is_one_line_exit_2(tmp_path, dataset, error_line):
    from aigc_explain.evaluate import main as evaluate_main

    state = _random_state("npr", _normalise(_images(2, 64)), "fc1")
    del state["fc1.bias"], state["layer2.3.conv3.weight"]
    path = _save(tmp_path / "NPR.pth", state)
    assert evaluate_main(["--ckpt", str(path), "--data", str(dataset), "--out", str(tmp_path / "e"),
                          "--device", "cpu"]) == 2
    assert "does not fit npr: missing keys layer2.3.conv3.weight, fc1.bias" in error_line()
    cut = tmp_path / "cut.pth"
    cut.write_bytes(_save(tmp_path / "full.pth", _random_state("npr", _normalise(_images(2, 64)), "fc1"))
                    .read_bytes()[:100_000])
    assert evaluate_main(["--ckpt", str(cut), "--data", str(dataset), "--out", str(tmp_path / "e2"),
                          "--device", "cpu"]) == 2
    assert "cannot be loaded safely" in error_line()


def test_an_unknown_layout_lists_the_layouts_and_the_keys_seen(tmp_path, dataset, error_line):
    from aigc_explain.cam import main as cam_main

    path = _save(tmp_path / "mystery.pth", {"encoder.proj.weight": torch.zeros(8, 3), "probe.weight": torch.zeros(1, 8)})
    assert cam_main(["--ckpt", str(path), "--images", str(dataset / "val"), "--out", str(tmp_path / "c"),
                     "--device", "cpu", "--no-progress"]) == 2
    line = error_line()
    assert "known detector layouts: npr (NPR.pth" in line and "universalfakedetect" in line and "cozzolino2024" in line
    assert "keys seen: encoder.proj.weight [8, 3], probe.weight [1, 8]" in line


def _commands(path: Path, tmp_path: Path, data: Path, layer: str, checks: bool = False) -> None:
    from aigc_explain.cam import main as cam_main
    from aigc_explain.diagnose import main as diagnose_main
    from aigc_explain.evaluate import main as evaluate_main
    from aigc_explain.faithfulness import main as faithfulness_main
    from aigc_explain.sanity import main as sanity_main

    assert evaluate_main(["--ckpt", str(path), "--data", str(data), "--out", str(tmp_path / "e"),
                          "--device", "cpu", "-b", "4"]) == 0
    assert cam_main(["--ckpt", str(path), "--images", str(data / "val"), "--out", str(tmp_path / "c"),
                     "--limit", "2", "--overlays", "1", "--device", "cpu", "--no-progress", "-b", "2"]) == 0
    assert f'"layer": "{layer}"' in (tmp_path / "c" / "summary.json").read_text()
    assert diagnose_main(["--ckpt", str(path), "--images", str(data / "val"), "--out", str(tmp_path / "d"),
                          "--limit", "2", "--patch", "16,32", "--map-images", "1", "--batch-size", "2",
                          "--device", "cpu", "--no-progress"]) == 0
    if checks:
        val = str(data / "val")
        assert sanity_main(["--ckpt", str(path), "--images", val, "--out", str(tmp_path / "s"), "--max-images", "2",
                            "--examples", "1", "--device", "cpu"]) == 0
        assert faithfulness_main(["--ckpt", str(path), "--images", val, "--out", str(tmp_path / "f"), "--max-images",
                                  "2", "--steps", "4", "--road-images", "2", "--device", "cpu"]) == 0


def test_npr_commands_complete_on_a_folder(tmp_path, make_data, monkeypatch):
    """At 64 px (the published 256 is tested above): auto picks the last block, 8x8 here (32x32 at 256)."""
    from aigc_explain.core.zoo import npr

    monkeypatch.setattr(npr, "IMAGE_SIZE", 64)
    path = _released(tmp_path, "npr", _random_state("npr", _normalise(_images(2, 64)), "fc1"))
    _commands(path, tmp_path, make_data(tmp_path / "data", n_train=1, n_val=2), "layer2.3", checks=True)


@pytest.mark.slow
@pytest.mark.parametrize("name, layer", [("cnndetection", "layer2.3"), ("corvi2023", "layer4.2")])
def test_resnet_commands_complete_on_a_folder(name, layer, tmp_path, make_data, monkeypatch):
    """At 64 px instead of the published 256 (Corvi's stride-1 stem costs 16x a ResNet-50 on one CPU core)."""
    from aigc_explain.core.zoo import cnndetection, corvi

    monkeypatch.setattr({"cnndetection": cnndetection, "corvi2023": corvi}[name], "IMAGE_SIZE", 64)
    data = make_data(tmp_path / "data", n_train=1, n_val=1)
    _commands(_released(tmp_path, name, _random_state(name, _normalise(_images(2, 32)), "fc")), tmp_path, data, layer)


def test_zoo_names_are_suggested_and_listed(tmp_path, capsys):
    from aigc_explain.cam import main as cam_main

    with pytest.raises(ValueError, match=r"a published detector \(npr, corvi2023, .*did you mean npr"):
        build_detector("nrp")
    path = _released(tmp_path, "npr", _random_state("npr", _normalise(_images(2, 64)), "fc1"))
    assert cam_main(["--ckpt", str(path), "--list-layers"]) == 0
    out = capsys.readouterr().out
    assert "* layer2.3\t32x32" in out and "  layer1.2\t64x64" in out


def test_a_zoo_detector_saved_in_our_format_comes_back(tmp_path):
    from aigc_explain.core.checkpoint import save_checkpoint

    x = _normalise(_images(2, 64))
    detector = load_detector(_released(tmp_path, "npr", _random_state("npr", x, "fc1")))
    save_checkpoint(tmp_path / "ours.pth", detector)
    again = load_detector(tmp_path / "ours.pth")
    assert (again.arch, again.source, again.image_size) == ("npr", "zoo", 256)
    assert torch.equal(_probs(again, x), _probs(detector, x))
