"""The CLIP probes of the zoo (UniversalFakeDetect, Cozzolino 2024) on tiny CLIP encoders.

The real encoder is ViT-L/14 at 224 px (too heavy here), so the tests register tiny encoders with the same layout
(timm's CLIP ViT with QuickGELU / GELU, 2 blocks, width 32, 4x4 token grid) whose "pretrained" weights are a file in
OpenAI's own key layout (``visual.conv1.weight``, ``transformer.resblocks…``, ``proj``, plus text-tower keys that
must be ignored). The reference forward is CLIP's image encoder written here from the paper, in functional torch on
those OpenAI tensors, then the probe; probabilities must agree to 1e-5."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from aigc_explain.core.checkpoint import load_detector
from aigc_explain.core.zoo import clip

WIDTH, EMBED, DEPTH, HEADS, SIDE = 32, 16, 2, 2, 56
CLIP_MEAN_STD = ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))
COZ_CONFIG = "arch: opencliplinearnext_clipL14commonpool\nmodel_name: clipdet_latent10k_plus\nnorm_type: clip\n"


def _openai_state(seed: int) -> dict[str, torch.Tensor]:
    """A random CLIP image tower in OpenAI's key layout, with text-tower keys beside it as in a full CLIP file."""
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape, scale=0.1, base=0.0):
        return base + scale * torch.randn(*shape, generator=g)
    p, grid = "visual.", (SIDE // 14) ** 2
    s = {p + "class_embedding": rnd(WIDTH), p + "positional_embedding": rnd(1 + grid, WIDTH),
         p + "conv1.weight": rnd(WIDTH, 3, 14, 14, scale=0.05), p + "proj": rnd(WIDTH, EMBED, scale=0.3),
         "token_embedding.weight": rnd(10, WIDTH), "logit_scale": torch.tensor(4.6)}
    for ln in ("ln_pre", "ln_post"):
        s[f"{p}{ln}.weight"], s[f"{p}{ln}.bias"] = rnd(WIDTH, base=1.0), rnd(WIDTH)
    for i in range(DEPTH):
        b = f"{p}transformer.resblocks.{i}."
        for ln in ("ln_1", "ln_2"):
            s[f"{b}{ln}.weight"], s[f"{b}{ln}.bias"] = rnd(WIDTH, base=1.0), rnd(WIDTH)
        s[b + "attn.in_proj_weight"], s[b + "attn.in_proj_bias"] = rnd(3 * WIDTH, WIDTH, scale=0.3), rnd(3 * WIDTH)
        s[b + "attn.out_proj.weight"], s[b + "attn.out_proj.bias"] = rnd(WIDTH, WIDTH, scale=0.2), rnd(WIDTH)
        s[b + "mlp.c_fc.weight"], s[b + "mlp.c_fc.bias"] = rnd(4 * WIDTH, WIDTH, scale=0.2), rnd(4 * WIDTH)
        s[b + "mlp.c_proj.weight"], s[b + "mlp.c_proj.bias"] = rnd(WIDTH, 4 * WIDTH, scale=0.1), rnd(WIDTH)
    return s


def ref_clip_features(x, s, *, quick_gelu: bool, project: bool) -> torch.Tensor:
    """CLIP's image encoder (Radford et al. 2021): patch conv, class token + positions, ln_pre, pre-LN blocks,
    ln_post on the class token, [projection]."""
    p, n = "visual.", x.shape[0]
    ln = lambda t, k: F.layer_norm(t, (WIDTH,), s[k + ".weight"], s[k + ".bias"], 1e-5)  # noqa: E731
    act = (lambda t: t * torch.sigmoid(1.702 * t)) if quick_gelu else F.gelu
    t = F.conv2d(x, s[p + "conv1.weight"], stride=14).flatten(2).transpose(1, 2)
    t = torch.cat([s[p + "class_embedding"].expand(n, 1, WIDTH), t], 1) + s[p + "positional_embedding"]
    t = ln(t, p + "ln_pre")
    for i in range(DEPTH):
        b = f"{p}transformer.resblocks.{i}."
        q, k, v = F.linear(ln(t, b + "ln_1"), s[b + "attn.in_proj_weight"], s[b + "attn.in_proj_bias"]).chunk(3, -1)
        q, k, v = (z.reshape(n, -1, HEADS, WIDTH // HEADS).transpose(1, 2) for z in (q, k, v))
        att = torch.softmax(q @ k.transpose(-1, -2) / (WIDTH // HEADS) ** 0.5, -1) @ v
        t = t + F.linear(att.transpose(1, 2).reshape(n, -1, WIDTH), s[b + "attn.out_proj.weight"], s[b + "attn.out_proj.bias"])
        h = act(F.linear(ln(t, b + "ln_2"), s[b + "mlp.c_fc.weight"], s[b + "mlp.c_fc.bias"]))
        t = t + F.linear(h, s[b + "mlp.c_proj.weight"], s[b + "mlp.c_proj.bias"])
    f = ln(t[:, 0], p + "ln_post")
    return f @ s[p + "proj"] if project else f


PROBES = {  # layout -> (backbone key, timm model, QuickGELU, projection, L2 norm, probe input width)
    "universalfakedetect": ("openai", "vit_large_patch14_clip_quickgelu_224", True, True, False, EMBED),
    "cozzolino2024": ("commonpool", "vit_large_patch14_clip_224", False, False, True, WIDTH),
}


@pytest.fixture
def tiny_clips(tmp_path, monkeypatch):
    """Both encoders replaced by tiny ones whose weights are OpenAI-layout files; returns their state dicts."""
    states = {}
    for seed, (key, model, *_rest) in enumerate(v for v in PROBES.values()):
        states[key] = _openai_state(seed)
        path = tmp_path / "encoders" / f"{key}.pt"
        path.parent.mkdir(exist_ok=True)
        torch.save(states[key], path)
        tiny = clip.ClipBackbone(key, model, str(path), WIDTH, EMBED, SIDE,
                                 (("embed_dim", WIDTH), ("depth", DEPTH), ("num_heads", HEADS)))
        monkeypatch.setitem(clip.BACKBONES, key, tiny)
    return states


def _images(n: int, seed: int = 1) -> torch.Tensor:
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in CLIP_MEAN_STD)
    u8 = torch.randint(0, 256, (n, 3, SIDE, SIDE), generator=torch.Generator().manual_seed(seed))
    return (u8.float() / 255 - mean) / std


def _probe(features: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """fc weight and bias giving logits of mean 0, std 2 on ``features`` (spread, not saturated)."""
    w = torch.randn(1, features.shape[1], generator=torch.Generator().manual_seed(seed))
    z = (features @ w.T).flatten()
    return w * 2 / z.std(), (-z.mean() * 2 / z.std()).reshape(1)


def _on_cuda(path: Path, obj) -> Path:
    """``torch.save(obj)`` as if its tensors had been on cuda:0 (the storage location recorded in the pickle), which
    this CPU-only machine cannot create: loading it without map_location fails here."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    src, out = zipfile.ZipFile(io.BytesIO(buf.getvalue())), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith("data.pkl"):
                data = data.replace(b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0")
            dst.writestr(info.filename, data)
    path.write_bytes(out.getvalue())
    return path


def _released(tmp_path: Path, name: str, w, b) -> Path:
    if name == "universalfakedetect":
        return _on_cuda(tmp_path / "fc_weights.pth", {"weight": w, "bias": b})
    folder = tmp_path / "clipdet_latent10k_plus"
    folder.mkdir()
    (folder / "config.yaml").write_text(COZ_CONFIG)
    torch.save({"model": {"module.fc.weight": w, "module.fc.bias": b}}, folder / "weights.pth")
    return folder / "weights.pth"


def test_the_ufd_file_was_saved_on_cuda(tmp_path):
    path = _on_cuda(tmp_path / "fc.pth", {"weight": torch.zeros(1, 4)})
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(path, weights_only=True)
    assert torch.load(path, weights_only=True, map_location="cpu")["weight"].device.type == "cpu"


@pytest.mark.parametrize("name", list(PROBES))
def test_released_probe_loads_with_no_flags_and_matches_the_published_forward(name, tiny_clips, tmp_path):
    key, _, quick, project, normalize, _ = PROBES[name]
    x, state = _images(6), tiny_clips[key]
    features = ref_clip_features(x, state, quick_gelu=quick, project=project)
    if normalize:
        features = features / features.norm(dim=-1, keepdim=True)
    w, b = _probe(features, seed=5)
    detector = load_detector(_released(tmp_path, name, w, b))
    assert (detector.arch, detector.image_size, detector.mean, detector.std) == (name, SIDE, *CLIP_MEAN_STD)
    with torch.no_grad():
        ours = torch.sigmoid(detector(x)).flatten()
        other = ref_clip_features(x, state, quick_gelu=not quick, project=project)  # the wrong activation
    expected = torch.sigmoid(features @ w.T + b).flatten()
    assert 0.01 < ours.min() and ours.max() < 0.99
    assert torch.allclose(ours, expected, atol=1e-5, rtol=0)
    if normalize:
        other = other / other.norm(dim=-1, keepdim=True)
    assert not torch.allclose(ours, torch.sigmoid(other @ w.T + b).flatten(), atol=1e-4)


def test_cam_grid_comes_from_the_encoder(tiny_clips, tmp_path):
    from aigc_explain.explain.layers import auto_layer, reshape_transform_for

    detector = load_detector(_released(tmp_path, "universalfakedetect", torch.randn(1, EMBED), torch.zeros(1)))
    choice = auto_layer(detector.backbone, detector.image_size)
    assert (choice.layer, choice.map_size) == (f"blocks.{DEPTH - 1}.norm1", (SIDE // 14, SIDE // 14))
    tokens = torch.randn(2, 1 + (SIDE // 14) ** 2, WIDTH)
    assert reshape_transform_for(detector.backbone, choice.layer)(tokens).shape == (2, WIDTH, SIDE // 14, SIDE // 14)


def test_wrong_probe_shapes_and_configs_are_one_line(tiny_clips, tmp_path, dataset, error_line):
    from aigc_explain.evaluate import main as evaluate_main

    def run(path: Path) -> str:
        assert evaluate_main(["--ckpt", str(path), "--data", str(dataset), "--out", str(tmp_path / path.stem),
                              "--device", "cpu"]) == 2
        return error_line()
    torch.save({"weight": torch.zeros(1, EMBED + 1), "bias": torch.zeros(1)}, tmp_path / "wide.pth")
    line = run(tmp_path / "wide.pth")
    assert "known detector layouts" in line and "keys seen: weight [1, 17], bias [1]" in line
    torch.save({"weight": torch.zeros(1, EMBED)}, tmp_path / "nobias.pth")
    assert "does not fit universalfakedetect head.fc: missing keys bias" in run(tmp_path / "nobias.pth")
    folder = tmp_path / "other"
    folder.mkdir()
    (folder / "config.yaml").write_text("arch: opencliplinear_clipL14laion2B\n")
    torch.save({"model": {"fc.weight": torch.zeros(1, WIDTH), "fc.bias": torch.zeros(1)}}, folder / "weights.pth")
    assert "only opencliplinearnext_clipL14commonpool" in run(folder / "weights.pth")
    torch.save({"weight": torch.full((1, EMBED), float("nan")), "bias": torch.zeros(1)}, tmp_path / "nan.pth")
    assert "non-finite weights (NaN or inf in weight)" in run(tmp_path / "nan.pth")


def test_missing_encoder_weights_name_where_to_put_them(tiny_clips, tmp_path, monkeypatch, dataset, error_line):
    from aigc_explain.evaluate import main as evaluate_main

    spec = clip.BACKBONES["openai"]
    monkeypatch.setitem(clip.BACKBONES, "openai", clip.ClipBackbone(
        spec.key, spec.timm_model, str(tmp_path / "absent.pt"), spec.width, spec.embed, spec.image_size, spec.kwargs))
    path = _released(tmp_path, "universalfakedetect", torch.randn(1, EMBED), torch.zeros(1))
    assert evaluate_main(["--ckpt", str(path), "--data", str(dataset), "--out", str(tmp_path / "e"),
                          "--device", "cpu"]) == 2
    line = error_line()
    assert "could not get the CLIP openai encoder weights" in line and str(clip.weights_file(spec)) in line
    local = clip.weights_file(spec)  # the local copy is looked for first
    local.parent.mkdir(parents=True, exist_ok=True)
    torch.save(tiny_clips["openai"], local)
    try:
        assert load_detector(path).arch == "universalfakedetect"
    finally:
        local.unlink()


@pytest.mark.parametrize("name", list(PROBES))
def test_probe_commands_complete_on_a_folder(name, tiny_clips, tmp_path, dataset):
    from aigc_explain.cam import main as cam_main
    from aigc_explain.diagnose import main as diagnose_main
    from aigc_explain.evaluate import main as evaluate_main
    from aigc_explain.faithfulness import main as faithfulness_main
    from aigc_explain.sanity import main as sanity_main

    features = WIDTH if name == "cozzolino2024" else EMBED
    path = _released(tmp_path, name, torch.randn(1, features), torch.zeros(1))
    assert evaluate_main(["--ckpt", str(path), "--data", str(dataset), "--out", str(tmp_path / "e"),
                          "--device", "cpu"]) == 0
    assert cam_main(["--ckpt", str(path), "--images", str(dataset / "val"), "--out", str(tmp_path / "c"),
                     "--overlays", "1", "--device", "cpu", "--no-progress"]) == 0
    assert f'"layer": "blocks.{DEPTH - 1}.norm1"' in (tmp_path / "c" / "summary.json").read_text()
    assert diagnose_main(["--ckpt", str(path), "--images", str(dataset / "val"), "--out", str(tmp_path / "d"),
                          "--patch", "7,14", "--map-images", "1", "--device", "cpu", "--no-progress"]) == 0
    assert sanity_main(["--ckpt", str(path), "--images", str(dataset / "val"), "--out", str(tmp_path / "s"),
                        "--max-images", "4", "--examples", "1", "--device", "cpu"]) == 0
    assert faithfulness_main(["--ckpt", str(path), "--images", str(dataset / "val"), "--out", str(tmp_path / "f"),
                              "--max-images", "4", "--steps", "4", "--road-images", "2", "--device", "cpu"]) == 0


def test_detectors_of_different_architectures_compare_side_by_side(tiny_clips, tmp_path, make_data, monkeypatch):
    """An NPR CNN (8x8 map at 64 px) and a CLIP probe (4x4 token grid) on the same images: one cross-domain
    matrix, and their mean CAMs compared on one grid."""
    import json

    from aigc_explain.cam import main as cam_main
    from aigc_explain.compare import main as compare_main
    from aigc_explain.core.zoo import npr
    from aigc_explain.evaluate import main as evaluate_main

    monkeypatch.setattr(npr, "IMAGE_SIZE", 64)
    data = make_data(tmp_path / "data", n_train=1, n_val=3)
    torch.manual_seed(0)
    npr_path = tmp_path / "NPR.pth"
    torch.save(npr.NPRNet().state_dict(), npr_path)
    ufd = _released(tmp_path, "universalfakedetect", torch.randn(1, EMBED), torch.zeros(1))
    assert evaluate_main(["--ckpt", str(npr_path), str(ufd), "--names", "npr", "ufd", "--data", str(data / "val"),
                          str(data / "train"), "--out", str(tmp_path / "matrix"), "--device", "cpu"]) == 0
    rows = (tmp_path / "matrix" / "cross_domain.csv").read_text()
    assert "npr" in rows and "ufd" in rows
    for name, ckpt in (("npr", npr_path), ("ufd", ufd)):
        assert cam_main(["--ckpt", str(ckpt), "--images", str(data / "val"), "--out", str(tmp_path / name),
                         "--overlays", "0", "--device", "cpu", "--no-progress"]) == 0
    assert compare_main([str(tmp_path / "npr"), str(tmp_path / "ufd"), "--out", str(tmp_path / "cmp"),
                         "--n-perm", "200", "--n-boot", "100", "--allow-different"]) == 0
    assert '"resampled": true' in json.dumps(json.loads((tmp_path / "cmp" / "comparison.json").read_text()))


def test_a_probe_saved_in_our_format_comes_back_without_its_encoder_file(tiny_clips, tmp_path, monkeypatch):
    from aigc_explain.core.checkpoint import save_checkpoint

    detector = load_detector(_released(tmp_path, "cozzolino2024", torch.randn(1, WIDTH), torch.zeros(1)))
    save_checkpoint(tmp_path / "ours.pth", detector)
    spec = clip.BACKBONES["commonpool"]  # the encoder's weights are in our file now: no second file is read
    monkeypatch.setitem(clip.BACKBONES, "commonpool", clip.ClipBackbone(
        spec.key, spec.timm_model, str(tmp_path / "gone.pt"), spec.width, spec.embed, spec.image_size, spec.kwargs))
    again = load_detector(tmp_path / "ours.pth")
    x = _images(3)
    with torch.no_grad():
        assert again.arch == "cozzolino2024" and torch.equal(again(x), detector(x))
