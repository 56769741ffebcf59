"""The planted-artifact dataset and the known-answer benchmark: twins differ only inside the region,
builds are deterministic and never overwrite; end to end, a corner plant gives corner_share > 0.5 and a
centre plant < 0.5."""

import csv
import json
from pathlib import Path

import pytest

from aigc_explain.checks.known_answer import CSV_COLUMNS, default_layers
from aigc_explain.benchmark import main as benchmark_main
from aigc_explain.core.models import build_detector
from aigc_explain.runs.check_summaries import PlantedSummary

SMALL = dict(n_train=3, n_val=2, size=32, seed=1, strength=8)


pytestmark = pytest.mark.usefixtures("one_thread")




















def test_default_layers_are_auto_and_the_2x_4x_maps():
    # auto is the deepest block with a side >= 7 (layer2, 8x8); then the last block (2x2) and its 2x map
    assert default_layers(build_detector("test_resnet", image_size=64).backbone, 64) == ["auto", "layer4.0", "layer3"]
    mobilenet = build_detector("mobilenet_v2", image_size=160).backbone  # auto features.13 (10x10); 5x5, 20x20
    assert default_layers(mobilenet, 160) == ["auto", "features.18", "features.6"]


def test_cli_errors_are_one_line_and_write_nothing(tmp_path: Path, capsys):
    with pytest.raises(SystemExit) as exc:
        benchmark_main(["planted", "--region", "edge"])
    assert exc.value.code == 2
    base = ["planted", "--region", "corner", "--model", "test_resnet", "--weights", "none", "--image-size", "64",
            "--out", str(tmp_path / "run")]
    capsys.readouterr()
    assert benchmark_main(base + ["--layers", "auto,layer9"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("benchmark: error: --layers: layer='layer9' is not a module")
    assert benchmark_main(base + ["--methods", "gradcam,nocam"]) == 2
    assert "unknown nocam; use some of:" in capsys.readouterr().err
    assert benchmark_main(base + ["--strength", "0"]) == 2
    assert not (tmp_path / "run").exists()


def test_list_layers_needs_no_region(capsys):
    assert benchmark_main(["planted", "--list-layers", "--model", "test_resnet", "--image-size", "64"]) == 0
    assert "layer3\t4x4" in capsys.readouterr().out


E2E = ["--model", "test_resnet", "--weights", "none", "--image-size", "64", "--n-train", "96", "--n-val", "24",
       "--epochs", "3", "--batch-size", "16", "--lr", "1e-3", "--strength", "16", "--methods", "gradcam",
       "--layers", "auto,layer3,layer4", "--no-progress", "--device", "cpu"]


@pytest.fixture(scope="module")
def planted_runs(tmp_path_factory, one_thread) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bench")
    for region in ("corner", "center"):
        assert benchmark_main(["planted", "--region", region, "--out", str(root / region), *E2E]) == 0
    return {region: root / region for region in ("corner", "center")}


def _report(run: Path) -> dict:
    report = json.loads((run / "planted.json").read_text())
    assert PlantedSummary.from_json(report).to_json() == report  # the typed summary reads what it wrote
    return report


def _share(report: dict, layer: str) -> float:
    return next(r for r in report["rows"] if r["layer"] == layer)["masses"]["corner_share"]["mean"]


@pytest.mark.slow
def test_known_answers_corner_above_and_centre_below_half(planted_runs: dict[str, Path]):
    corner, center = _report(planted_runs["corner"]), _report(planted_runs["center"])
    assert corner["best_val_acc"] >= 0.9 and center["best_val_acc"] >= 0.9
    assert corner["expected"] == "corner_share > 0.5" and center["expected"] == "corner_share < 0.5"
    layer3 = [next(r for r in rep["rows"] if r["layer"] == "layer3") for rep in (corner, center)]
    assert all(r["map_size"] == [4, 4] and r["passes"] for r in layer3)
    assert _share(corner, "layer3") > 0.8 and _share(center, "layer3") < 0.2
    assert _share(corner, "layer3") - _share(center, "layer3") > 0.6
    # the 2x2 last block cannot tell corners from centre at all: bilinear upsampling gives exactly 0.5 ...
    assert _share(corner, "layer4") == pytest.approx(0.5) and not corner["rows"][2]["passes"]
    assert any("too coarse" in w for w in corner["warnings"])
    # ... which is why --layer auto takes the deepest block with a side >= 7 (layer2, 8x8): it measures
    auto = [rep["rows"][0] for rep in (corner, center)]
    assert all(r["map_size"] == [8, 8] and r["passes"] for r in auto)
    assert _share(corner, "auto") > 0.8 and _share(center, "auto") < 0.2


@pytest.mark.slow
def test_run_folder_contract(planted_runs: dict[str, Path], capsys):
    run = planted_runs["corner"]
    for name in ("planted.csv", "planted.md", "planted.json", "manifest.json", "data/dataset.json",
                 "train/best_model.pth"):
        assert (run / name).is_file(), name
    rows = list(csv.DictReader(Path(run / "planted.csv").read_text().splitlines()))
    assert tuple(rows[0]) == CSV_COLUMNS and [r["layer"] for r in rows] == ["auto", "layer3", "layer4"]
    report = _report(run)
    assert float(rows[1]["corner_share"]) == pytest.approx(_share(report, "layer3"))
    assert "| gradcam | layer3 | 4x4 |" in (run / "planted.md").read_text()
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["command"] == "benchmark planted" and len(manifest["checkpoint_sha256"]) == 64
    assert report["dataset"]["region"] == "corner" and report["config"]["strength"] == 16
    assert benchmark_main(["planted", "--region", "corner", "--out", str(run), *E2E]) == 2
    assert "already holds a run; pass --overwrite" in capsys.readouterr().err
