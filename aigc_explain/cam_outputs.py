"""Writing a CAM run folder (the output contract in the README) and reading it back.

Files: ``per_image.csv``, ``cams.npz`` (raw signed maps at the layer's resolution), ``mean_cam_<group>
.npy/.png``, ``aggregates.npz`` (running sums, so shards can be merged), ``summary.json``,
``overlays/`` + ``overlays.png``, ``skipped.csv``.
"""

from __future__ import annotations

import io
import logging
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .data import read_image
from .explain import CamResult, CamSettings, label_name
from .figures import contact_sheet, heatmap_figure, overlay, save_figure
from .regions import CSV_COLUMNS, MASS_KEYS, MeanMapAccumulator, region_masks
from .runs import atomic_write_bytes, check_complete, open_text, save_npy, save_npz, write_csv, write_json, write_skipped

log = logging.getLogger(__name__)


def _fmt(value: float) -> str:
    return "nan" if not math.isfinite(value) else repr(float(value))


def per_image_rows(result: CamResult) -> list[list[Any]]:
    m = result.masses
    return [[p, label_name(y), _fmt(pf), label_name(pr), bool(m["cam_empty"][i])] +
            [_fmt(m[k][i]) for k in MASS_KEYS]
            for i, (p, y, pf, pr) in enumerate(zip(result.paths, result.labels, result.prob_fake, result.preds))]


def save_result(result: CamResult, out: str | Path, *, overlays: int = 4, extra_summary: dict | None = None) -> dict:
    """Write every output file into ``out`` (an existing, empty run folder); returns the summary."""
    out = Path(out)
    write_csv(out / "per_image.csv", CSV_COLUMNS, per_image_rows(result))
    save_npz(out / "cams.npz", compressed=True, paths=np.array(result.paths), index=result.indices,
             maps=result.raw_maps, prob_fake=result.prob_fake, labels=result.labels,
             input_size=np.array(result.input_size), layer=np.array(result.layer_name),
             method=np.array(result.settings.method))
    state = {}
    means = {}
    for group, acc in result.accumulators.items():
        means[group] = acc.mean()
        save_npy(out / f"mean_cam_{group}.npy", means[group])
        for key, value in acc.state_dict().items():
            state[f"{group}/{key}"] = value
    save_npz(out / "aggregates.npz", **state)
    _mean_figures(result, means, out)
    summary = {**result.summary(), **(extra_summary or {})}
    summary["regions"] = {"corner_frac": result.settings.corner_frac, "center_frac": result.settings.center_frac,
                          "border_frac": result.settings.border_frac}
    write_json(out / "summary.json", summary)
    if overlays > 0:
        _overlays(result, out, overlays)
    write_skipped(out, result.skipped)
    return summary


def _mean_figures(result: CamResult, means: dict[str, np.ndarray], out: Path) -> None:
    h, w = result.input_size
    s = result.settings
    masks = region_masks(h, w, corner_frac=s.corner_frac, center_frac=s.center_frac)
    outline = {"corner": masks["corner"], "center": masks["center"]}
    for group, mean in means.items():
        acc = result.accumulators[group]
        fig = heatmap_figure({f"{group} (n={acc.n}, empty={acc.n_empty})": mean}, regions=outline,
                             title=f"mean {s.method} ({s.target}) at {result.layer_name}")
        save_figure(fig, out / f"mean_cam_{group}.png")


def pick_overlays(result: CamResult, n: int) -> list[tuple[str, str, int]]:
    """(group, kind, index): per class the n most and least confident images and n misclassified ones."""
    labels, prob, preds = result.labels, result.prob_fake, result.preds
    picks: list[tuple[str, str, int]] = []
    groups = [(g, np.flatnonzero(labels == k)) for g, k in (("real", 0), ("fake", 1))]
    if not any(len(idx) for _, idx in groups):
        groups = [("unlabelled", np.arange(len(labels)))]
    for group, idx in groups:
        if not len(idx):
            continue
        conf = {"real": 1 - prob[idx], "fake": prob[idx]}.get(group, np.maximum(prob[idx], 1 - prob[idx]))
        order = idx[np.argsort(-conf, kind="stable")]
        picks += [(group, "most", int(i)) for i in order[:n]]
        picks += [(group, "least", int(i)) for i in order[::-1][:n]]
        wrong = idx[preds[idx] != labels[idx]] if group != "unlabelled" else idx[:0]
        picks += [(group, "wrong", int(i)) for i in wrong[:n]]
    return picks


def _overlays(result: CamResult, out: Path, n: int) -> None:
    from .cam_methods import scale_like_gradcam

    folder = out / "overlays"
    folder.mkdir(exist_ok=True)
    tiles, captions = [], []
    for group, kind, i in pick_overlays(result, n):
        try:
            image = read_image(result.paths[i])
        except (OSError, ValueError) as exc:  # the file changed since the run: skip the tile, keep the rest
            log.warning("overlay skipped for %s: %s", result.paths[i], exc)
            continue
        from PIL import Image

        h, w = result.input_size
        pic = np.asarray(Image.fromarray(image.permute(1, 2, 0).numpy()).resize((w, h), Image.BILINEAR))
        cam = scale_like_gradcam(result.raw_maps[i:i + 1], (h, w))[0]
        tile = overlay(pic, cam)
        stem = Path(result.paths[i]).stem
        buf = io.BytesIO()
        Image.fromarray(tile).save(buf, format="PNG")
        atomic_write_bytes(folder / f"{group}_{kind}_{len(tiles):03d}_{stem}.png", buf.getvalue())
        tiles.append(tile)
        captions.append(f"{group}/{kind}: {stem}\np(fake)={result.prob_fake[i]:.3f}")
    if tiles:
        save_figure(contact_sheet(tiles, captions, title=f"{result.settings.method} overlays"), out / "overlays.png")


_SAME_IN_EVERY_SHARD = ("method", "target", "layer", "map_size", "input_size", "regions")


def load_result(folder: str | Path) -> CamResult:
    """Rebuild a ``CamResult`` from a complete CAM run folder (for merging shards or redrawing figures)."""
    import csv
    import json

    folder = Path(folder)
    check_complete(folder, what="CAM run folder")
    for name in ("summary.json", "per_image.csv", "cams.npz", "aggregates.npz"):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder} is not a CAM run folder: {name} is missing")
    try:
        summary = json.loads((folder / "summary.json").read_text())
        with open_text(folder / "per_image.csv") as fh:
            rows = list(csv.DictReader(fh))
        with np.load(folder / "cams.npz") as cams_file, np.load(folder / "aggregates.npz") as state:
            cams = {k: cams_file[k] for k in ("index", "labels", "prob_fake", "maps")}
            groups = {key.split("/")[0] for key in state.files}
            accs = {g: MeanMapAccumulator.from_state({k: state[f"{g}/{k}"] for k in ("sum", "n", "n_empty")})
                    for g in groups}
        skipped = []
        if (folder / "skipped.csv").is_file():
            with open_text(folder / "skipped.csv") as fh:
                skipped = [(r["path"], r["reason"]) for r in csv.DictReader(fh)]
        masses = {k: np.array([float(r[k]) for r in rows]) for k in MASS_KEYS}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:  # zip, json, csv damage
        raise ValueError(f"CAM run folder {folder} is damaged ({type(exc).__name__}: {exc}); run cam again") from None
    masses["cam_empty"] = np.array([r["cam_empty"] == "True" for r in rows])
    settings = dict(summary["settings"])
    settings["shard"] = tuple(settings["shard"]) if settings.get("shard") else None
    return CamResult(CamSettings(**settings), summary["detector"], summary["layer"], tuple(summary["map_size"]),
                     tuple(summary["input_size"]), [r["path"] for r in rows], cams["index"], cams["labels"],
                     cams["prob_fake"], cams["maps"], masses, accs, skipped, summary.get("warnings", []),
                     summary.get("selection"))


def _check_shards(results: list[CamResult], summaries: list[dict]) -> None:
    """Shards merge only when they are exactly 1..N of one N, of one image selection, checkpoint and setting."""
    shards = [r.settings.shard for r in results]
    if any(s is None for s in shards):
        raise ValueError("only --shard K/N runs merge: one of the runs was not made with --shard")
    counts = {n for _, n in shards}
    if len(counts) > 1:
        raise ValueError(f"the runs are shards of different splits ({', '.join(f'{k}/{n}' for k, n in shards)}); "
                         "merge the shards of one --shard K/N split")
    n = counts.pop()
    ks = sorted(k for k, _ in shards)
    if ks != list(range(1, n + 1)):
        missing = sorted(set(range(1, n + 1)) - set(ks))
        twice = sorted({k for k in ks if ks.count(k) > 1})
        what = (f"shard(s) {', '.join(f'{k}/{n}' for k in missing)} missing" if missing else "") + \
               ("; " if missing and twice else "") + (f"shard(s) {', '.join(f'{k}/{n}' for k in twice)} given twice"
                                                     if twice else "")
        raise ValueError(f"cam merge needs every shard 1/{n} … {n}/{n} exactly once: {what}")
    same = {"image selection": [r.selection for r in results],
            "checkpoint": [s.get("checkpoint_sha256") for s in summaries],
            "detector": [r.detector_config for r in results],
            "settings": [{**r.settings.__dict__, "shard": None} for r in results],
            **{key: [s.get(key) for s in summaries] for key in _SAME_IN_EVERY_SHARD}}
    for what, values in same.items():
        if any(v is None for v in values) and what == "image selection":
            raise ValueError("a run does not record its image selection (made by an older aigc_explain); "
                             "run the shards again")
        if len({json_key(v) for v in values}) > 1:
            raise ValueError(f"the runs differ in {what}; only the shards of one run (same --images, --limit, "
                             "--ckpt, method, layer and settings) merge")


def merge_results(results: list[CamResult], summaries: list[dict]) -> CamResult:
    """Combine shard runs into the result a single run over all their images gives."""
    if len(results) < 2:
        raise ValueError("merge needs at least two run folders")
    _check_shards(results, summaries)
    index = np.concatenate([r.indices for r in results])
    if len(np.unique(index)) != len(index):
        raise ValueError("the runs share images (same index twice); pass each shard once")
    order = np.argsort(index, kind="stable")
    accs: dict[str, MeanMapAccumulator] = {}
    for r in results:
        for g, acc in r.accumulators.items():
            accs.setdefault(g, MeanMapAccumulator(acc.shape)).merge(acc)
    first = results[0]

    def cat(get) -> np.ndarray:
        return np.concatenate([get(r) for r in results])[order]

    masses = {k: cat(lambda r, k=k: r.masses[k]) for k in first.masses}
    paths = [p for r in results for p in r.paths]
    settings = CamSettings(**{**first.settings.__dict__, "shard": None})
    return CamResult(settings, first.detector_config, first.layer_name, first.map_size, first.input_size,
                     [paths[i] for i in order], index[order],
                     cat(lambda r: r.labels), cat(lambda r: r.prob_fake), cat(lambda r: r.raw_maps), masses, accs,
                     [s for r in results for s in r.skipped], first.warnings, first.selection)


def json_key(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True)
