"""The randomisation sanity check: which weights change, similarity known answers, a trained detector whose
Grad-CAM must lose its similarity, and the sanity CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from aigc_explain.core.models import build_detector, Detector
from aigc_explain.analysis.similarity import similarities, spearman, ssim
from aigc_explain.checks.randomization import (load_inputs, MODES, parameter_blocks, randomized_copy, run_sanity,
                                               sanity_verdict, SanityStep, schedule)
from aigc_explain.explain.folder import CamSettings
from aigc_explain.explain.methods import method_names
from aigc_explain.runs.check_summaries import SanitySummary



pytestmark = pytest.mark.usefixtures("one_thread")


class TinyCNN(nn.Module):
    """Blocks from the top: fc, features.5, features.3, features.1 (BatchNorm), features.0."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                      nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
                                      nn.Conv2d(16, 16, 3, padding=1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.features(x)).flatten(1))


def _tiny(seed: int = 0) -> Detector:
    torch.manual_seed(seed)
    return Detector(TinyCNN(), arch="tiny_cnn", source="test", image_size=32).eval()


@pytest.fixture(scope="module")
def trained(tmp_path_factory, make_data) -> tuple[Detector, torch.Tensor]:
    """A TinyCNN trained to tell corner-stripe fakes from noise; returns it with 16 validation images."""
    root = make_data(tmp_path_factory.mktemp("data"), n_train=16, n_val=8, size=32, seed=1)
    det = _tiny()
    train = load_inputs(det, root / "train")
    y = torch.from_numpy(train.labels).float()
    opt = torch.optim.Adam(det.parameters(), lr=1e-2)
    det.train()
    for _ in range(60):
        opt.zero_grad()
        nn.functional.binary_cross_entropy_with_logits(det(train.x)[:, 0], y).backward()
        opt.step()
    det.eval()
    val = load_inputs(det, root / "val")
    with torch.no_grad():
        acc = ((det(val.x)[:, 0] > 0).float() == torch.from_numpy(val.labels)).float().mean()
    assert acc == 1.0, "the tiny detector must learn the corner cue for the test to mean anything"
    return det, val.x


def _perturbed() -> Detector:
    """Every tensor away from its initial value, so re-initialising any block visibly changes it."""
    det = _tiny()
    with torch.no_grad():
        for t in det.state_dict().values():
            t.add_(1 if t.dtype == torch.long else 0.1 * torch.randn_like(t) + 0.05)
    return det


def _keys(det: Detector, block: str) -> set[str]:
    return {k for k in det.state_dict() if k.startswith(f"backbone.{block}.")}


def test_blocks_run_from_the_top():
    assert [b.name for b in parameter_blocks(_tiny().backbone)] == ["fc", "features.5", "features.3", "features.1",
                                                                      "features.0"]
    names = [b.name for b in parameter_blocks(build_detector("resnet18", image_size=32).backbone)]
    assert names[:3] == ["fc", "layer4.1", "layer4.0"] and names[-3:] == ["layer1.0", "bn1", "conv1"]
    assert len(names) == 11


def test_randomisation_changes_exactly_the_scheduled_blocks():
    det = _perturbed()
    before = {k: v.clone() for k, v in det.state_dict().items()}
    blocks = parameter_blocks(det.backbone)
    rng_before = torch.get_rng_state()
    for mode in MODES:
        for k, indices in enumerate(schedule(blocks, mode)):
            assert indices == (tuple(range(k + 1)) if mode == "cascading" else (k,))
            model, changed, total = randomized_copy(det, blocks, indices, seed=3)
            expected = set().union(*(_keys(det, blocks[i].name) for i in indices))
            after = model.state_dict()
            assert {key for key in after if not torch.equal(after[key], before[key])} == expected
            assert changed == total == len(expected) > 0
    assert all(torch.equal(det.state_dict()[k], v) for k, v in before.items())  # the caller's model untouched
    assert torch.equal(torch.get_rng_state(), rng_before)  # nor the global random state
    # a block is re-initialised identically in both schedules and on every call (seeded)
    casc = randomized_copy(det, blocks, (0, 1), seed=3)[0].state_dict()
    indep = randomized_copy(det, blocks, (1,), seed=3)[0].state_dict()
    assert all(torch.equal(casc[k], indep[k]) for k in _keys(det, "features.5"))


def test_vit_blocks_include_its_own_tensors():
    import timm

    torch.manual_seed(0)
    vit = timm.create_model("vit_small_patch16_224", pretrained=False, num_classes=1, img_size=32, depth=2,
                            embed_dim=48, num_heads=2)
    det = Detector(vit, arch="vit", source="timm", image_size=32)
    blocks = parameter_blocks(vit)
    assert [b.name for b in blocks] == ["head", "norm", "blocks.1", "blocks.0", "patch_embed", "cls_token,pos_embed"]
    model, changed, total = randomized_copy(det, blocks, (len(blocks) - 1,))
    assert changed == total == 2 and not torch.equal(model.backbone.pos_embed, vit.pos_embed)


def test_similarity_known_answers():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(16, 16))
    for metric, value in similarities(a[None], a[None]).items():
        assert value[0] == pytest.approx(1.0), metric
    assert spearman(a, -a) == pytest.approx(-1.0) and spearman(a, -a, absolute=True) == pytest.approx(1.0)
    # SSIM of a map and its negation is not -1 (its luminance and structure terms are both negative), but low
    assert ssim(a, -a, absolute=True) == pytest.approx(1.0) and ssim(a, -a) < 0.5
    assert ssim(a, 3 * a) == pytest.approx(1.0) and spearman(a, 3 * a + 1) == pytest.approx(1.0)  # scale-free
    assert np.isnan(spearman(np.ones((8, 8)), a[:8, :8]))
    b = rng.normal(size=(16, 16))
    assert abs(spearman(a, b)) < 0.3 and ssim(a, b) < 0.3
    with pytest.raises(ValueError, match="one shape"):
        spearman(a, a[:8])


def _steps(values: list[float], mode: str = "cascading") -> list[SanityStep]:
    steps = [SanityStep("original", "(none)", [], 0, 0, {"spearman_abs": np.ones(4)}, np.zeros((0, 2, 2)))]
    return steps + [SanityStep(mode, f"b{i}", [], 1, 1, {"spearman_abs": np.full(4, v)}, np.zeros((0, 2, 2)))
                    for i, v in enumerate(values)]


def test_verdict_reads_the_half_way_step():
    text, passed = sanity_verdict(_steps([0.9, 0.8, 0.3, 0.1]), 4)
    assert passed is False and text.startswith("FAIL") and "0.80" in text and "after randomising b2" in text
    text, passed = sanity_verdict(_steps([0.9, 0.4, 0.3, 0.1]), 4)
    assert passed is True and text.startswith("PASS") and "0.40" in text and "top 2 of 4" in text
    assert sanity_verdict(_steps([0.1, 0.1], "independent"), 2)[1] is None


def test_trained_detector_gradcam_loses_similarity(trained):
    det, x = trained
    before = {k: v.clone() for k, v in det.state_dict().items()}
    result = run_sanity(det, x, cam=CamSettings(layer="features.5"), modes=("cascading",), max_images=16,
                        n_examples=2)
    assert all(torch.equal(det.state_dict()[k], v) for k, v in before.items())
    original, steps = result.steps[0], result.steps[1:]
    assert [s.block for s in steps] == ["fc", "features.5", "features.3", "features.1", "features.0"]
    assert all(s.changed_tensors == s.block_tensors > 0 for s in steps)
    for metric in ("spearman", "spearman_abs", "ssim", "ssim_abs"):
        assert np.all(original.per_image[metric] == pytest.approx(1.0))
    final = np.nanmean(steps[-1].per_image["spearman_abs"])
    assert final < 0.5 and np.nanmean(steps[-1].per_image["spearman"]) < 0.5
    assert result.passed is True and result.verdict.startswith("PASS")
    assert result.example_images.shape == (2, 32, 32, 3) and steps[0].examples.shape == (2, 32, 32)
    summary = result.summary()  # what sanity.json holds, before the run folder adds its provenance
    assert summary.passed is True and summary.layer == "features.5" and summary.n_images == 16
    assert [s.block for s in summary.schedule("cascading")] == [s.block for s in steps]
    final_summary = summary.steps[-1].similarity["spearman_abs"]
    assert final_summary.mean == pytest.approx(final) and final_summary.n == 16
    assert summary.checkpoint_sha256 is None and "checkpoint_sha256" not in summary.to_json()


def test_checks_refuse_cam_settings_they_cannot_use(trained):
    det, x = trained
    with pytest.raises(ValueError, match="limit, reencode do not apply to it"):
        run_sanity(det, x, cam=CamSettings(limit=4, reencode="png"))


def test_cam_settings_refuse_an_unknown_method_naming_the_valid_ones():
    with pytest.raises(ValueError, match="--method 'nope' is unknown; use one of: ") as exc:
        CamSettings(method="nope")
    assert all(name in str(exc.value) for name in method_names())
    assert CamSettings(method="GradCAM++").method == "gradcam++"  # any case, stored as compute_cams names it


def test_sanity_cli_writes_the_files(dataset: Path, tmp_path: Path, capsys):
    from aigc_explain.core.checkpoint import save_checkpoint
    from aigc_explain.sanity import main

    torch.manual_seed(0)
    save_checkpoint(tmp_path / "det.pth", build_detector("test_resnet", image_size=32))
    out = tmp_path / "run"
    args = ["--ckpt", str(tmp_path / "det.pth"), "--images", str(dataset / "val"), "--out", str(out), "--layer",
            "layer1", "--max-images", "4", "--mode", "cascading", "--examples", "2", "--device", "cpu"]
    assert main([*args, "--json"]) == 0
    for name in ("sanity.json", "sanity_curve.png", "sanity_examples.png", "manifest.json", "skipped.csv"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "sanity.json").read_text())
    assert SanitySummary.from_json(summary).to_json() == summary  # the typed summary reads what it wrote
    assert summary["layer"] == "layer1" and summary["n_images"] == 4
    assert summary["passed"] == summary["verdict"].startswith("PASS")
    assert summary["verdict"].startswith(("PASS", "FAIL")) and len(summary["steps"]) == 1 + len(summary["blocks"])
    for step in summary["steps"]:
        for metric, entry in step["similarity"].items():
            values = [v for v in step["per_image"][metric] if v is not None]
            assert entry["mean"] == pytest.approx(np.mean(values)) and entry["n"] == len(values)
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["passed"] == summary["passed"]
    assert main(args) == 2 and "already holds a run" in capsys.readouterr().err
    assert main(args[:2] + ["--images", str(tmp_path / "nope"), "--out", str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sanity: error: --images") and "is not a folder" in err[0]
    assert main(args[:4] + ["--out", str(tmp_path / "o3"), "--layer", "layer4", "--device", "cpu"]) == 2
    assert "constant at input size; pass an earlier --layer" in capsys.readouterr().err
    assert main(args[:4] + ["--out", str(tmp_path / "o4"), "--method", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sanity: error: --method 'nope' is unknown; use one of: ")
    assert not (tmp_path / "o4").exists()

