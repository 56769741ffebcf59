"""Output for people: a short summary on stdout (one JSON line with --json) from every command that writes a
run, default run folders that do not collide between two detectors' best_model.pth, and sub-folders that are
not class folders said once."""

import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest

from aigc_explain._cli import default_out
from aigc_explain.audit import main as audit_main
from aigc_explain.cam import main as cam_main
from aigc_explain.compare import main as compare_main
from aigc_explain.core.folders import find_samples
from aigc_explain.diagnose import main as diagnose_main
from aigc_explain.evaluate import main as evaluate_main
from aigc_explain.faithfulness import main as faithfulness_main
from aigc_explain.report import main as report_main
from aigc_explain.sanity import main as sanity_main
from aigc_explain.spectrum import main as spectrum_main


@pytest.fixture(scope="module")
def work(tmp_path_factory, make_data) -> Path:
    """A labelled split root, two tiny detectors (seeds 0 and 1) and their CAM runs over its val/ images."""
    import torch

    from aigc_explain.core.checkpoint import save_checkpoint
    from aigc_explain.core.models import build_detector

    root = tmp_path_factory.mktemp("work")
    make_data(root / "data")
    for seed in (0, 1):
        torch.manual_seed(seed)
        save_checkpoint(root / f"det{seed}.pth", build_detector("test_resnet", image_size=32))
        assert cam_main(["--ckpt", str(root / f"det{seed}.pth"), "--images", str(root / "data" / "val"), "--out",
                         str(root / f"cam{seed}"), "--layer", "layer1", "--overlays", "0", "--device", "cpu",
                         "--json"]) == 0
    return root


def _summary_and_json(main, argv: list[str], out: Path, capsys) -> tuple[str, dict]:
    """The command's summary (run as a person would, progress bars on) and its --json line (a second run)."""
    capsys.readouterr()
    assert main([*argv, "--out", str(out / "human")]) == 0
    text, err = capsys.readouterr()
    assert "\r" not in err  # stderr is no terminal here: no bar updates
    lines = text.strip().splitlines()
    widths = [len(re.sub(r"\S*/\S*", "PATH", line)) for line in lines]  # paths as long as they are
    assert 1 <= len(lines) <= 16 and max(widths) <= 110, lines  # short and readable
    assert "{" not in text and not re.search(r"\d\.\d{7}", text), text  # no JSON, no 17-digit floats
    assert f"{out / 'human'}" in text  # says where the run is
    assert main([*argv, "--out", str(out / "json"), "--json"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1, printed  # exactly one line
    data = json.loads(printed[0])
    assert data["out"] == str(out / "json")
    return text, data


def test_audit_prints_a_summary_or_json(work: Path, tmp_path: Path, capsys):
    text, data = _summary_and_json(audit_main, ["--data", str(work / "data"), "--size", "32", "--n-boot", "200",
                                                "--n-perm", "50"], tmp_path, capsys)
    audit = json.loads((tmp_path / "json" / "audit.json").read_text())
    assert data["cue_auc"] == audit["cue_auc"] and data["verdict"] == audit["verdict"]
    for kind, entry in data["budget"].items():  # every AUC of the budget, in the summary at 3 decimals
        if entry and entry["auc"] is not None:
            assert re.search(rf"{kind}\s+{entry['auc']:.3f}", text), kind
    assert "pixels:" in text and "audit.md" in text


def test_compare_prints_a_summary_or_json(work: Path, tmp_path: Path, capsys):
    text, data = _summary_and_json(compare_main, [str(work / "cam0"), str(work / "cam1"), "--n-perm", "200",
                                                  "--n-boot", "200"], tmp_path, capsys)
    saved = json.loads((tmp_path / "json" / "comparison.json").read_text())
    assert data["labels"] == ["cam0", "cam1"] and data["warnings"] == saved["warnings"]
    for group in ("real", "fake"):
        share = data["corner_share"][group]
        assert share == saved["classes"][group]["corner_share"]
        assert f"corner share cam0 {share['cam0']['mean']:.3f}" in text and f"cam1 {share['cam1']['mean']:.3f}" in text
        assert f"p_perm={share['test']['p_permutation']:.3g}" in text


def test_report_prints_a_summary_or_json(work: Path, tmp_path: Path, capsys):
    text, data = _summary_and_json(report_main, ["--runs", str(work / "cam0"), str(work / "cam1"), "--n-perm",
                                                 "100", "--n-boot", "100"], tmp_path, capsys)
    results = json.loads((tmp_path / "json" / "results.json").read_text())
    assert data["figures"] == len(results["figures"]) > 0 and data["rows"] == results["rows"]
    assert data["notes"] == results["notes"]
    for row in data["rows"]:  # each detector's accuracy, at 3 decimals
        assert f"{row['run']} (test_resnet): accuracy {row['accuracy']:.3f}, AP {row['average_precision']:.3f}" in text


def test_diagnose_prints_a_summary_or_json(work: Path, tmp_path: Path, capsys):
    text, data = _summary_and_json(diagnose_main, ["--ckpt", str(work / "det0.pth"), "--images", str(work / "data"
                                                   / "val"), "--patch", "8,16", "--map-images", "0", "--device",
                                                   "cpu"], tmp_path, capsys)
    saved = json.loads((tmp_path / "json" / "diagnose.json").read_text())
    assert data["n_images"] == saved["n_images"] == 8 and data["verdict"] == saved["verdict"]
    assert data["accuracy"] == saved["clean"]["accuracy"]
    assert f"diagnosed 8 images (clean accuracy {data['accuracy']:.3f})" in text
    assert " ".join(text.split()).count("Patch shuffling at") == 2  # the verdict's sentences, wrapped


def test_spectrum_prints_a_summary_or_json(work: Path, tmp_path: Path, capsys):
    text, data = _summary_and_json(spectrum_main, ["--images", str(work / "data" / "val")], tmp_path, capsys)
    assert data["classes"] == {"real": 4, "fake": 4} and data["image_size"]["fake"] == [32, 32]
    assert "of 8 images, at their native size" in text and re.search(r"fake\s+n=4\s+32x32", text)


def test_cam_prints_a_summary_or_json(dataset: Path, tiny_ckpt: Path, tmp_path: Path, capsys):
    base = ["--ckpt", str(tiny_ckpt), "--images", str(dataset / "val"), "--overlays", "0", "--no-progress",
            "--device", "cpu"]
    assert cam_main([*base, "--out", str(tmp_path / "a")]) == 0
    text = capsys.readouterr().out
    assert "gradcam at layer" in text and "corner share" in text and f"run folder: {tmp_path / 'a'}" in text
    assert "{" not in text and "0.4999999" not in text  # no JSON, no 17-digit floats
    assert cam_main([*base, "--out", str(tmp_path / "b"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out.strip())
    assert data["out"] == str(tmp_path / "b") and set(data["groups"]) >= {"real", "fake"}


def test_evaluate_prints_a_summary_or_json(work: Path, tmp_path: Path, capsys):
    text, data = _summary_and_json(evaluate_main, ["--ckpt", str(work / "det0.pth"), "--data", str(work / "data"),
                                                   "--device", "cpu"], tmp_path, capsys)
    metrics = json.loads((tmp_path / "json" / "metrics.json").read_text())
    assert {k: data[k] for k in ("accuracy", "average_precision", "n_real", "n_fake")} == \
        {k: metrics[k] for k in ("accuracy", "average_precision", "n_real", "n_fake")}
    lo, hi = metrics["ci95"]["accuracy"]
    assert f"4 real and 4 fake images: accuracy {metrics['accuracy']:.3f} [{lo:.3f}, {hi:.3f}]" in text
    text, data = _summary_and_json(evaluate_main, ["--ckpt", str(work / "det0.pth"), str(work / "det1.pth"), "--data",
                                                   str(work / "data"), "--device", "cpu"], tmp_path / "table", capsys)
    assert data["rows"] == ["det0", "det1"] and len(data["accuracy"]) == 2
    for name, row in zip(data["rows"], data["accuracy"]):
        assert re.search(rf"{name}\s+{row[0]:.3f}", text), name


def test_sanity_and_faithfulness_print_a_summary_or_json(work: Path, tmp_path: Path, capsys):
    base = ["--ckpt", str(work / "det0.pth"), "--images", str(work / "data" / "val"), "--layer", "layer1",
            "--max-images", "4", "--device", "cpu"]
    text, data = _summary_and_json(sanity_main, [*base, "--mode", "cascading", "--examples", "1"], tmp_path / "s",
                                   capsys)
    saved = json.loads((tmp_path / "s" / "json" / "sanity.json").read_text())
    assert (data["passed"], data["verdict"], data["n_images"]) == (saved["passed"], saved["verdict"], 4)
    assert text.startswith("sanity of gradcam at layer1 over 4 images:") and saved["verdict"][:40] in text
    text, data = _summary_and_json(faithfulness_main, [*base, "--steps", "4", "--baselines", "zero",
                                                       "--road-percentiles", "none"], tmp_path / "f", capsys)
    saved = json.loads((tmp_path / "f" / "json" / "faithfulness.json").read_text())
    assert (data["beats_all"], data["verdict"], data["n_images"]) == (saved["beats_all"], saved["verdict"], 4)
    assert text.startswith("faithfulness of gradcam at layer1 over 4 images:") and saved["verdict"][:40] in text


def test_cam_merge_prints_a_summary_or_json(work: Path, tmp_path: Path, capsys):
    shards = [tmp_path / f"shard{k}" for k in (1, 2)]
    for k, shard in enumerate(shards, 1):
        assert cam_main(["--ckpt", str(work / "det0.pth"), "--images", str(work / "data" / "val"), "--out", str(shard),
                         "--shard", f"{k}/2", "--layer", "layer1", "--overlays", "0", "--no-progress", "--device",
                         "cpu"]) == 0
    text, data = _summary_and_json(cam_main, ["merge", *map(str, shards), "--overlays", "0"], tmp_path, capsys)
    assert data["shards"] == 2 and text.startswith("merged 2 shard runs")

def test_default_folders_of_two_detectors_do_not_collide(tmp_path: Path):
    a = default_out("cam", str(tmp_path / "plain" / "best_model.pth"), str(tmp_path / "val"))
    b = default_out("cam", str(tmp_path / "augmented" / "best_model.pth"), str(tmp_path / "val"))
    assert a != b and a.name == "plain-best_model-val" and b.name == "augmented-best_model-val"
    assert default_out("cam", "npr.pth", str(tmp_path / "val")).name == "npr-val"


def test_subfolders_that_are_not_classes_are_said(tmp_path: Path, write_image, caplog):
    for name in ("cats", "dogs"):
        write_image(tmp_path / "pets" / name / "x.png", np.zeros((8, 8, 3), np.uint8))
    with caplog.at_level(logging.WARNING):
        samples = find_samples(tmp_path / "pets")
    assert len(samples) == 2 and all(s.label == -1 for s in samples)
    said = [r.getMessage() for r in caplog.records if "not class folders" in r.getMessage()]
    assert len(said) == 1 and "cats, dogs" in said[0]

