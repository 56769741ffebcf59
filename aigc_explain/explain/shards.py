"""Shards of one CAM run: ``cam --shard K/N`` runs, their merge into the run one process gives, and the
same under ``torchrun`` (rank r explains shard r+1/N, rank 0 merges). A merge checks that the shards are
exactly 1..N of one N, of one image selection, checkpoint and setting."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from aigc_explain.analysis.regions import MeanMapAccumulator
from aigc_explain.core.inference import resolve_device
from aigc_explain.core.models import Detector
from aigc_explain.explain.folder import CamResult, CamSettings, explain_folder
from aigc_explain.explain.save import provenance, save_result
from aigc_explain.runs.contract import MASS_KEYS
from aigc_explain.runs.files import write_manifest
from aigc_explain.runs.folders import mark_complete, open_run, prepare_run_dir, run_folder
from aigc_explain.runs.reader import CamRun, load_cam_run
from aigc_explain.runs.summaries import CamSummary

log = logging.getLogger(__name__)


def _settings(summary: CamSummary, path: Path) -> CamSettings:
    """The run's ``CamSettings`` from its summary; an unknown or ill-typed setting is one line naming the file."""
    where = path / "summary.json"
    settings = summary.settings
    known = {f.name for f in dataclasses.fields(CamSettings)}
    if not settings or not summary.detector:
        raise ValueError(f"{where} lacks its settings, detector or layer; run its command again")
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ValueError(f"{where} holds unknown setting(s) {', '.join(map(str, unknown))[:120]}; it was not written "
                         f"by this aigc_explain: run its command again")
    settings = dict(settings)
    shard = settings.get("shard")
    if shard is not None and not (isinstance(shard, list) and len(shard) == 2 and all(type(v) is int for v in shard)):
        raise ValueError(f"{where} has shard {str(shard)[:40]}, not K/N; run its command again")
    settings["shard"] = tuple(shard) if shard else None
    try:
        return CamSettings(**settings)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where} holds settings that are not valid ({exc}); run its command again") from None


def load_result(folder: str | Path) -> CamResult:
    """Rebuild a ``CamResult`` from a complete CAM run folder (the one reader, ``runs.reader``, parses it)."""
    return result_of(load_cam_run(folder))


def result_of(run: CamRun) -> CamResult:
    """The ``CamResult`` a CAM run read back holds."""
    summary, arrays = run.summary, run.arrays()
    accs = {g: MeanMapAccumulator.from_state(state) for g, state in run.aggregates().items()}
    masses = {k: run.masses[k] for k in MASS_KEYS}
    masses["cam_empty"] = run.cam_empty
    settings = _settings(summary, run.path)
    return CamResult(settings=settings, detector_config=summary.detector, layer_name=summary.layer,
                     map_size=summary.map_size, input_size=summary.input_size, paths=list(run.predictions.paths),
                     indices=arrays["index"], labels=arrays["labels"], prob_fake=arrays["prob_fake"],
                     raw_maps=arrays["maps"], masses=masses, accumulators=accs, skipped=run.skipped(),
                     warnings=summary.warnings, selection=summary.selection)


_SAME_IN_EVERY_SHARD = ("method", "target", "layer", "map_size", "input_size", "regions")


def _check_shards(results: list[CamResult], summaries: list[CamSummary]) -> None:
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
    same = {"image selection": [r.selection and r.selection.to_json() for r in results],
            "checkpoint": [s.checkpoint_sha256 for s in summaries],
            "detector": [r.detector_config for r in results],
            "settings": [{**r.settings.__dict__, "shard": None} for r in results],
            **{key: [s.to_json().get(key) for s in summaries] for key in _SAME_IN_EVERY_SHARD}}
    for what, values in same.items():
        if any(v is None for v in values) and what == "image selection":
            raise ValueError("a run does not record its image selection (made by an older aigc_explain); "
                             "run the shards again")
        if len({json_key(v) for v in values}) > 1:
            raise ValueError(f"the runs differ in {what}; only the shards of one run (same --images, --limit, "
                             "--ckpt, method, layer and settings) merge")


def merge_results(results: list[CamResult], summaries: list[CamSummary]) -> CamResult:
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
    return CamResult(settings=settings, detector_config=first.detector_config, layer_name=first.layer_name,
                     map_size=first.map_size, input_size=first.input_size, paths=[paths[i] for i in order],
                     indices=index[order], labels=cat(lambda r: r.labels), prob_fake=cat(lambda r: r.prob_fake),
                     raw_maps=cat(lambda r: r.raw_maps), masses=masses, accumulators=accs,
                     skipped=[s for r in results for s in r.skipped], warnings=first.warnings,
                     selection=first.selection)


def json_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def merge_runs(runs: list[str], *, out: str | Path, overwrite: bool = False, overlays: int = 4) -> Path:
    """``cam merge``: shard folders -> one run folder equal to a single run over all their images."""
    for r in runs:
        if not Path(r).is_dir():
            raise FileNotFoundError(f"shard run folder {r} does not exist")
    with run_folder(out, command="cam merge", overwrite=overwrite, inputs=runs) as run:
        merge_into(runs, out=run.path, overlays=overlays)
    return run.path


def _images_root(runs: list[CamRun]) -> str | None:
    """The images folder every shard's manifest records (overlays read nothing outside it), or None."""
    roots = set()
    for r in runs:
        manifest = r.manifest or {}
        images = (manifest.get("arguments") or {}).get("images") if isinstance(manifest, dict) else None
        roots.add(str(Path(images).resolve()) if isinstance(images, str) else None)
    return roots.pop() if len(roots) == 1 else None


def merge_into(runs: list[str], *, out: Path, overlays: int = 4, images_root: str | Path | None = None) -> None:
    """Write the merge of the shard folders ``runs`` into the open run folder ``out``; overlays read only
    images inside ``images_root`` (by default the images folder the shards' manifests record)."""
    loaded = [load_cam_run(r) for r in runs]  # refuses incomplete, damaged or ill-formed shards
    summaries = [r.summary for r in loaded]
    merged = merge_results([result_of(r) for r in loaded], summaries)
    origin = summaries[0].provenance
    root = images_root if images_root is not None else _images_root(loaded)
    if root is None and overlays > 0:
        log.warning("the shards do not record one images folder; the merged run has no overlays")
        overlays = 0
    save_result(merged, out=out, overlays=overlays, provenance=origin, images_root=root)
    write_manifest(out, command="cam merge", arguments={"runs": runs, "out": str(out)}, merged_from=runs,
                   **(origin.to_json() if origin else {}))


def explain_distributed(detector: Detector, *, ckpt: str | Path, images: str | Path, out: str | Path,
                        settings: CamSettings, overwrite: bool = False, device: str = "auto", workers: int = 0,
                        overlays: int = 4) -> None:
    """Under torchrun: rank r explains shard r+1/N into OUT/shards/, rank 0 then merges them into OUT."""
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    dist.init_process_group("gloo")  # only barriers travel; CAMs run on each rank's own device
    out, run = Path(out), None
    try:
        if rank == 0:
            run = open_run(out, command="cam", overwrite=overwrite, inputs=[ckpt, images])
        dist.barrier()
        shard = prepare_run_dir(out / "shards" / f"shard-{rank + 1}-of-{world}", command="cam")
        where = resolve_device(device)
        if where.type == "cuda":
            where = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        result = explain_folder(detector, images, dataclasses.replace(settings, shard=(rank + 1, world)),
                                device=where, workers=workers, progress=False)
        save_result(result, out=shard, overlays=0, provenance=provenance(ckpt, detector, reencode=settings.reencode))
        mark_complete(shard, "cam")
        dist.barrier()
        if rank == 0:
            merge_into(sorted(str(p) for p in (out / "shards").iterdir()), out=out, overlays=overlays, images_root=images)
            run.complete()
    except BaseException as exc:
        if run is not None:
            run.abort(exc)
        raise
    finally:
        dist.destroy_process_group()
