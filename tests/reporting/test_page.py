"""The run page's files, without a browser (tests/reporting/test_browser.py drives it in Chromium): every
row of every run, the raw maps byte for byte, one thumbnail per image written streaming, images outside the
run's recorded images folder never opened, and the page's size growing with the images only."""

from __future__ import annotations

import base64
import csv
import gc
import json
import os
import weakref
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aigc_explain.reporting import thumbnails
from aigc_explain.reporting.browser import write_page
from aigc_explain.reporting.report import write_report_run
from aigc_explain.runs.folders import mark_complete
from aigc_explain.runs.reader import load_cam_run, load_run
from aigc_explain.runs.record import check_complete
from benchmarks.page_speed import synthetic_run


def page_data(out: Path) -> dict:
    text = (out / "page" / "data.js").read_text()
    assert text.startswith("window.AIGC_PAGE=") and text.endswith(";\n")
    return json.loads(text[len("window.AIGC_PAGE="):-2])


def _csv(run: Path) -> list[dict[str, str]]:
    return list(csv.DictReader((run / "per_image.csv").read_text().splitlines()))


def _page(tmp_path: Path, runs: dict[str, Path], name: str = "out") -> tuple[Path, object]:
    out = tmp_path / name
    out.mkdir()
    return out, write_page({label: load_cam_run(path) for label, path in runs.items()}, out, title="t")


def test_every_row_its_numbers_and_its_raw_map(tmp_path: Path):
    run = synthetic_run(tmp_path, 12, map_size=(3, 5), blank_every=4)
    out, page = _page(tmp_path, {"a": run})
    data = page_data(out)
    rows = _csv(run)
    table = data["tables"][0]
    assert (page.n_images, page.n_rows, page.n_pictures) == (12, 12, 12) and page.notes == ()
    assert [data["images"]["path"][i] for i in table["img"]] == [r["path"] for r in rows]
    for key, column in (("prob", "prob_fake"), ("share", "corner_share"), ("corner", "corner_mass")):
        expected = [None if r[column] == "nan" else round(float(r[column]), 6) for r in rows]
        assert table[key] == expected
    assert table["empty"] == [int(r["cam_empty"] == "True") for r in rows] and all(table["empty"][3::4])
    assert table["label"] == [0, 1] * 6
    script = (out / "page" / "maps" / "0_0.js").read_text()
    raw = base64.b64decode(script.split('"')[1])
    maps = np.load(run / "cams.npz")["maps"]
    assert np.array_equal(np.frombuffer(raw, "<f4").reshape(12, 3, 5), maps.astype(np.float32))
    assert data["runs"][0]["regions"] == {"corner": [0.25, 0.25], "center": [0.25, 0.25, 0.5, 0.5]}
    for k in range(12):
        for folder in ("img", "cam0"):
            assert Image.open(out / "page" / folder / f"{k}.jpg").format == "JPEG"


def test_thumbnails_are_written_streaming_one_image_at_a_time(tmp_path: Path, monkeypatch):
    run = synthetic_run(tmp_path, 8)
    opened, alive = [], []
    real = thumbnails.open_rgb

    def watched(path, **kw):
        gc.collect()
        alive.append(sum(ref() is not None for ref in opened))
        image = real(path, **kw)
        opened.append(weakref.ref(image))
        return image

    monkeypatch.setattr(thumbnails, "open_rgb", watched)
    _page(tmp_path, {"a": run})
    assert len(opened) == 8 and max(alive) == 0  # each image gone before the next is decoded


def _repoint(run: Path, paths: dict[int, str]) -> None:
    """Rewrite rows of a run's per_image.csv to other paths and record the run again (as if it named them)."""
    rows = _csv(run)
    for k, path in paths.items():
        rows[k]["path"] = path
    with open(run / "per_image.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    mark_complete(run, "cam")


def test_images_outside_the_recorded_folder_are_never_opened(tmp_path: Path, monkeypatch):
    run = synthetic_run(tmp_path / "data", 6)
    secret = tmp_path / "private" / "secret.png"
    secret.parent.mkdir()
    Image.new("RGB", (8, 8), (255, 0, 0)).save(secret)
    link = tmp_path / "data" / "images" / "0_real" / "link.png"  # inside the folder, but leads out of it
    os.symlink(secret, link)
    _repoint(run, {0: str(secret), 2: str(link), 4: str(tmp_path / "data" / "images" / "gone.png")})
    opened = []
    real = thumbnails.open_rgb
    monkeypatch.setattr(thumbnails, "open_rgb", lambda path, **kw: opened.append(Path(path)) or real(path, **kw))
    out, page = _page(tmp_path, {"a": run})
    assert secret.resolve() not in opened and len(opened) == 3
    data = page_data(out)
    assert [data["images"]["thumb"][i] for i in data["tables"][0]["img"]] == [0, 1, 0, 1, 0, 1]
    assert data["images"]["full"][0] is None and not (out / "page" / "img" / "0.jpg").exists()
    assert (out / "page" / "cam0" / "0.jpg").is_file()  # the map is still shown, on grey
    assert page.notes == (f"3 images not shown: they lie outside the images folder their run records or no longer "
                          f"exist (first: {secret})",)
    assert "3 images not shown" in (out / "index.html").read_text()


def test_a_run_without_a_recorded_folder_opens_no_image(tmp_path: Path, monkeypatch):
    run = synthetic_run(tmp_path, 4)
    summary = json.loads((run / "summary.json").read_text())
    del summary["selection"]
    (run / "summary.json").write_text(json.dumps(summary))
    mark_complete(run, "cam")
    monkeypatch.setattr(thumbnails, "open_rgb", lambda *a, **k: pytest.fail("an image was opened"))
    out, page = _page(tmp_path, {"a": run})
    assert page.n_pictures == 0 and "records no images folder" in page.notes[0]
    assert len(list((out / "page" / "cam0").iterdir())) == 4


def test_two_runs_of_the_same_images_share_them(tmp_path: Path):
    a = synthetic_run(tmp_path, 10, label="a", seed=1)
    b = synthetic_run(tmp_path, 10, label="b", seed=2)
    out, page = _page(tmp_path, {"unaugmented": a, "augmented": b})
    data = page_data(out)
    assert (page.n_images, page.n_rows) == (10, 20)
    assert data["tables"][0]["img"] == data["tables"][1]["img"] == list(range(10))
    assert [r["label"] for r in data["runs"]] == ["unaugmented", "augmented"]
    assert len(list((out / "page" / "img").iterdir())) == 10 and len(list((out / "page" / "cam1").iterdir())) == 10


def test_the_page_grows_with_the_images_only(tmp_path: Path):
    small, _ = _page(tmp_path, {"a": synthetic_run(tmp_path / "s", 10)}, "small")
    large, _ = _page(tmp_path, {"a": synthetic_run(tmp_path / "l", 30)}, "large")
    for name in ("index.html", "page/app.js", "page/app.css"):
        assert (small / name).read_bytes() == (large / name).read_bytes()
    assert (small / "index.html").stat().st_size < 8000  # no image or row is inlined


def test_unit_cam_is_grad_cams_heat_map():
    raw = np.array([[2.0, -1.0], [-1.0, -1.0]])
    cam = thumbnails.unit_cam(raw, (4, 4))
    assert cam.shape == (4, 4) and cam[0, 0] == pytest.approx(1.0) and cam.min() == pytest.approx(0.0)
    assert (cam[0, 0] > cam[0, 3]) and (cam[0, 3] == pytest.approx(0.0))
    assert not thumbnails.unit_cam(-np.ones((2, 2)), (4, 4)).any()  # blank map: zero, not divided by


def test_report_writes_the_page_with_its_figures(tmp_path: Path):
    run = synthetic_run(tmp_path, 6)
    out = tmp_path / "report"
    results = write_report_run({"synthetic": load_run(run)}, out=out, arguments={})
    page = (out / "index.html").read_text()
    for figure in results.figures:
        assert f'src="{figure.file}"' in page
    assert len(page_data(out)["tables"][0]["img"]) == 6
    assert "page/data.js" in check_complete(out)["files"]  # the report's record lists the page: still complete


def test_write_page_refuses_bad_arguments(tmp_path: Path):
    with pytest.raises(ValueError, match="at least one CAM run"):
        write_page({}, tmp_path)
    run = load_cam_run(synthetic_run(tmp_path, 2))
    with pytest.raises(FileNotFoundError, match="page folder .* does not exist"):
        write_page({"a": run}, tmp_path / "nowhere")


def test_cam_html_writes_the_page_beside_the_run_in_a_folder_of_its_own(tmp_path: Path, dataset, tiny_ckpt):
    from aigc_explain.cam import main as cam_main

    out = tmp_path / "cam"
    args = ["--ckpt", str(tiny_ckpt), "--images", str(dataset / "val"), "--out", str(out), "--layer", "layer1",
            "--overlays", "1", "--no-progress", "--device", "cpu", "--html"]
    assert cam_main(args) == 0
    page = (out / "html" / "index.html").read_text()
    assert 'src="../mean_cam_real.png"' in page and 'src="../overlays.png"' in page
    rows = _csv(out)
    data = page_data(out / "html")
    assert [data["images"]["path"][i] for i in data["tables"][0]["img"]] == [r["path"] for r in rows]
    assert sum(data["images"]["thumb"]) == len(rows)  # the images lie in the folder the run records
    assert data["runs"][0]["mapSize"] == json.loads((out / "summary.json").read_text())["map_size"]
    load_cam_run(out)  # the CAM run is still complete and undamaged
    check_complete(out / "html")
    assert cam_main(args + ["--overwrite"]) == 0  # the page is the run's own: replaced with it
    assert (out / "html" / "index.html").is_file()
