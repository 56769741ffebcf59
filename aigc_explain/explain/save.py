"""Writing a CAM run folder: the output contract in the README (names from ``runs.contract``).

Files: ``per_image.csv``, ``cams.npz`` (raw signed maps at the layer's resolution), ``mean_cam_<group>
.npy/.png``, ``aggregates.npz`` (running sums, so shards can be merged), ``summary.json``,
``overlays/`` + ``overlays.png``, ``skipped.csv``; ``write_cam_run`` adds the manifest and the run record.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from aigc_explain.core.images import describe_preprocessing, read_image
from aigc_explain.core.inference import check_finite_outputs, resolve_device
from aigc_explain.core.models import Detector
from aigc_explain.explain.folder import CamResult, CamSettings, explain_folder, label_name
from aigc_explain.explain.layers import list_layers, reshape_transform_for
from aigc_explain.explain.methods import scale_like_gradcam
from aigc_explain.reporting.figures import contact_sheet, heatmap_figure, overlay, overlay_figure, save_figure
from aigc_explain.runs.contract import CSV_COLUMNS, MASS_KEYS
from aigc_explain.runs.files import (atomic_write_bytes, library_versions, save_npy, save_npz, sha256_file, write_csv,
                                     write_json, write_manifest, write_skipped)
from aigc_explain.runs.folders import run_folder
from aigc_explain.runs.summaries import CamSummary, Provenance, Regions

log = logging.getLogger(__name__)


def _fmt(value: float) -> str:
    return "nan" if not math.isfinite(value) else repr(float(value))


def per_image_rows(result: CamResult) -> list[list[Any]]:
    m = result.masses
    return [[p, label_name(y), _fmt(pf), label_name(pr), bool(m["cam_empty"][i])] +
            [_fmt(m[k][i]) for k in MASS_KEYS]
            for i, (p, y, pf, pr) in enumerate(zip(result.paths, result.labels, result.prob_fake, result.preds))]


def save_result(result: CamResult, *, out: str | Path, overlays: int = 4, provenance: Provenance | None = None,
                extra_summary: dict[str, Any] | None = None, images_root: str | Path | None = None) -> CamSummary:
    """Write every output file into ``out`` (an existing, empty run folder); returns the summary (with the
    detector's ``provenance`` and a caller's ``extra_summary`` keys). Overlays read only images inside
    ``images_root`` when given (paths that came from files are never trusted further)."""
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
    summary = result.summary(provenance=provenance, extra=extra_summary)
    write_json(out / "summary.json", summary.to_json())
    if overlays > 0:
        _overlays(result, out, overlays, images_root)
    write_skipped(out, result.skipped)
    return summary


def run_title(result: CamResult, out: Path) -> str:
    """What a figure of the run names: the run (its folder), the method, its target and the layer."""
    s = result.settings
    return f"{out.name}: {s.method} ({s.target}) at {result.layer_name}"


def _mean_figures(result: CamResult, means: dict[str, np.ndarray], out: Path) -> None:
    s = result.settings
    outline = Regions.of(s)
    for group, mean in means.items():
        acc = result.accumulators[group]
        fig = heatmap_figure({f"{group} (n={acc.n}, empty={acc.n_empty})": mean}, regions=outline,
                             title=f"mean CAM of the {group} images, {run_title(result, out)}")
        save_figure(fig, out / f"mean_cam_{group}.png")


def pick_overlays(result: CamResult, n: int) -> list[tuple[str, str, int]]:
    """(group, kind, index): per class the n most and least confident images and n misclassified ones, each image
    once (an image of two kinds gets both: ``least-wrong``)."""
    kinds: dict[int, tuple[str, list[str]]] = {}
    for group, kind, i in _candidates(result, n):
        kinds.setdefault(i, (group, []))[1].append(kind)
    return [(group, "-".join(names), i) for i, (group, names) in kinds.items()]


def _candidates(result: CamResult, n: int) -> list[tuple[str, str, int]]:
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


MAX_STEM = 80  # file names stay far below the 255 bytes file systems allow


def short_stem(stem: str) -> str:
    """``stem``, or when long its start and a hash of the whole, so file names stay short and distinct."""
    if len(stem.encode("utf-8", "surrogateescape")) > MAX_STEM:
        digest = hashlib.sha256(stem.encode("utf-8", "surrogateescape")).hexdigest()[:12]
        stem = stem.encode("utf-8", "surrogateescape")[:40].decode("utf-8", "ignore") + "-" + digest
    return stem


def overlay_name(group: str, kind: str, k: int, stem: str) -> str:
    """``<group>_<kind>_<k>_<stem>.png`` (a long stem cut, see ``short_stem``)."""
    return f"{group}_{kind}_{k:03d}_{short_stem(stem)}.png"


def _inside(path: str, root: Path | None) -> bool:
    if root is None:
        return True
    resolved = Path(path).resolve()
    return resolved == root or root in resolved.parents


def _tile(result: CamResult, i: int, root: Path | None) -> np.ndarray | None:
    """Image ``i`` at the detector's input size with its map overlaid; None (said) when it cannot be read."""
    if not _inside(result.paths[i], root):
        log.warning("overlay skipped for %s: it lies outside the images folder %s the run records",
                    result.paths[i], root)
        return None
    try:
        image = read_image(result.paths[i])
    except (OSError, ValueError) as exc:  # the file changed since the run: skip the tile, keep the rest
        log.warning("overlay skipped for %s: %s", result.paths[i], exc)
        return None
    h, w = result.input_size
    pic = np.asarray(Image.fromarray(image.permute(1, 2, 0).numpy()).resize((w, h), Image.BILINEAR))
    return overlay(pic, scale_like_gradcam(result.raw_maps[i:i + 1], (h, w))[0])


def _overlays(result: CamResult, out: Path, n: int, images_root: str | Path | None = None) -> None:
    folder = out / "overlays"
    folder.mkdir(exist_ok=True)
    root = Path(images_root).resolve() if images_root is not None else None
    if len(result.paths) == 1:  # one image (--images some.jpg): its overlay is the run's picture, written once
        tile = _tile(result, 0, root)
        if tile is not None:
            name = f"{short_stem(Path(result.paths[0]).stem)}.png"
            save_figure(single_overlay_figure(result, tile, out), folder / name)
        return
    tiles, captions = [], []
    for group, kind, i in pick_overlays(result, n):
        tile = _tile(result, i, root)
        if tile is None:
            continue
        stem = Path(result.paths[i]).stem
        buf = io.BytesIO()
        Image.fromarray(tile).save(buf, format="PNG")
        atomic_write_bytes(folder / overlay_name(group, kind, len(tiles), stem), buf.getvalue())
        tiles.append(tile)
        captions.append(f"{group}/{kind}: {stem}\np(fake)={result.prob_fake[i]:.3f}")
    if tiles:
        save_figure(contact_sheet(tiles, captions, title=f"overlays, {run_title(result, out)}"), out / "overlays.png")


def single_overlay_figure(result: CamResult, tile: np.ndarray, out: Path):
    """The overlay of a run's one image: the image and its p(fake) (and label, when known), the run, method and
    layer in the title, a colour bar and a legend line."""
    label = label_name(result.labels[0])
    known = f", label {label}" if label in ("real", "fake") else ""
    title = f"{Path(result.paths[0]).name}: p(fake) = {result.prob_fake[0]:.3f}{known}\n{run_title(result, out)}"
    target = {"predicted": "predicted class's"}.get(result.settings.target, result.settings.target)
    legend = f"bright: where the map puts the evidence for the {target} score"
    return overlay_figure(tile, title=title, legend=legend)


def save_run(result: CamResult, *, out: str | Path, overwrite: bool = False, overlays: int = 4,
             extra_summary: dict[str, Any] | None = None) -> CamSummary:
    """``save_result`` into a run folder of its own (manifest and completion record included), for results
    made through the Python API; ``compare`` and ``report`` read it like a ``cam`` run."""
    with run_folder(out, command="cam", overwrite=overwrite) as run:
        summary = save_result(result, out=run.path, overlays=overlays, extra_summary=extra_summary)
        write_manifest(run.path, command="cam (Python API)", arguments={"settings": summary.settings},
                       detector=result.detector_config)
    return summary


def provenance(ckpt: str | Path, detector: Detector, *, reencode: str | None = None) -> Provenance:
    """What a CAM summary records about its detector: preprocessing, checkpoint hash, library versions."""
    return Provenance(preprocessing=describe_preprocessing(detector.image_size, detector.mean, detector.std,
                                                           reencode=reencode),
                      checkpoint_sha256=sha256_file(ckpt), versions=library_versions())


def write_cam_run(detector: Detector, *, ckpt: str | Path, images: str | Path, out: str | Path, settings: CamSettings,
                  arguments: dict[str, Any], overwrite: bool = False, device: str = "auto", workers: int = 0,
                  overlays: int = 4, progress: bool = False) -> tuple[CamSummary, CamResult]:
    """The ``cam`` job: explain ``images`` into the run folder ``out`` (contract, manifest, record)."""
    check_spatial_layer(detector, settings.layer)
    with run_folder(out, command="cam", overwrite=overwrite, inputs=[ckpt, images]) as run:
        result = explain_folder(detector, images, settings, device=resolve_device(device), workers=workers,
                                progress=progress)
        check_cam_outputs(result, ckpt)
        origin = provenance(ckpt, detector, reencode=settings.reencode)
        summary = save_result(result, out=run.path, overlays=overlays, images_root=images, provenance=origin)
        write_manifest(run.path, command="cam", arguments=arguments, checkpoint_sha256=origin.checkpoint_sha256,
                       detector=detector.config(), preprocessing=origin.preprocessing)
    return summary, result


def check_spatial_layer(detector: Detector, layer: str) -> None:
    """A named ``--layer`` must give a spatial map (a CAM needs one); say so, and where to look, before any work."""
    modules = dict(detector.backbone.named_modules())
    if layer == "auto" or layer not in modules or layer in dict(list_layers(detector.backbone, detector.image_size)):
        return  # auto picks a spatial layer; an unknown name is named by resolve_layer with suggestions
    import torch

    transform, shape = reshape_transform_for(detector.backbone, layer), []

    def hook(module, inputs, output) -> None:
        try:
            out = transform(output) if transform is not None else output
        except (ValueError, RuntimeError):
            out = output
        shape.append(tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__)

    handle = modules[layer].register_forward_hook(hook)
    try:
        with torch.no_grad():
            was = detector.backbone.training
            detector.backbone.eval()
            detector.backbone(torch.zeros(1, 3, detector.image_size, detector.image_size,
                                          device=next(detector.backbone.parameters()).device))
            detector.backbone.train(was)
    finally:
        handle.remove()
    if shape and isinstance(shape[0], tuple) and len(shape[0]) == 4:
        return  # a 1x1 map: spatial, if coarse (the resolution warning says so)
    raise ValueError(f"--layer {layer} has no spatial map (its output is {shape[0] if shape else 'never computed'}, "
                     f"not a feature map or token grid: a pooling or classifier layer), so it has no CAM; pick a "
                     f"layer that has one: cam --ckpt ... --list-layers")


def check_cam_outputs(result: CamResult, ckpt: str | Path) -> None:
    """NaN or inf probabilities or maps mean a broken detector: stop, naming the checkpoint, before any file."""
    maps_bad = ~np.isfinite(result.raw_maps.reshape(len(result.raw_maps), -1)).all(axis=1) \
        if len(result.raw_maps) else np.zeros(0, bool)
    check_finite_outputs(~np.isfinite(result.prob_fake) | maps_bad, result.paths, f"checkpoint {ckpt}")
