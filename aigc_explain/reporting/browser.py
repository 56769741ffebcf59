"""The run page: ``index.html`` to look through every image of one or more CAM runs — a table sortable and
filterable in the browser, thumbnails of each image and its overlay, and a detail view with the raw maps of
every run that explained the image, on one colour scale in the maps' own units.

Static and self-contained: the JavaScript and CSS ship in the package (``reporting/page/``) and are copied
beside the page; the rows are a data script (``page/data.js``), the raw maps scripts of 500 rows each
loaded when an image is opened (``file://`` pages may not fetch local JSON, but may load scripts). Nothing is
fetched from a network. The page grows with the images only: per image one thumbnail, one overlay per run,
its row and its map. Pure numpy + Pillow + matplotlib (no torch).
"""

from __future__ import annotations

import base64
import html
import json
import logging
import math
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
from PIL import Image

from aigc_explain.analysis.regions import region_masks
from aigc_explain.reporting import thumbnails as th
from aigc_explain.reporting.figures import DIVERGING
from aigc_explain.runs.reader import CamRun
from aigc_explain.runs.summaries import Regions

log = logging.getLogger(__name__)

ASSETS = "page"  # the folder beside index.html that holds everything else
CHUNK = 500  # rows per map script


@dataclass(frozen=True)
class Page:
    """What ``write_page`` wrote: the page, how many images and rows, what was left out and why, its size."""
    index: Path
    n_images: int
    n_rows: int
    n_pictures: int  # images whose picture is on the page (inside their run's images folder, readable)
    notes: tuple[str, ...]
    size_bytes: int


def _num(values: np.ndarray, digits: int = 6) -> list[float | None]:
    return [None if not math.isfinite(v) else round(float(v), digits) for v in values]


def _boxes(input_size: tuple[int, int], regions: Regions) -> dict[str, list[float]]:
    """The corner squares and the centre as fractions of the input (what the masses were measured on)."""
    h, w = input_size
    masks = region_masks(h, w, corner_frac=regions.corner_frac, center_frac=regions.center_frac,
                         border_frac=regions.border_frac)
    rows, cols = np.flatnonzero(masks["center"].any(1)), np.flatnonzero(masks["center"].any(0))
    kh, kw = int(masks["corner"][:, 0].sum()) // 2, int(masks["corner"][0].sum()) // 2
    return {"corner": [kh / h, kw / w], "center": [rows[0] / h, cols[0] / w, len(rows) / h, len(cols) / w]}


def _lut(name: str) -> str:
    from matplotlib import colormaps

    rgb = (colormaps[name](np.linspace(0, 1, 256))[:, :3] * 255 + 0.5).astype(np.uint8)
    return rgb.tobytes().hex()


def _url(path: Path, out: Path) -> str:
    return quote(os.fsencode(Path(os.path.relpath(path, out)).as_posix()))


def _run_meta(label: str, run: CamRun) -> dict[str, Any]:
    s = run.summary
    method, layer = s.method, s.layer
    return {"label": label, "method": method, "layer": layer, "target": s.target,
            "mapSize": list(s.map_size), "inputSize": list(run.input_size),
            "regions": _boxes(run.input_size, run.regions),
            "units": f"raw {method} value at {layer} (signed, before ReLU)", "maps": run.listed("cams.npz") is not None}


class _Writer:
    """Writes the thumbnails image by image, in the order the images are met; counts bytes and notes."""
    def __init__(self, out: Path) -> None:
        self.out, self.size, self.left_out, self.unreadable, self.missing_maps = out, 0, [], [], []

    def file(self, rel: str, data: bytes) -> None:
        path = self.out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        th.write_file(path, data)
        self.size += len(data)


def _images(cams: dict[str, CamRun]) -> tuple[list[str], dict[str, int], list[list[int]]]:
    """The images of all runs in first-seen order, and per run each row's image index."""
    paths, where, rows = [], {}, []
    for run in cams.values():
        ids = []
        for p in run.predictions.paths:
            key = os.path.normpath(p)
            if key not in where:
                where[key] = len(paths)
                paths.append(p)
            ids.append(where[key])
        rows.append(ids)
    return paths, where, rows


def _pictures(cams: dict[str, CamRun], w: _Writer, paths: list[str], rows: list[list[int]],
              maps: list[np.ndarray | None]) -> tuple[list[str | None], list[int]]:
    """Stream the thumbnails: per image decode once, write it and one overlay per run holding it."""
    runs = list(cams.values())
    roots = [th.images_root(r.summary) for r in runs]
    holders: list[list[tuple[int, int]]] = [[] for _ in paths]
    for r, ids in enumerate(rows):
        for k, i in enumerate(ids):
            holders[i].append((r, k))
    full: list[str | None] = [None] * len(paths)
    shown = [0] * len(paths)
    for i, path in enumerate(paths):
        first = holders[i][0][0]
        resolved = th.inside(path, roots[first])
        image = None
        if resolved is None:
            if roots[first] is not None:  # a run that records no folder is noted once (_notes)
                w.left_out.append(path)
        else:
            try:
                image = th.open_rgb(resolved, draft=4 * th.THUMB)
            except (OSError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
                # the file changed since the run: note it, go on
                w.unreadable.append(f"{path}: {exc}")
        if image is not None:
            w.file(f"{ASSETS}/img/{i}.jpg", th.image_thumbnail(image))
            full[i], shown[i] = _url(resolved, w.out), 1
        for r, k in (h for h in holders[i] if maps[h[0]] is not None):
            w.file(f"{ASSETS}/cam{r}/{k}.jpg", th.overlay_thumbnail(image, maps[r][k], runs[r].input_size))
    return full, shown


def _maps(label: str, run: CamRun, w: _Writer) -> np.ndarray | None:
    """The run's raw maps (cams.npz); None, noted, when its record lists none (its rows are still shown)."""
    if run.listed("cams.npz") is None:
        w.missing_maps.append(label)
        return None
    return run.arrays()["maps"]


def _table(run: CamRun, ids: list[int]) -> dict[str, Any]:
    p, m = run.predictions, run.masses
    return {"img": ids, "label": p.labels.tolist(), "pred": p.preds.tolist(), "prob": _num(p.prob_fake),
            "corner": _num(m["corner_mass"]), "center": _num(m["center_mass"]), "border": _num(m["border_mass"]),
            "share": _num(m["corner_share"]), "empty": run.cam_empty.astype(int).tolist()}


def _map_scripts(w: _Writer, r: int, maps: np.ndarray) -> None:
    for c in range(0, len(maps), CHUNK):
        raw = np.nan_to_num(maps[c:c + CHUNK]).astype("<f4").tobytes()
        w.file(f"{ASSETS}/maps/{r}_{c // CHUNK}.js",
               f"AIGC_MAPS({r},{c // CHUNK},\"{base64.b64encode(raw).decode()}\");\n".encode())


def _notes(cams: dict[str, CamRun], w: _Writer) -> list[str]:
    notes = []
    for label, run in cams.items():
        if th.images_root(run.summary) is None:
            notes.append(f"{label} records no images folder (an older run or an image list): its images are "
                         f"not opened, only its maps are shown")
        if run.skipped():
            notes.append(f"{label} skipped {len(run.skipped())} unreadable files at run time (its skipped.csv)")
    if w.missing_maps:
        notes.append(f"{', '.join(w.missing_maps)}: no cams.npz in the run's record, so no maps or overlays")
    if w.left_out:
        notes.append(f"{len(w.left_out)} images not shown: they lie outside the images folder their run records "
                     f"or no longer exist (first: {w.left_out[0]})")
    if w.unreadable:
        notes.append(f"{len(w.unreadable)} images could not be read now (first: {w.unreadable[0]})")
    return notes


def _script_json(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=True, allow_nan=False, separators=(",", ":")).replace("</", "<\\/")


def _html(title: str, figures: list[tuple[str, str]], notes: list[str], n_runs: int) -> str:
    figs = "\n".join(f'<figure><a href="{html.escape(src)}"><img src="{html.escape(src)}" loading="lazy" '
                     f'alt="{html.escape(cap)}"></a><figcaption>{i}. {html.escape(cap)}</figcaption></figure>'
                     for i, (src, cap) in enumerate(figures, start=1))
    figure_part = f'<details open id="figures"><summary>Figures ({len(figures)})</summary>' \
                  f'<div class="figures">{figs}</div></details>' if figures else ""
    note_part = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    template = resources.files("aigc_explain.reporting").joinpath("page/index.html").read_text(encoding="utf-8")
    return (template.replace("{{title}}", html.escape(title)).replace("{{figures}}", figure_part)
            .replace("{{notes}}", f'<ul id="notes">{note_part}</ul>' if notes else "")
            .replace("{{runs}}", str(n_runs)).replace("{{assets}}", ASSETS))


def write_page(cams: dict[str, CamRun], out: str | Path, *, figures: list[tuple[str, str]] = (),
               title: str = "CAM run", quiet: bool = False) -> Page:
    """Write ``index.html`` and its ``page/`` folder into the existing folder ``out``. ``figures``: (file name
    relative to ``out``, caption) shown at the top in order. The page's notes are logged as warnings too, unless
    ``quiet`` (the page of a run just written, whose own warnings said them)."""
    out = Path(out)
    if not cams:
        raise ValueError("write_page needs at least one CAM run (pass the cam run folders)")
    if not out.is_dir():
        raise FileNotFoundError(f"page folder {out} does not exist; create it (the report or run folder) first")
    w = _Writer(out)
    paths, _, rows = _images(cams)
    maps = [_maps(label, run, w) for label, run in cams.items()]
    full, shown = _pictures(cams, w, paths, rows, maps)
    for r, m in enumerate(maps):
        if m is not None:
            _map_scripts(w, r, m)
    notes = _notes(cams, w)
    data = {"title": title, "chunk": CHUNK, "lut": _lut(DIVERGING),
            "runs": [_run_meta(label, run) for label, run in cams.items()],
            "images": {"path": paths, "name": [Path(p).name for p in paths], "full": full, "thumb": shown},
            "tables": [_table(run, ids) for run, ids in zip(cams.values(), rows)]}
    w.file(f"{ASSETS}/data.js", f"window.AIGC_PAGE={_script_json(data)};\n".encode())
    for name in ("app.js", "app.css"):
        w.file(f"{ASSETS}/{name}", resources.files("aigc_explain.reporting").joinpath(f"page/{name}").read_bytes())
    w.file("index.html", _html(title, list(figures), notes, len(cams)).encode())
    for note in notes:
        (log.debug if quiet else log.warning)("run page: %s", note)
    return Page(out / "index.html", len(paths), sum(len(r) for r in rows), sum(shown), tuple(notes), w.size)


RUN_PAGE = "html"  # cam --html: the page's folder inside the CAM run folder (a run folder of its own)


def overlay_figure(cam: CamRun) -> str | None:
    """The run's overlay picture as a name in its folder: ``overlays.png``, or the one overlay of a one-image
    run (``--images some.jpg`` writes ``overlays/<image>.png`` and no sheet); None where it has none."""
    if cam.listed("overlays.png") is not None:
        return "overlays.png"
    own = [n for n in cam.files if n.startswith("overlays/") and n.endswith(".png")]
    return own[0] if cam.summary.n_images == 1 and len(own) == 1 else None


def write_run_page(run: str | Path, *, overwrite: bool = False, quiet: bool = False) -> Page:
    """The page of one finished CAM run in ``RUN/html/`` (``cam --html``): a run folder of its own, so the CAM
    run's record stays as it was and ``--overwrite`` of either replaces only what it wrote. Its figures are
    the run's mean maps and overlays."""
    from aigc_explain.runs.folders import run_folder
    from aigc_explain.runs.reader import load_cam_run

    cam = load_cam_run(run)
    figures = [(f"../{name}", caption) for name, caption in
               [(f"mean_cam_{g}.png", f"mean CAM of the {g} images (unit mass per image), corners and centre outlined")
                for g in ("real", "fake", "all")] +
               [(overlay_figure(cam) or "overlays.png", "overlays: per class the most and least confident and the "
                                                        "misclassified images (one image: its own)")]
               if cam.listed(name) is not None]
    with run_folder(cam.path / RUN_PAGE, command="page", overwrite=overwrite) as folder:
        return write_page({cam.path.name: cam}, folder.path, figures=figures, title=f"CAM run {cam.path.name}",
                          quiet=quiet)
