"""What CAM figures say: every title names the run, the method and the layer; a one-image run's overlay is a
figure of its own (the image, p(fake), a colour bar, a legend) written once; a folder's overlays show each
image once. Figures are caught as they are saved and their text read back."""

import csv
from pathlib import Path

import pytest

from aigc_explain.cam import main as cam_main
from aigc_explain.explain import save
from aigc_explain.reporting.figures import CAM_SCALE, pyplot


@pytest.fixture
def saved_figures(monkeypatch):
    """{file name: Figure} of every figure a CAM run saves (left open to be read)."""
    figures = {}
    monkeypatch.setattr(save, "save_figure", lambda fig, path, **kw: figures.__setitem__(Path(path).name, fig))
    yield figures
    for fig in figures.values():
        pyplot().close(fig)


def _cam(ckpt: Path, images: Path, out: Path, *extra: str) -> None:
    assert cam_main(["--ckpt", str(ckpt), "--images", str(images), "--out", str(out), "--layer", "layer1",
                     "--no-progress", "--device", "cpu", *extra]) == 0


def _texts(fig) -> list[str]:
    return [fig._suptitle.get_text() if fig._suptitle else ""] + [ax.get_title() for ax in fig.axes]


def test_titles_name_run_method_and_layer(tiny_ckpt: Path, dataset: Path, tmp_path: Path, saved_figures):
    _cam(tiny_ckpt, dataset / "val", tmp_path / "plain-val", "--method", "gradcam++", "--overlays", "1")
    assert {"mean_cam_all.png", "mean_cam_real.png", "mean_cam_fake.png", "overlays.png"} <= set(saved_figures)
    for name in ("mean_cam_all.png", "mean_cam_fake.png", "overlays.png"):
        title = saved_figures[name]._suptitle.get_text()
        assert "plain-val: gradcam++ (fake) at layer1" in title, (name, title)
    assert "mean CAM of the fake images" in saved_figures["mean_cam_fake.png"]._suptitle.get_text()
    sheet = saved_figures["overlays.png"]
    assert any(ax.get_ylabel() == CAM_SCALE for ax in sheet.axes)  # the colour bar
    assert "most / least" in sheet._suptitle.get_text()  # the legend


def test_one_image_gets_a_figure_of_its_own(tiny_ckpt: Path, dataset: Path, tmp_path: Path, saved_figures):
    image = sorted((dataset / "val" / "1_fake").iterdir())[0]
    out = tmp_path / "one"
    _cam(tiny_ckpt, image, out, "--overlays", "4")
    overlays = [n for n in saved_figures if not n.startswith("mean_cam_")]
    assert overlays == [f"{image.stem}.png"]  # once, named after the image, no contact sheet
    fig = saved_figures[overlays[0]]
    row = next(csv.DictReader((out / "per_image.csv").open()))
    title = fig._suptitle.get_text()
    assert f"{image.name}: p(fake) = {float(row['prob_fake']):.3f}, label fake" in title
    assert "one: gradcam (fake) at layer1" in title and "bright: where the map puts the evidence" in title
    assert [ax.get_ylabel() for ax in fig.axes] == ["", CAM_SCALE]  # the image and its colour bar


def test_a_folders_overlays_show_each_image_once(tiny_ckpt: Path, dataset: Path, tmp_path: Path):
    out = tmp_path / "few"
    _cam(tiny_ckpt, dataset / "val", out, "--overlays", "4")  # 4 per class and kind, 4 images per class
    names = [p.stem.split("_") for p in (out / "overlays").iterdir()]  # <group>_<kinds>_<k>_<stem>
    assert sorted((group, stem) for group, _, _, stem in names) == sorted(
        (group, f"{i:03d}") for group in ("real", "fake") for i in range(4))  # each image once
    # 4 a class: each image is among the 4 most and the 4 least confident, so its kinds are joined
    assert all(kinds in ("most-least", "most-least-wrong") for _, kinds, _, _ in names), names


def test_a_one_image_run_shows_its_overlay_on_its_page_and_in_a_report(tiny_ckpt: Path, dataset: Path,
                                                                      tmp_path: Path):
    """The report and the run page take a one-image run's own overlay where a folder run has overlays.png."""
    from aigc_explain.reporting.report import write_report_run
    from aigc_explain.runs.reader import load_run

    image = sorted((dataset / "val" / "1_fake").iterdir())[0]
    out = tmp_path / "one"
    _cam(tiny_ckpt, image, out, "--html")
    assert f'src="../overlays/{image.stem}.png"' in (out / "html" / "index.html").read_text()
    results = write_report_run({"one": load_run(out)}, out=tmp_path / "report", arguments={})
    copied = [f.file for f in results.figures if "overlays_one" in f.file]
    assert len(copied) == 1 and "its one image" in next(f.caption for f in results.figures if f.file == copied[0])
    assert (tmp_path / "report" / copied[0]).read_bytes() == (out / "overlays" / f"{image.stem}.png").read_bytes()
