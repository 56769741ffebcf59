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
from aigc_explain.runs.robustness_summary import CrossDomainSummary, RobustnessSummary



pytestmark = pytest.mark.usefixtures("one_thread")




def _csv_rows(path: Path) -> list[dict]:
    return list(csv.DictReader(Path(path).read_text().splitlines()))


def _same(csv_value: str, json_value) -> bool:
    if json_value is None:
        return csv_value == ""
    if isinstance(json_value, str):
        return csv_value == json_value
    return math.isclose(float(csv_value), float(json_value), rel_tol=0, abs_tol=0)


# ------------------------------------------------------------------------------------- perturb.py










# ----------------------------------------------------------------------------------- robustness.py


def test_robustness_sweep_cli(dataset: Path, tmp_path: Path, tiny_detector, capsys):
    from aigc_explain.core.checkpoint import save_checkpoint

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
    typed = RobustnessSummary.from_json(summary)
    assert typed.to_json() == summary and typed.cam.map_size == (8, 8)  # the typed summary reads what it wrote
    assert [r.cam.cam_n for r in typed.rows] == [8] * 5
    assert typed.rows[0].metrics.accuracy == summary["rows"][0]["accuracy"]
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
    from aigc_explain.core.evaluation import checkpoint_name, data_name, unique_names

    assert checkpoint_name("/runs/plain/best_model.pth") == "plain" and checkpoint_name("/x/cnndet.pth") == "cnndet"
    assert data_name("/d/cifake-dev/val") == "cifake-dev-val" and data_name("/d/cifake-dev") == "cifake-dev"
    with pytest.raises(ValueError, match="both be called 'a'; pass --names"):
        unique_names(["x/a.pth", "y/a.pth"], None, flag="--names", what="checkpoint", default=checkpoint_name)
    with pytest.raises(ValueError, match="gives 1 name"):
        unique_names(["a", "b"], ["a"], flag="--names", what="checkpoint", default=checkpoint_name)


def test_cross_domain_cli(dataset: Path, tmp_path: Path, tiny_detector, capsys, make_data):
    from aigc_explain.core.checkpoint import save_checkpoint
    from aigc_explain.core.models import build_detector

    torch.manual_seed(1)
    (tmp_path / "run_a").mkdir()
    save_checkpoint(tmp_path / "run_a" / "best_model.pth", tiny_detector)
    save_checkpoint(tmp_path / "other.pth", build_detector("test_resnet", image_size=32))
    centre = make_data(tmp_path / "centre", n_train=1, n_val=3, where="center", seed=1)
    ckpts = [str(tmp_path / "run_a" / "best_model.pth"), str(tmp_path / "other.pth")]
    out = tmp_path / "xd"
    assert evaluate_main(["--ckpt", *ckpts, "--data", str(dataset), str(centre), "--out", str(out)]) == 0
    for name in ("cross_domain.csv", "cross_domain.md", "cross_domain.json", "cross_domain.png", "manifest.json"):
        assert (out / name).is_file(), name
    table = json.loads((out / "cross_domain.json").read_text())
    assert CrossDomainSummary.from_json(table).to_json() == table
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
