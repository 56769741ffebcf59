"""Training the report's way — AdamW, ReduceLROnPlateau on val loss, best model by val accuracy —
as a resumable, failure-tolerant function.

A run folder holds ``best_model.pth``, ``final_model.pth``, ``checkpoint.pth`` (every epoch and on
Ctrl-C, with the position inside the epoch, so ``resume`` continues exactly), ``history.csv``,
``manifest.json`` and ``skipped.csv``. Augmentations are seeded per (seed, epoch, image), so a
resumed run gives the same weights as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DistributedSampler

from .checkpoint import read_checkpoint, save_checkpoint
from .distributed import DistEnv
from .data import (AUGMENTATIONS, EpochSampler, balanced_subset, class_counts, describe_preprocessing, eval_transform,
                   find_samples, make_loader, NoReadableImages, one_class_warning, split_folder, train_transform)
from .evaluation import AMP_MODES, autocast, run_inference
from .losses import LOSSES, make_loss
from .models import build_detector, resolve_device
from .runs import RunFolder, mark_running, open_run, replaced_path, write_csv, write_json, write_manifest, write_skipped

log = logging.getLogger(__name__)

# The report's five settings; explicit arguments override them.
EXPERIMENTS: dict[int, dict[str, Any]] = {
    1: {"model": "resnet", "augment": "report", "loss": "focal"},
    2: {"model": "resnet", "augment": "none", "loss": "bce"},
    3: {"model": "vit", "augment": "none", "loss": "bce"},
    4: {"model": "swin", "augment": "none", "loss": "bce"},
    5: {"model": "resnet", "augment": "report", "loss": "bce"},
}
HISTORY_FIELDS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds", "images_per_s")


@dataclass
class TrainConfig:
    data: str
    out: str
    model: str = "resnet"
    augment: str = "none"
    loss: str = "bce"
    focal_alpha: float = 0.7
    focal_gamma: float = 1.0
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-4
    weight_decay: float = 0.01
    patience: int = 3
    image_size: int = 224
    weights: str = "imagenet"
    seed: int = 0
    workers: int = 0
    device: str = "auto"
    amp: str = "auto"  # bf16 autocast: auto = CUDA only; bf16 = also on CPU; off
    limit: int | None = None  # at most this many images per split (quick runs)
    experiment: int | None = None

    def __post_init__(self) -> None:
        if self.augment not in AUGMENTATIONS:
            raise ValueError(f"--augment {self.augment!r} is not one of {', '.join(AUGMENTATIONS)}")
        if self.amp not in AMP_MODES:
            raise ValueError(f"--amp {self.amp!r} is not one of {', '.join(AMP_MODES)}")
        if self.loss not in LOSSES:
            raise ValueError(f"--loss {self.loss!r} is not one of {', '.join(LOSSES)}")
        for name in ("epochs", "batch_size", "image_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        checks = (("lr", self.lr > 0, "> 0"), ("weight_decay", self.weight_decay >= 0, ">= 0"),
                  ("patience", self.patience >= 0, ">= 0 (epochs without improvement before the lr drops)"),
                  ("focal_alpha", 0 < self.focal_alpha <= 1, "in (0, 1] (the report uses 0.7)"),
                  ("focal_gamma", self.focal_gamma >= 0, ">= 0 (the report uses 1)"),
                  ("workers", self.workers >= 0, ">= 0"), ("seed", self.seed >= 0, ">= 0"),
                  ("limit", self.limit is None or self.limit >= 1, ">= 1"))
        for name, ok, rule in checks:
            if not ok:
                raise ValueError(f"--{name.replace('_', '-')} must be {rule}, got {getattr(self, name)}")


def config_from_experiment(experiment: int | None, **overrides: Any) -> TrainConfig:
    """The preset of ``experiment`` (1–5) with every non-None override applied on top."""
    if experiment is not None and experiment not in EXPERIMENTS:
        raise ValueError(f"--experiment must be one of {', '.join(map(str, EXPERIMENTS))}, got {experiment}")
    values = dict(EXPERIMENTS.get(experiment, {}))
    values.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in fields(TrainConfig)}
    return TrainConfig(experiment=experiment, **{k: v for k, v in values.items() if k in known})


@dataclass
class TrainState:
    epoch: int = 0  # the epoch in progress (== completed epochs at an epoch boundary)
    step: int = 0  # batches of that epoch already done (non-zero only after an interrupt)
    best_val_acc: float = -1.0
    history: list[dict[str, float]] = field(default_factory=list)
    sums: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])  # loss·n, correct, n so far


@dataclass
class TrainResult:
    run_dir: Path
    best_val_acc: float
    history: list[dict[str, float]]
    skipped: list[tuple[str, str]]
    finished_already: bool = False  # --resume of a run that had trained all its epochs: nothing was done


class _Run:
    """The objects of one training run; ``fit`` drives it epoch by epoch."""

    def __init__(self, cfg: TrainConfig, run_dir: Path, env: DistEnv) -> None:
        self.cfg, self.run_dir, self.env = cfg, run_dir, env
        self.device = env.start(resolve_device(cfg.device))
        root = Path(cfg.data)
        self.train_samples = balanced_subset(find_samples(split_folder(root, "train"), require_labels=True), cfg.limit)
        self.val_samples = balanced_subset(find_samples(split_folder(root, "val"), require_labels=True), cfg.limit)
        lone = one_class_warning(self.train_samples, split_folder(root, "train"))
        if lone:
            raise ValueError(f"{lone}; a detector cannot learn real vs fake from one class: add the other class")
        self.warnings = [w for w in [one_class_warning(self.val_samples, split_folder(root, "val"))] if w]
        for w in self.warnings:
            log.warning(w)
        self.detector = build_detector(cfg.model, weights=cfg.weights, image_size=cfg.image_size)
        self.model = self.detector.to(self.device)
        if self.device.type == "cuda":
            self.model = self.model.to(memory_format=torch.channels_last)
        self.train_model = self.model
        if env.world > 1:  # gradients averaged across ranks; the bare detector is what gets saved
            from torch.nn.parallel import DistributedDataParallel

            self.train_model = DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.sched = torch.optim.lr_scheduler.ReduceLROnPlateau(self.opt, patience=cfg.patience)
        self.loss_fn = make_loss(cfg.loss, alpha=cfg.focal_alpha, gamma=cfg.focal_gamma)
        d = self.detector
        # The same permutation for any world size: rank r takes every world-th sample of it, so N processes
        # with batch B see exactly the images one process with batch N·B sees.
        self.sampler = EpochSampler(DistributedSampler(self.train_samples, num_replicas=env.world, rank=env.rank,
                                                       shuffle=True, seed=cfg.seed))
        pin = self.device.type == "cuda"
        self.train_loader = make_loader(self.train_samples, train_transform(d.image_size, cfg.augment, d.mean, d.std),
                                        batch_size=cfg.batch_size, workers=cfg.workers, pin_memory=pin,
                                        sampler=self.sampler, seed=cfg.seed)
        self.val_loader = make_loader(self.val_samples[env.rank::env.world], eval_transform(d.image_size, d.mean, d.std),
                                      batch_size=cfg.batch_size, workers=cfg.workers, pin_memory=pin)
        self.skipped: dict[str, str] = {}
        self.stop_requested = False

    @contextlib.contextmanager
    def graceful_interrupt(self):
        """The first Ctrl-C stops after the current batch (a clean, exactly resumable state);
        a second one interrupts at once."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum, frame):
            if self.stop_requested:
                raise KeyboardInterrupt
            self.stop_requested = True
            log.warning("Ctrl-C: stopping after this batch (press again to stop now)")

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def save(self, name: str, state: TrainState, **extra: Any) -> None:
        if not self.env.is_main:
            return
        save_checkpoint(self.run_dir / name, self.detector, train_args=asdict(self.cfg),
                        optimizer=self.opt.state_dict(), scheduler=self.sched.state_dict(),
                        rng_state=torch.get_rng_state(), **asdict(state), **extra)

    def restore(self, ckpt: dict[str, Any]) -> TrainState:
        self.detector.backbone.load_state_dict(ckpt["state_dict"])
        self.opt.load_state_dict(ckpt["optimizer"])
        self.sched.load_state_dict(ckpt["scheduler"])
        torch.set_rng_state(ckpt["rng_state"])
        return TrainState(**{f.name: ckpt[f.name] for f in fields(TrainState)})

    def note_failures(self, samples: list, failed: list[tuple[int, str]]) -> None:
        for index, reason in failed:
            self.skipped[samples[index].path] = reason

    def train_epoch(self, state: TrainState, progress: bool) -> None:
        from tqdm import tqdm

        cfg, dev = self.cfg, self.device
        self.sampler.set_epoch(state.epoch, skip=state.step * cfg.batch_size)
        if state.step == 0:  # dropout RNG: seeded per epoch; a mid-epoch resume restored it instead
            torch.manual_seed(cfg.seed * 7919 + state.epoch)
        self.model.train()
        sums = torch.tensor(state.sums, dtype=torch.float64, device=dev)
        bar = tqdm(self.train_loader, desc=f"epoch {state.epoch + 1}/{cfg.epochs}", disable=not progress,
                   leave=False)
        try:
            for batch in bar:
                self.note_failures(self.train_samples, batch.failed)
                if len(batch.labels) >= 2:  # BatchNorm cannot train on a batch of one
                    sums += self._step(batch.images.to(dev, non_blocking=True), batch.labels.to(dev, non_blocking=True))
                state.step += 1
                if progress and state.step % 10 == 0:
                    mean = (sums[:2] / sums[2].clamp(min=1)).tolist()
                    bar.set_postfix(loss=f"{mean[0]:.4f}", acc=f"{mean[1]:.3f}")
                if self.stop_requested:
                    raise KeyboardInterrupt
        finally:
            state.sums = sums.tolist()

    def _step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(self.device, self.cfg.amp):
            logits = self.train_model(x).float().reshape(-1)
        loss = self.loss_fn(logits, y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        with torch.no_grad():  # no host sync here: sums stay on the device until the epoch ends
            return torch.stack([loss.detach().double() * len(y), ((logits > 0) == (y > 0.5)).sum().double(),
                                torch.tensor(float(len(y)), dtype=torch.float64, device=y.device)])

    def validate(self) -> tuple[float, float]:
        """Loss and accuracy on the validation set (each rank scores its share; sums are reduced)."""
        logits, labels, _, failed = run_inference(self.model, self.val_loader, self.device, self.cfg.amp)
        self.note_failures(self.val_samples[self.env.rank::self.env.world], failed)
        sums = torch.zeros(3, dtype=torch.float64, device=self.device)
        if len(labels):
            sums += torch.tensor([float(self.loss_fn(logits, labels)) * len(labels),
                                  float(((logits > 0) == (labels > 0.5)).sum()), float(len(labels))],
                                 dtype=torch.float64, device=self.device)
        loss_sum, correct, n = self.env.sum(sums).tolist()
        if n == 0:
            self.write_skipped()
            raise NoReadableImages(f"no validation image could be read", sorted(self.skipped.items()))
        return loss_sum / n, correct / n

    def write_skipped(self) -> None:
        self.skipped = self.env.merge_dicts(self.skipped)
        if self.env.is_main:
            write_skipped(self.run_dir, list(self.skipped.items()))

    def write_tables(self, history: list[dict[str, float]]) -> None:
        if self.env.is_main:
            write_csv(self.run_dir / "history.csv", HISTORY_FIELDS, [[r[k] for k in HISTORY_FIELDS] for r in history])
        self.write_skipped()


# Flags a resumed run may change: they do not alter what is computed.
_FREE_ON_RESUME = frozenset({"out", "workers", "device"})


def _same(key: str, stored: Any, given: Any) -> bool:
    if key == "data":
        return Path(str(stored)).resolve() == Path(str(given)).resolve()
    if isinstance(stored, (int, float)) and isinstance(given, (int, float)) and not isinstance(given, bool):
        return float(stored) == float(given)
    return stored == given


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
        if epochs < done:
            raise ValueError(f"--epochs {epochs}: the run has already trained {done} epochs; give at least {done}")
        values["epochs"] = epochs
    return TrainConfig(**{**values, "weights": "none"})


def _open_folder(cfg: TrainConfig, overwrite: bool, env: DistEnv) -> RunFolder | None:
    if not env.is_main:
        return None
    weights = cfg.weights if cfg.weights not in ("none",) and not cfg.weights.startswith("imagenet") else None
    return open_run(cfg.out, command="train", overwrite=overwrite, inputs=[cfg.data, weights])


def _prepare_new(cfg: TrainConfig, overwrite: bool, env: DistEnv) -> tuple[_Run, TrainState, RunFolder | None]:
    run = _Run(cfg, Path(cfg.out), env)
    folder = _open_folder(cfg, overwrite, env)
    env.barrier()
    if env.is_main:
        write_manifest(run.run_dir, command="train", arguments=asdict(cfg), seed=cfg.seed, world_size=env.world,
                       dataset={"train": class_counts(run.train_samples), "val": class_counts(run.val_samples)},
                       preprocessing=describe_preprocessing(cfg.image_size, run.detector.mean, run.detector.std),
                       warnings=run.warnings)
    return run, TrainState(), folder


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


def _resume(run_dir: Path, overrides: dict[str, Any], progress: bool, env: DistEnv) -> TrainResult:
    ckpt_path = run_dir / "checkpoint.pth"
    if not ckpt_path.is_file():
        raise FileNotFoundError(f"--resume needs {ckpt_path}; start a new run without --resume")
    ckpt = read_checkpoint(ckpt_path)
    if not isinstance(ckpt.get("train_args"), dict):
        raise ValueError(f"{ckpt_path} holds no training state; it cannot be resumed")
    stored = ckpt["train_args"]
    done = int(ckpt.get("epoch", 0))
    cfg = resumed_config(stored, overrides, done)
    if done >= cfg.epochs and not ckpt.get("step"):
        log.info("run %s already finished its %d epochs; nothing to do (pass --epochs N > %d to train further)",
                 run_dir, done, done)
        return TrainResult(run_dir, float(ckpt.get("best_val_acc", -1.0)), list(ckpt.get("history", [])), [],
                           finished_already=True)
    torch.manual_seed(cfg.seed)
    run = _Run(cfg, run_dir, env)
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
    return _train(run, state, folder, progress)


def fit(cfg: TrainConfig, *, resume: bool = False, overwrite: bool = False, progress: bool = True) -> TrainResult:
    """Train a new detector into ``cfg.out`` (``resume``: continue that run; ``cfg`` may then repeat its
    settings and raise ``epochs``, see ``resume_run``); returns the run folder and the per-epoch history.

    Under ``torchrun`` the same call trains with DistributedDataParallel (``--batch-size`` is per
    process); only rank 0 writes files.
    """
    if resume:
        return resume_run(cfg.out, overrides=asdict(cfg), progress=progress)
    env = DistEnv.from_env()
    try:
        torch.manual_seed(cfg.seed)
        run, state, folder = _prepare_new(cfg, overwrite, env)
        return _train(run, state, folder, progress and env.is_main)
    finally:
        env.stop()


def _train(run: _Run, state: TrainState, folder: RunFolder | None, progress: bool) -> TrainResult:
    env, cfg = run.env, run.cfg
    try:
        while state.epoch < cfg.epochs:
            start = time.perf_counter()
            try:
                with run.graceful_interrupt():
                    run.train_epoch(state, progress)
            except KeyboardInterrupt:
                run.save("checkpoint.pth", state, interrupted=True)
                if folder is not None:
                    folder.keep_partial = True
                run.write_skipped()
                log.warning("interrupted: state saved to %s; continue with --resume", run.run_dir / "checkpoint.pth")
                raise
            _finish_epoch(run, state, time.perf_counter() - start)
            if folder is not None:
                folder.keep_partial = True  # a checkpoint exists: the run can be resumed
        run.save("final_model.pth", state)
    except BaseException as exc:
        if folder is not None:
            folder.abort(exc)
        raise
    if folder is not None:
        folder.complete()
    return TrainResult(run.run_dir, state.best_val_acc, state.history, sorted(run.skipped.items()))


def _finish_epoch(run: _Run, state: TrainState, seconds: float) -> None:
    loss_sum, correct, n = run.env.sum(torch.tensor(state.sums, dtype=torch.float64, device=run.device)).tolist()
    val_loss, val_acc = run.validate()
    run.sched.step(val_loss)
    row = {"epoch": state.epoch + 1, "train_loss": loss_sum / max(n, 1), "train_acc": correct / max(n, 1),
           "val_loss": val_loss, "val_acc": val_acc, "lr": run.opt.param_groups[0]["lr"],
           "seconds": round(seconds, 3), "images_per_s": round(n / max(seconds, 1e-9), 2)}
    state.history.append(row)
    log.info("epoch %d/%d: train loss %.4f acc %.4f | val loss %.4f acc %.4f | %.1f img/s", row["epoch"],
             run.cfg.epochs, row["train_loss"], row["train_acc"], val_loss, val_acc, row["images_per_s"])
    state.epoch, state.step, state.sums = state.epoch + 1, 0, [0.0, 0.0, 0.0]
    improved = val_acc > state.best_val_acc
    if improved:
        state.best_val_acc = val_acc
    metrics = {"val_acc": val_acc, "val_loss": val_loss}
    if improved:
        run.save("best_model.pth", state, metrics=metrics)
    run.save("checkpoint.pth", state, metrics=metrics)
    run.write_tables(state.history)
