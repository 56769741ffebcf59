"""Robustness sweeps (--perturb, --cam) and cross-domain tables of ``aigc_explain.evaluate``."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from aigc_explain.evaluate import main as evaluate_main
from aigc_explain.perturb import Perturbation, apply, parse_perturbations
from conftest import make_dataset, write_image


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def smooth_dataset(root: Path, n: int = 3, size: int = 32) -> Path:
    """Low-frequency colour gradients: JPEG at quality 100 barely touches them."""
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    for label, name in ((0, "0_real"), (1, "1_fake")):
        for i in range(n):
            img = np.stack([60 + 120 * xx, 60 + 120 * yy, 80 + 40 * (xx + yy) * (i + label + 1) / 4], axis=-1)
            write_image(root / name / f"{i}.png", img.astype(np.uint8))
    return root


def _csv_rows(path: Path) -> list[dict]:
    return list(csv.DictReader(open(path)))


def _same(csv_value: str, json_value) -> bool:
    if json_value is None:
        return csv_value == ""
    if isinstance(json_value, str):
        return csv_value == json_value
    return math.isclose(float(csv_value), float(json_value), rel_tol=0, abs_tol=0)


# ------------------------------------------------------------------------------------- perturb.py
def test_parse_perturbations_keeps_order_and_values():
    ps = parse_perturbations(["jpeg=95,75", "blur=1,0.5", "resize=0.5"])
    assert [p.name for p in ps] == ["jpeg=95", "jpeg=75", "blur=1", "blur=0.5", "resize=0.5"]
    assert ps[0] == Perturbation("jpeg", 95) and ps[3].value == 0.5
    assert parse_perturbations("JPEG=50")[0].kind == "jpeg"


@pytest.mark.parametrize("spec, message", [
    ("jpeg=0", "integer from 1 to 100"), ("jpeg=101", "integer from 1 to 100"), ("jpeg=95.5", "integer from 1 to 100"),
    ("blur=0", "sigma must be > 0"), ("blur=-1", "sigma must be > 0"), ("blur=nan", "finite"),
    ("resize=0", r"factor must be in \(0, 1\]"), ("resize=1.5", r"factor must be in \(0, 1\]"),
    ("resize=abc", "is not a number"), ("noise=1", "kind 'noise' is unknown"), ("jpeg", "has no values"),
    ("jpeg=", "has no values"), ("jpeg=95,,75", "empty value"), ("jpeg=95,95", "listed twice"),
])
def test_parse_perturbations_rejects_bad_specs(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_perturbations([spec])


def test_perturbations_keep_a_constant_image_constant():
    image = torch.full((3, 24, 18), 90, dtype=torch.uint8)
    for p in parse_perturbations(["jpeg=100,50,10", "blur=0.3,2,50", "resize=1,0.5,0.01"]):
        out = p(image)
        assert out.dtype == torch.uint8 and out.shape[0] == 3 and out.unique().numel() == 1, p.name
        if p.kind != "jpeg":  # JPEG may shift the level by its DC quantisation; the others must not
            assert int(out[0, 0, 0]) == 90, p.name


def test_apply_known_answers():
    rng = np.random.default_rng(0)
    image = torch.from_numpy(rng.integers(0, 256, (3, 32, 20), dtype=np.uint8))
    assert apply(image, Perturbation("resize", 0.5)).shape == (3, 16, 10)
    assert torch.equal(apply(image, Perturbation("resize", 1)), image)
    assert torch.equal(apply(image, Perturbation("blur", 0.01)), image)  # a 3x3 kernel of ~[0, 1, 0]
    assert torch.equal(apply(image, Perturbation("jpeg", 30)), apply(image, Perturbation("jpeg", 30)))
    blurred = apply(image, Perturbation("blur", 2)).float()
    assert blurred.std() < image.float().std() / 2  # blur removes most of white noise's variance
    with pytest.raises(ValueError, match=r"\(3, H, W\) uint8"):
        apply(image.float(), Perturbation("blur", 1))


def test_jpeg100_and_tiny_blur_barely_change_predictions(tmp_path: Path, tiny_detector):
    from aigc_explain.data import find_samples
    from aigc_explain.evaluation import predict

    samples = find_samples(smooth_dataset(tmp_path / "smooth"), require_labels=True)
    clean = predict(tiny_detector, samples).probs
    jpeg = predict(tiny_detector, samples, perturbation=Perturbation("jpeg", 100)).probs
    blur = predict(tiny_detector, samples, perturbation=Perturbation("blur", 0.01)).probs
    assert np.abs(jpeg - clean).max() < 0.01
    np.testing.assert_array_equal(blur, clean)


# ----------------------------------------------------------------------------------- robustness.py
def test_map_correlations_known_answers():
    from aigc_explain.robustness import map_correlations

    a = np.arange(12, dtype=float).reshape(1, 3, 4) ** 1.5
    maps = np.concatenate([a, a, a, np.zeros_like(a)])
    other = np.concatenate([a, -a, np.exp(a / 10), a])
    pearson, spearman = map_correlations(maps, other)
    assert pearson[:2] == pytest.approx([1.0, -1.0]) and spearman[:3] == pytest.approx([1.0, -1.0, 1.0])
    assert pearson[2] < 0.999 and math.isnan(pearson[3]) and math.isnan(spearman[3])
    with pytest.raises(ValueError, match="one shape"):
        map_correlations(maps, other[:, :2])


def test_robustness_sweep_cli(dataset: Path, tmp_path: Path, tiny_detector, capsys):
    from aigc_explain.checkpoint import save_checkpoint

    ckpt = tmp_path / "det.pth"
    save_checkpoint(ckpt, tiny_detector)
    common = ["--ckpt", str(ckpt), "--data", str(dataset), "--device", "cpu"]
    assert evaluate_main([*common, "--out", str(tmp_path / "plain")]) == 0
    assert evaluate_main([*common, "--out", str(tmp_path / "rob"), "--perturb", "jpeg=90", "blur=1",
                          "resize=0.5,1", "--cam", "--cam-layer", "layer1"]) == 0
    out = tmp_path / "rob"
    for name in ("robustness.csv", "robustness.md", "robustness.json", "robustness.png", "metrics.json",
                 "predictions.csv", "robustness_predictions.csv", "manifest.json"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "robustness.json").read_text())
    rows = summary["rows"]
    assert [r["perturbation"] for r in rows] == ["clean", "jpeg=90", "blur=1", "resize=0.5", "resize=1"]
    for row, line in zip(rows, _csv_rows(out / "robustness.csv"), strict=True):
        assert set(line) == set(row) and all(_same(line[k], row[k]) for k in row), row["perturbation"]
    plain = json.loads((tmp_path / "plain" / "metrics.json").read_text())
    clean = rows[0]
    for key in ("accuracy", "real_acc", "fake_acc", "average_precision", "roc_auc", "n_real", "n_fake"):
        assert clean[key] == plain[key], key
    assert [clean["accuracy_lo"], clean["accuracy_hi"]] == plain["ci95"]["accuracy"]
    assert json.loads((out / "metrics.json").read_text()) == plain
    # CAMs: clean vs clean, and clean vs an identity perturbation (resize=1), do not move at all
    for row in (rows[0], rows[4]):
        assert row["cam_pearson"] == pytest.approx(1.0) and row["cam_spearman"] == pytest.approx(1.0)
        assert row["corner_share_delta"] == pytest.approx(0.0, abs=1e-12) and row["cam_n"] == 8
    assert rows[4]["accuracy"] == clean["accuracy"] and summary["cam"]["map_size"] == [8, 8]
    assert len(_csv_rows(out / "robustness_predictions.csv")) == 5 * 8


@pytest.mark.parametrize("extra, message", [
    (["--perturb", "jpeg=0"], "evaluate: error: --perturb jpeg=0: JPEG quality must be an integer from 1 to 100"),
    (["--perturb", "fog=1"], "kind 'fog' is unknown"),
    (["--cam"], "--cam compares clean and perturbed CAMs, so it needs --perturb"),
    (["--perturb", "blur=1", "--cam", "--cam-method", "nope"], "--cam-method 'nope' is unknown"),
    (["--names", "a"], "--names/--data-names label a cross-domain table"),
])
def test_evaluate_cli_rejects_bad_flags(tmp_path: Path, extra, message, capsys):
    code = evaluate_main(["--ckpt", str(tmp_path / "none.pth"), "--data", str(tmp_path), "--out",
                          str(tmp_path / "ev"), *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "ev").exists()  # checked before any folder is made


# ---------------------------------------------------------------------------------- cross-domain
def test_cross_domain_names():
    from aigc_explain.evaluation import checkpoint_name, data_name, unique_names

    assert checkpoint_name("/runs/plain/best_model.pth") == "plain" and checkpoint_name("/x/cnndet.pth") == "cnndet"
    assert data_name("/d/cifake-dev/val") == "cifake-dev-val" and data_name("/d/cifake-dev") == "cifake-dev"
    with pytest.raises(ValueError, match="both be called 'a'; pass --names"):
        unique_names(["x/a.pth", "y/a.pth"], None, flag="--names", what="checkpoint", default=checkpoint_name)
    with pytest.raises(ValueError, match="gives 1 name"):
        unique_names(["a", "b"], ["a"], flag="--names", what="checkpoint", default=checkpoint_name)


def test_cross_domain_cli(dataset: Path, tmp_path: Path, tiny_detector, capsys):
    from aigc_explain.checkpoint import save_checkpoint
    from aigc_explain.models import build_detector

    torch.manual_seed(1)
    (tmp_path / "run_a").mkdir()
    save_checkpoint(tmp_path / "run_a" / "best_model.pth", tiny_detector)
    save_checkpoint(tmp_path / "other.pth", build_detector("test_resnet", image_size=32))
    centre = make_dataset(tmp_path / "centre", n_train=1, n_val=3, where="center", seed=1)
    ckpts = [str(tmp_path / "run_a" / "best_model.pth"), str(tmp_path / "other.pth")]
    out = tmp_path / "xd"
    assert evaluate_main(["--ckpt", *ckpts, "--data", str(dataset), str(centre), "--out", str(out)]) == 0
    for name in ("cross_domain.csv", "cross_domain.md", "cross_domain.json", "cross_domain.png", "manifest.json"):
        assert (out / name).is_file(), name
    table = json.loads((out / "cross_domain.json").read_text())
    assert table["checkpoints"] == ["run_a", "other"] and table["data"] == ["data", "centre"]
    assert np.array(table["matrix"]["accuracy"]).shape == (2, 2)
    for cell, line in zip(table["cells"], _csv_rows(out / "cross_domain.csv"), strict=True):
        assert all(_same(line[k], cell[k]) for k in cell)
    # the diagonal cell is exactly what a single-pair evaluate writes
    assert evaluate_main(["--ckpt", ckpts[0], "--data", str(dataset), "--out", str(tmp_path / "one")]) == 0
    single = json.loads((tmp_path / "one" / "metrics.json").read_text())
    assert json.loads((out / "run_a__data" / "metrics.json").read_text()) == single
    assert table["matrix"]["accuracy"][0][0] == single["accuracy"]
    assert table["matrix"]["fake_acc"][1][1] == json.loads((out / "other__centre" / "metrics.json").read_text())["fake_acc"]
    assert len(_csv_rows(out / "other__centre" / "predictions.csv")) == 6
    capsys.readouterr()
    assert evaluate_main(["--ckpt", *ckpts, "--data", str(dataset), "--out", str(tmp_path / "xd2"),
                          "--names", "a", "a"]) == 2
    assert "both be called 'a'" in capsys.readouterr().err
    assert evaluate_main(["--ckpt", *ckpts, "--data", str(dataset), "--out", str(tmp_path / "xd3"),
                          "--perturb", "blur=1"]) == 2
