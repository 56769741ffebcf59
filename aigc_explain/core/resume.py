"""``train --resume``: continue a run exactly as it was configured.

A finished run is left alone (``TrainResult.finished_already``); ``epochs`` may be raised to train further
(logged, and recorded in the manifest); repeating the run's own settings is fine; any other setting that
differs is refused, since the resumed run would silently not be the run its folder describes.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import torch

from aigc_explain.core.checkpoint import read_checkpoint
from aigc_explain.core.distributed import DistEnv
from aigc_explain.core.experiments import EXPERIMENTS, TrainConfig
from aigc_explain.core.inference import resolve_device
from aigc_explain.core.training import TrainResult, _Run, train_loop
from aigc_explain.runs.files import write_json
from aigc_explain.runs.folders import RunFolder, mark_running, replaced_path

log = logging.getLogger(__name__)

# Flags a resumed run may change: they do not alter what is computed.
_FREE_ON_RESUME = frozenset({"out", "workers", "device"})


def _same(key: str, stored: Any, given: Any) -> bool:
    if key == "data":
        return Path(str(stored)).resolve() == Path(str(given)).resolve()
    if isinstance(stored, (int, float)) and isinstance(given, (int, float)) and not isinstance(given, bool):
        return float(stored) == float(given)
    return stored == given


def resume_overrides(options: dict[str, Any], *, experiment: int | None = None,
                     overwrite: bool = False) -> dict[str, Any]:
    """The settings given with ``train --resume`` (``resumed_config``'s overrides): every flag set (None: not
    given), over the preset of ``--experiment N``, whose values count as given. ``--overwrite`` is refused: it
    would replace the run that ``--resume`` continues."""
    if overwrite:
        raise ValueError("--resume continues the run in --out and --overwrite replaces it; pick one")
    given = {k: v for k, v in options.items() if v is not None}
    if experiment is not None:  # the preset's values count as given, explicit flags over them
        given = {**EXPERIMENTS.get(experiment, {}), "experiment": experiment, **given}
    return given


def resumed_config(stored: dict[str, Any], overrides: dict[str, Any], done: int) -> TrainConfig:
    """The run's own configuration; ``overrides`` (the flags given with --resume) may repeat its values,
    change workers/device, or raise ``epochs`` to train further. Anything else is refused."""
    values = dict(stored)
    for key, given in overrides.items():
        if given is None or key in _FREE_ON_RESUME or key == "epochs":
            continue
        if key not in stored:
            raise ValueError(f"--resume: the run in {stored.get('out')} does not record {key}; resume without it")
        if not _same(key, stored[key], given):
            flag = "--" + key.replace("_", "-")
            raise ValueError(f"--resume continues the run as it was configured, but {flag} {given} differs from "
                             f"its {stored[key]}; drop {flag} or start a new run with another --out")
    for key in ("workers", "device"):
        if overrides.get(key) is not None:
            values[key] = overrides[key]
    epochs = overrides.get("epochs")
    if epochs is not None:
        planned = int(stored.get("epochs", done))
        if epochs < max(done, planned):
            raise ValueError(f"--resume --epochs {epochs} would shorten the run: it is configured for {planned} "
                             f"epochs and has trained {done}; --epochs only extends a run (give at least "
                             f"{max(done, planned)}, or drop --epochs)")
        values["epochs"] = epochs
    return TrainConfig(**{**values, "weights": "none"})


def _record_extension(run_dir: Path, old: int, new: int) -> None:
    """The manifest says how many epochs the run now trains and when that changed."""
    path = run_dir / "manifest.json"
    manifest = json.loads(path.read_text()) if path.is_file() else {}
    manifest.setdefault("arguments", {})["epochs"] = new
    manifest.setdefault("resumed", []).append({"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "epochs_from": old,
                                               "epochs_to": new})
    write_json(path, manifest)


def resume_run(out: str | Path, *, overrides: dict[str, Any] | None = None, progress: bool = True) -> TrainResult:
    """Continue the run in ``out`` exactly where it stopped (see ``resumed_config`` for what may change).
    A run that already trained all its epochs is left as it is (``TrainResult.finished_already``)."""
    env = DistEnv.from_env()
    try:
        return _resume(Path(out), dict(overrides or {}), progress and env.is_main, env)
    finally:
        env.stop()


def _amp_used(ckpt: dict[str, Any], cfg: TrainConfig) -> str:
    """The autocast the run trained with. Checkpoints from before ``--amp auto`` covered CPUs did not
    record it; "auto" meant bf16 on CUDA only then."""
    record = ckpt.get("amp")
    if isinstance(record, dict) and record.get("used") in ("bf16", "off"):
        return record["used"]
    return "bf16" if cfg.amp == "bf16" or (cfg.amp == "auto" and resolve_device(cfg.device).type == "cuda") else "off"


_RESUME_STATE = {"state_dict": dict, "optimizer": dict, "scheduler": dict, "rng_state": torch.Tensor, "epoch": int,
                 "step": int, "history": list, "sums": list}


def check_resumable(ckpt: dict[str, Any], path: Path) -> None:
    """One line naming what a checkpoint lacks before anything is built from it: its training arguments (all known
    to this version) and the state ``--resume`` restores (weights, optimizer, scheduler, RNG, position)."""
    from dataclasses import fields

    if not isinstance(ckpt.get("train_args"), dict):
        raise ValueError(f"{path} holds no training state; it cannot be resumed")
    unknown = sorted(set(ckpt["train_args"]) - {f.name for f in fields(TrainConfig)})
    if unknown:
        raise ValueError(f"{path} records training arguments this aigc_explain does not know ({', '.join(unknown)}): "
                         f"it was written by another version; resume it with that version or start a new run")
    bad = [key for key, kind in _RESUME_STATE.items() if not isinstance(ckpt.get(key), kind)]
    if bad:
        raise ValueError(f"{path} cannot be resumed: {', '.join(bad)} {'is' if len(bad) == 1 else 'are'} missing or "
                         f"malformed (only a checkpoint.pth written by train holds the whole training state; "
                         f"best_model.pth and final_model.pth do not); start a new run")


def _resume(run_dir: Path, overrides: dict[str, Any], progress: bool, env: DistEnv) -> TrainResult:
    ckpt_path = run_dir / "checkpoint.pth"
    if not ckpt_path.is_file():
        raise FileNotFoundError(f"--resume needs {ckpt_path}; start a new run without --resume")
    ckpt = read_checkpoint(ckpt_path)
    check_resumable(ckpt, ckpt_path)
    stored = ckpt["train_args"]
    done = int(ckpt.get("epoch", 0))
    cfg = resumed_config(stored, overrides, done)
    if done >= cfg.epochs and not ckpt.get("step"):
        log.info("run %s already finished its %d epochs; nothing to do (pass --epochs N > %d to train further)",
                 run_dir, done, done)
        return TrainResult(run_dir, float(ckpt.get("best_val_acc", -1.0)), list(ckpt.get("history", [])), [],
                           finished_already=True)
    torch.manual_seed(cfg.seed)
    run = _Run(cfg, run_dir, env, amp_used=_amp_used(ckpt, cfg), resume=True)
    state = run.restore(ckpt)
    folder = None
    if env.is_main:
        folder = RunFolder(run_dir, "train", backup=replaced_path(run_dir))
        folder.keep_partial = True
        mark_running(run_dir, "train")
        if cfg.epochs != stored.get("epochs"):
            log.info("extending %s from %s to %d epochs", run_dir, stored.get("epochs"), cfg.epochs)
            _record_extension(run_dir, int(stored.get("epochs", 0)), cfg.epochs)
    log.info("resuming %s at epoch %d, batch %d", run_dir, state.epoch + 1, state.step)
    return train_loop(run, state, folder, progress)
