"""Faithfulness: deletion/insertion on a detector whose logit is the brightness of the top-left quadrant,
AUC and trivial-map known answers, ROAD against grad-cam's own ROADCombined, and the faithfulness CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from aigc_explain.checks import faithfulness as fm
from aigc_explain.core.images import IMAGENET_MEAN, IMAGENET_STD
from aigc_explain.core.models import build_detector, Detector
from aigc_explain.explain.folder import CamSettings
from aigc_explain.runs.check_summaries import FaithfulnessSummary
from aigc_explain.analysis.regions import region_masks

SIZE = 32


pytestmark = pytest.mark.usefixtures("one_thread")


class Quadrant(nn.Module):
    """logit = 8 * (mean brightness of the top-left 16x16 quadrant, in [0, 1] - 0.5)."""

    def __init__(self) -> None:
        super().__init__()
        self.pixels = nn.Conv2d(3, 1, 1)  # undoes the normalisation and averages the channels
        with torch.no_grad():
            self.pixels.weight.copy_(torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) / 3)
            self.pixels.bias.fill_(sum(IMAGENET_MEAN) / 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = SIZE // 2
        return 8 * (self.pixels(x)[:, :, :q, :q].mean(dim=(1, 2, 3)) - 0.5)[:, None]


def _quadrant_detector() -> Detector:
    return Detector(Quadrant(), arch="quadrant", source="test", image_size=SIZE).eval()


def _images(n: int = 4, seed: int = 0) -> torch.Tensor:
    """Dark noise with a bright noisy top-left quadrant, normalised like the detector's inputs."""
    rng = np.random.default_rng(seed)
    img = rng.uniform(0.0, 0.25, size=(n, 3, SIZE, SIZE))
    img[:, :, :SIZE // 2, :SIZE // 2] = rng.uniform(0.8, 1.0, size=(n, 3, SIZE // 2, SIZE // 2))
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (IMAGENET_MEAN, IMAGENET_STD))
    return ((torch.from_numpy(img) - mean) / std).float()


def _quadrant_map(n: int) -> np.ndarray:
    m = np.zeros((n, SIZE, SIZE))
    m[:, :SIZE // 2, :SIZE // 2] = 1.0
    return m


def _score(det: Detector, x: torch.Tensor, sign: float = 1.0) -> np.ndarray:
    with torch.no_grad():
        return torch.sigmoid(sign * det(x)[:, 0]).double().numpy()


@pytest.mark.parametrize("baseline", ["zero", "mean"])
def test_quadrant_map_beats_the_centre_gaussian(baseline: str):
    det, x = _quadrant_detector(), _images()
    signs = torch.ones(len(x))
    base = fm.baseline_images(x, baseline)
    gauss = fm.trivial_maps(x, IMAGENET_MEAN, IMAGENET_STD)["center_gaussian"]
    maps = {"quadrant": _quadrant_map(len(x)), "gauss": gauss}
    curves = {k: fm.perturbation_curves(det, x, fm.pixel_ranks(m), base, signs, steps=20, batch_size=16)
              for k, m in maps.items()}
    fr = fm.fractions(20)
    auc = {k: {c: fm.auc(v[c], fr) for c in v} for k, v in curves.items()}
    assert np.all(auc["quadrant"]["deletion"] < auc["gauss"]["deletion"] - 0.05)
    assert np.all(auc["quadrant"]["insertion"] > auc["gauss"]["insertion"] + 0.05)
    q = curves["quadrant"]
    full, empty = _score(det, x), _score(det, base)
    # deleting everything = the baseline image's score; nothing deleted = the image's score
    assert np.allclose(q["deletion"][:, -1], empty) and np.allclose(q["insertion"][:, 0], empty)
    assert np.allclose(q["deletion"][:, 0], full) and np.allclose(q["insertion"][:, -1], full)
    # the quadrant is a quarter of the image: after fraction 0.25 nothing the logit reads is left to change
    quarter = x.clone()
    quarter[:, :, :SIZE // 2, :SIZE // 2] = base[:, :, :SIZE // 2, :SIZE // 2]
    assert np.allclose(q["deletion"][:, 5:], _score(det, quarter)[:, None], atol=1e-6)
    assert np.allclose(q["insertion"][:, 5:], full[:, None], atol=1e-6)
    assert np.all(np.diff(q["deletion"][:, :6], axis=1) < 0)  # every removed quadrant pixel was bright


def test_real_class_score_is_one_minus_sigmoid():
    det, x = _quadrant_detector(), _images(2)
    out = fm.perturbation_curves(det, x, fm.pixel_ranks(_quadrant_map(2)), fm.baseline_images(x, "zero"),
                                 -torch.ones(2), steps=4)
    assert np.allclose(out["deletion"][:, 0], 1 - _score(det, x))


def test_auc_trapezoid_known_curves():
    fr = fm.fractions(2)
    assert fm.auc(fr ** 2, fr) == pytest.approx(0.375)  # (0 + .25)/4 + (.25 + 1)/4
    fr = fm.fractions(20)
    assert fm.auc(1 - fr, fr) == pytest.approx(0.5) and fm.auc(np.ones((3, 21)), fr) == pytest.approx([1, 1, 1])
    with pytest.raises(ValueError, match="--steps must be an integer >= 2"):
        fm.fractions(1)


def test_trivial_maps_and_baseline_images():
    x = _images(3)
    maps = fm.trivial_maps(x, IMAGENET_MEAN, IMAGENET_STD, seed=5)
    assert set(maps) == set(fm.TRIVIAL_MAPS) and all(m.shape == (3, SIZE, SIZE) for m in maps.values())
    assert np.array_equal(maps["corner"][0], region_masks(SIZE, SIZE)["corner"].astype(float))
    assert np.array_equal(maps["random"], fm.trivial_maps(x, IMAGENET_MEAN, IMAGENET_STD, seed=5)["random"])
    g = fm.center_gaussian_map(33, 33)
    assert g[16, 16] == 1.0 and g[16, 0] == pytest.approx(np.exp(-16 ** 2 / (2 * 8.25 ** 2)))
    assert np.array_equal(g, g.T) and np.array_equal(g, g[::-1])
    assert np.all(fm.sobel_map(np.full((8, 8), 0.7)) == 0)
    step = np.zeros((8, 8))
    step[:, 4:] = 1.0
    edges = fm.sobel_map(step)
    assert np.all(edges[:, [3, 4]] > 0) and np.all(edges[:, [0, 1, 6, 7]] == 0)
    assert torch.equal(fm.baseline_images(x, "zero"), torch.zeros_like(x))
    mean = fm.baseline_images(x, "mean")
    assert torch.allclose(mean[:, :, 5, 7], x.mean(dim=(2, 3)))
    flat = torch.full((1, 3, SIZE, SIZE), 0.3)
    assert torch.allclose(fm.baseline_images(flat, "blur"), flat)  # reflect padding keeps a constant image
    assert fm.baseline_images(x, "blur").std() < x.std()
    with pytest.raises(ValueError, match="baseline 'noise' is not one of blur, mean, zero"):
        fm.baseline_images(x, "noise")


def test_pixel_ranks_order_and_ties():
    ranks = fm.pixel_ranks(np.array([[[3.0, 1.0], [2.0, 0.0]]]))
    assert ranks.tolist() == [[[0, 2], [1, 3]]]
    tied = fm.pixel_ranks(np.zeros((2, 4, 4)), seed=1)
    assert all(sorted(r.ravel()) == list(range(16)) for r in tied) and not np.array_equal(tied[0], tied[1])
    unit = fm.ranks_to_unit(ranks)
    assert unit[0, 0, 0] == 1.0 and unit[0, 1, 1] == 0.0


@pytest.mark.filterwarnings("ignore:.*__array_wrap__:DeprecationWarning")
def test_road_matches_grad_cams_road_combined():
    from pytorch_grad_cam.metrics.road import ROADCombined

    from aigc_explain.explain.methods import LogitTarget

    det, x = _quadrant_detector(), _images(3)
    gauss = fm.trivial_maps(x, IMAGENET_MEAN, IMAGENET_STD)["center_gaussian"]
    maps = {k: fm.ranks_to_unit(fm.pixel_ranks(m)) for k, m in {"quadrant": _quadrant_map(3), "gauss": gauss}.items()}
    ours = {k: fm.road_scores(det, x, m, torch.ones(3), percentiles=(20, 80), seed=4) for k, m in maps.items()}
    torch.manual_seed(4)
    theirs = ROADCombined(percentiles=[20, 80])(x, maps["quadrant"].astype(np.float32), [LogitTarget(1.0)] * 3, det)
    assert np.allclose(ours["quadrant"]["combined"], theirs, atol=1e-5)
    assert np.all(ours["quadrant"]["morf"] < ours["gauss"]["morf"])
    assert ours["quadrant"]["combined"].mean() > ours["gauss"]["combined"].mean()


def test_run_faithfulness_hirescam_beats_trivial_maps():
    det = _quadrant_detector()
    result = fm.run_faithfulness(det, _images(4), cam=CamSettings(method="hirescam", layer="pixels", batch_size=64),
                                 steps=10, baselines=("zero", "mean"), road_percentiles=(50,), road_images=2)
    assert result.map_kinds == ["hirescam", *fm.TRIVIAL_MAPS] and len(result.rows()) == 10
    text, beats = result.verdict()
    assert beats is True and text.startswith("hirescam beats every trivial map"), text
    assert set(result.road) == set(result.map_kinds) and len(result.road_paths) == 2
    summary = result.summary()
    assert summary.beats_all is True and summary.verdict == text and summary.road.n_images == 2
    for t in fm.TRIVIAL_MAPS:  # the CAM deletes faster and inserts faster than every trivial map
        diff = summary.comparisons["zero"][t]
        assert diff.deletion.mean < 0 < diff.insertion.mean and diff.deletion.n == 4
    cam_row, gauss = summary.row("hirescam", "zero"), summary.row("center_gaussian", "zero")
    assert cam_row.auc("deletion") < gauss.auc("deletion") and cam_row.road_combined is not None
    with pytest.raises(ValueError, match="constant at input size"):
        torch.manual_seed(0)
        fm.run_faithfulness(build_detector("test_resnet", image_size=SIZE).eval(), _images(2),
                            cam=CamSettings(layer="layer4"))


def test_faithfulness_cli(dataset: Path, tmp_path: Path, capsys):
    from aigc_explain.core.checkpoint import save_checkpoint
    from aigc_explain.faithfulness import main

    torch.manual_seed(0)
    save_checkpoint(tmp_path / "det.pth", build_detector("test_resnet", image_size=SIZE))
    out = tmp_path / "run"
    args = ["--ckpt", str(tmp_path / "det.pth"), "--images", str(dataset / "val"), "--out", str(out), "--layer",
            "layer1", "--max-images", "4", "--steps", "4", "--baselines", "zero,blur", "--road-images", "2",
            "--road-percentiles", "50", "--device", "cpu"]
    assert main([*args, "--json"]) == 0
    for name in ("faithfulness.json", "faithfulness.csv", "deletion_insertion.png", "manifest.json"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "faithfulness.json").read_text())
    assert FaithfulnessSummary.from_json(summary).to_json() == summary  # the typed summary reads what it wrote
    rows = list(csv.DictReader(Path(out / "faithfulness.csv").read_text().splitlines()))
    assert len(rows) == len(summary["rows"]) == 10 and summary["n_images"] == 4
    fr = np.array(summary["fractions"])
    for row, entry in zip(rows, summary["rows"]):
        assert (row["map"], row["baseline"]) == (entry["map"], entry["baseline"])
        for key in ("deletion_auc", "deletion_ci_low", "insertion_auc", "insertion_ci_high", "road_combined"):
            assert float(row[key]) == pytest.approx(entry[key], rel=1e-12)
        for curve in ("deletion", "insertion"):  # the AUC is linear: mean of AUCs = AUC of the mean curve
            mean_curve = summary["mean_curves"][f"{entry['map']}|{entry['baseline']}|{curve}"]
            assert entry[f"{curve}_auc"] == pytest.approx(fm.auc(np.array(mean_curve), fr))
    # beats_all follows from the paired differences it was decided on: deletion below 0, insertion above 0
    wins = [d["deletion"]["mean"] is not None and d["deletion"]["mean"] < 0 and d["insertion"]["mean"] is not None
            and d["insertion"]["mean"] > 0 for per in summary["comparisons"].values() for d in per.values()]
    assert wins and summary["beats_all"] == all(wins)
    assert summary["verdict"].startswith(f"{summary['map_kinds'][0]} {'beats' if all(wins) else 'does NOT beat'}")
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["beats_all"] == summary["beats_all"]
    assert main(args[:4] + ["--out", str(tmp_path / "o2"), "--baselines", "zero,noise"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("faithfulness: error: --baselines 'zero,noise'")
    assert main(args[:4] + ["--out", str(tmp_path / "o3"), "--method", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("faithfulness: error: --method 'nope' is unknown; use one of: ")
    assert not (tmp_path / "o3").exists()
