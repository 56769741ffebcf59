"""The report command over real tiny runs (train -> evaluate -> cam) and hand-made ones: every figure
exists as a sensible PNG, index.md shows them in order, and the results table repeats the numbers of
history.csv, metrics.json and per_image.csv."""

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from aigc_explain.cam import main as cam_main
from aigc_explain.evaluate import main as evaluate_main
from aigc_explain.report import main as report_main
from aigc_explain.reporting.report import setting_name
from aigc_explain.runs.reader import checkpoint_owners, load_run
from aigc_explain.core.experiments import TrainConfig
from aigc_explain.core.training import fit
from aigc_explain.runs.folders import mark_complete


SHARES = {"real": [0.8, 0.6, float("nan")], "fake": [0.9, 0.7]}
FAST = ["--n-perm", "200", "--n-boot", "200"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, make_data, make_cam_run) -> dict[str, Path]:
    """A trained tiny detector, its evaluation and CAM runs, a hand-made CAM run and training run."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("report")
    data = make_data(root / "data", n_train=6, n_val=4)
    fit(TrainConfig(data=str(data), out=str(root / "plain"), model="test_resnet", weights="none", image_size=32,
                    epochs=2, batch_size=4, lr=1e-3), progress=False)
    ckpt = str(root / "plain" / "best_model.pth")
    assert evaluate_main(["--ckpt", ckpt, "--data", str(data), "--out", str(root / "plain_eval"),
                          "--device", "cpu"]) == 0
    assert cam_main(["--ckpt", ckpt, "--images", str(data / "val"), "--out", str(root / "plain_cam"),
                     "--layer", "layer1", "--overlays", "1", "--no-progress", "--device", "cpu"]) == 0
    hand = make_cam_run(root / "hand_cam", SHARES, size=32)
    other = root / "hand_train"
    other.mkdir()
    (other / "history.csv").write_text("epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds,images_per_s\n"
                                       "1,0.7,0.5,0.69,0.5,1e-4,1,1\n2,0.6,0.7,0.5,0.8,1e-4,1,1\n"
                                       "3,0.5,0.8,0.55,0.7,1e-4,1,1\n")
    arguments = {"model": "resnet", "augment": "report", "loss": "focal", "experiment": 1}
    (other / "manifest.json").write_text(json.dumps({"arguments": arguments}))
    mark_complete(other, "train")
    yield {"plain": root / "plain", "plain_eval": root / "plain_eval", "plain_cam": root / "plain_cam",
           "hand_cam": hand, "hand_train": other, "root": root}
    torch.set_num_threads(threads)


def _history_best(path: Path) -> tuple[float, int]:
    rows = list(csv.DictReader(Path(path / "history.csv").read_text().splitlines()))
    best = max(rows, key=lambda r: float(r["val_acc"]))
    return float(best["val_acc"]), int(best["epoch"])


def test_report_figures_index_and_table(runs: dict[str, Path]):
    out = runs["root"] / "reports" / "demo"
    names = ["plain", "plain_eval", "plain_cam", "hand_cam", "hand_train"]
    # plain_cam explains layer1, the hand-made run claims layer2: refused unless the difference is intended
    assert report_main(["--runs", *[str(runs[n]) for n in names], "--out", str(out), *FAST]) == 2
    assert not out.exists()
    assert report_main(["--runs", *[str(runs[n]) for n in names], "--out", str(out), *FAST,
                        "--allow-different"]) == 0
    results = json.loads((out / "results.json").read_text())
    files = [f["file"] for f in results["figures"]]
    stems = [f.split("_", 1)[1] for f in files]
    assert stems == ["curves.png", "results_table.png", "confusion.png", "roc.png", "pr.png", "mean_cam_plain_cam.png",
                     "overlays_plain_cam.png", "mean_cam_hand_cam.png", "comparison.png"]
    for name in files:
        img = Image.open(out / name)
        assert img.format == "PNG" and img.size[0] >= 500 and img.size[1] >= 200, name
    index = (out / "index.md").read_text()
    positions = [index.index(f"]({name})") for name in files]
    assert positions == sorted(positions)
    assert (out / "manifest.json").is_file()
    comparison = json.loads((out / "comparison.json").read_text())  # real CAM run: agrees with its csv
    assert comparison["differences"] == [{"setting": "layer", "plain_cam": "layer1", "hand_cam": "layer2"}]
    assert "the runs differ in layer (plain_cam: layer1, hand_cam: layer2)" in index
    assert comparison["images"]["same"] is False and "the runs explain different images" in index
    cam_rows = list(csv.DictReader(Path(runs["plain_cam"] / "per_image.csv").read_text().splitlines()))
    for group in ("real", "fake"):
        members = [r for r in cam_rows if r["label"] == group]
        counts = comparison["classes"][group]["counts"]["plain_cam"]
        assert (counts["n"], counts["n_empty"]) == (len(members), sum(r["cam_empty"] == "True" for r in members))
        shares = np.array([float(r["corner_share"]) for r in members])
        assert comparison["classes"][group]["corner_share"]["plain_cam"]["mean"] == \
            pytest.approx(np.nanmean(shares))

    rows = {(r["run"], r["predictions_from"]): r for r in results["rows"]}
    plain = rows[("plain", "plain_eval")]  # the evaluation run, not the CAM run, fills the training row
    assert (plain["val_acc"], plain["best_epoch"]) == pytest.approx(_history_best(runs["plain"]))
    assert (plain["model"], plain["setting"]) == ("test_resnet", "no augmentation, bce loss")
    metrics = json.loads((runs["plain_eval"] / "metrics.json").read_text())
    for key in ("accuracy", "real_acc", "fake_acc", "average_precision"):
        assert plain[key] == pytest.approx(metrics[key], abs=1e-4)
    assert plain["n"] == metrics["n_real"] + metrics["n_fake"]
    trained = rows[("hand_train", None)]  # a training run alone: val accuracy, the rest n/a
    assert (trained["val_acc"], trained["best_epoch"]) == (0.8, 2) and trained["real_acc"] is None
    assert trained["setting"] == "augment=report, focal loss, experiment 1"
    hand = rows[("hand_cam", "hand_cam")]  # probabilities 0.2 for real, 0.9 for fake: all right
    assert (hand["val_acc"], hand["accuracy"], hand["real_acc"], hand["average_precision"], hand["n"]) == \
        (None, 1.0, 1.0, 1.0, 5)
    assert ("plain_cam", "plain_cam") not in rows
    assert "| hand_train | resnet | augment=report, focal loss, experiment 1 | 0.800 (2) | n/a |" in index


def test_training_run_alone_and_labels(runs: dict[str, Path]):
    out = runs["root"] / "reports" / "alone"
    assert report_main(["--runs", str(runs["hand_train"]), "--labels", "resnet-aug", "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert [f["file"] for f in results["figures"]] == ["01_curves.png", "02_results_table.png"]
    assert results["rows"][0]["run"] == "resnet-aug" and results["rows"][0]["val_acc"] == 0.8


def test_report_user_errors(runs: dict[str, Path], tmp_path: Path, capsys):
    (tmp_path / "junk").mkdir()
    assert report_main(["--runs", str(tmp_path / "junk"), "--out", str(tmp_path / "r1")]) == 2
    assert report_main(["--runs", str(runs["plain"]), "--labels", "a", "b", "--out", str(tmp_path / "r2")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "is not a run folder" in err[0] and "--labels needs 1 distinct" in err[1]
    assert not (tmp_path / "r1").exists() and not (tmp_path / "r2").exists()


def test_moved_evaluation_is_linked_by_checkpoint_hash(runs: dict[str, Path], tmp_path: Path):
    moved = tmp_path / "moved_eval"
    shutil.copytree(runs["plain_eval"], moved)
    manifest = json.loads((moved / "manifest.json").read_text())
    manifest["arguments"]["ckpt"] = "somewhere/else/best_model.pth"
    (moved / "manifest.json").write_text(json.dumps(manifest))
    mark_complete(moved, "evaluate")  # a run made that way, not one edited after it completed
    loaded = {"plain": load_run(runs["plain"]), "moved": load_run(moved), "hand": load_run(runs["hand_cam"])}
    assert checkpoint_owners(loaded) == {"moved": "plain"}


def test_setting_name():
    assert setting_name({}) == "n/a"
    assert setting_name({"model": "vit", "augment": "none", "loss": "bce", "experiment": 3}) == \
        "no augmentation, bce loss, experiment 3"


def test_report_shows_a_diagnose_run_beside_the_cams(runs: dict[str, Path], tmp_path: Path):
    from aigc_explain.diagnose import main as diagnose_main

    diag = tmp_path / "diag"
    ckpt = runs["plain"] / "best_model.pth"
    data = runs["root"] / "data" / "val"
    assert diagnose_main(["--ckpt", str(ckpt), "--images", str(data), "--out", str(diag), "--patch", "8",
                          "--map-images", "1", "--no-peaks", "--device", "cpu", "--no-progress"]) == 0
    out = tmp_path / "report"
    assert report_main(["--runs", str(runs["plain"]), str(runs["plain_cam"]), str(diag), "--out", str(out),
                        *FAST]) == 0  # the training run owns the diagnosed checkpoint: one row, no crash
    results = json.loads((out / "results.json").read_text())
    stems = [f["file"].split("_", 1)[1] for f in results["figures"]]
    assert "bands_diag.png" in stems and "shuffle_diag.png" in stems and "patch_map_diag.png" in stems
    verdict = json.loads((diag / "diagnose.json").read_text())["verdict"]
    assert any(n.startswith("diag (diagnose): ") and verdict[0] in n for n in results["notes"])


def test_the_panel_list_drives_help_docstring_and_report(runs: dict[str, Path], tmp_path: Path, capsys,
                                                         monkeypatch):
    import aigc_explain.reporting.report as report

    names = [p.name for p in report.PANELS]
    assert {"audit", "model_vs_data", "diagnose"} <= set(names)
    with pytest.raises(SystemExit):
        report_main(["--help"])
    text = capsys.readouterr().out
    assert all(f"\n  {p.name:<14} " in text and f"\n  {p.name:<14} " in report.__doc__ for p in report.PANELS)
    monkeypatch.setattr(report, "PANELS", report.PANELS[1:])  # without the curves panel there are no curves
    assert report_main(["--runs", str(runs["hand_train"]), "--out", str(tmp_path / "r")]) == 0
    results = json.loads((tmp_path / "r" / "results.json").read_text())
    assert [f["file"] for f in results["figures"]] == ["01_results_table.png"]


def test_every_figure_is_written_once_under_its_final_name(runs: dict[str, Path], tmp_path: Path, monkeypatch):
    import os

    from aigc_explain.reporting.report import build_report

    twin = tmp_path / "twin_cam"  # a second CAM run of the same images: the report compares the two
    shutil.copytree(runs["plain_cam"], twin)
    mark_complete(twin, "cam")
    loaded = {"plain_cam": load_run(runs["plain_cam"]), "twin_cam": load_run(twin)}
    out = tmp_path / "report"
    out.mkdir()
    replaced, real_replace = [], os.replace

    def replace(src, dst, *args, **kwargs):
        replaced.append((Path(src), Path(dst)))
        return real_replace(src, dst, *args, **kwargs)

    def refuse(*args, **kwargs):
        raise AssertionError(f"a file was renamed after it was written: {args}")

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(os, "rename", refuse)
    monkeypatch.setattr(Path, "rename", refuse)
    results = build_report(loaded, out, n_perm=50, n_boot=50)
    figures = [f.file for f in results.figures]
    assert [f for f in figures if "comparison" in f] == ["09_comparison.png"]
    written = [dst.name for src, dst in replaced if dst.parent == out]
    assert not {src for src, _ in replaced} & {dst for _, dst in replaced}  # only temporary files moved into place
    pngs = [name for name in written if name.endswith(".png")]
    assert sorted(pngs) == sorted(figures) == sorted(p.name for p in out.glob("*.png"))  # each once, all kept
