"""Inference over folders and the evaluation of a detector on labelled data.

``predict`` runs a detector over samples (batched, failure tolerant) and returns probabilities;
``evaluate_folder`` adds metrics with bootstrap intervals. Training reuses ``run_inference``
for its validation pass, so validation and evaluation can never preprocess differently.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .data import LABEL_NAMES, Sample, eval_transform, find_samples, make_loader, split_folder
from .models import Detector

log = logging.getLogger(__name__)


@dataclass
class Predictions:
    paths: list[str]
    labels: np.ndarray  # 0 real, 1 fake, -1 unknown
    logits: np.ndarray
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def probs(self) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logits.astype(np.float64)))

    def rows(self, threshold: float = 0.5) -> list[tuple]:
        preds = np.where(self.probs >= threshold, 1, 0)
        return [(p, LABEL_NAMES[int(y)], f"{pr:.6f}", LABEL_NAMES[int(k)])
                for p, y, pr, k in zip(self.paths, self.labels, self.probs, preds)]


def autocast(device: torch.device, enabled: bool = True):
    """bfloat16 autocast on CUDA (no loss scaling needed), nothing on CPU."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def run_inference(model: nn.Module, loader, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, list[int], list[tuple[int, str]]]:
    """Logits, labels and dataset indices of every readable image, plus the failures."""
    model.eval()
    channels_last = device.type == "cuda"
    logits, labels, indices, failed = [], [], [], []
    with torch.inference_mode():
        for batch in loader:
            failed += batch.failed
            if batch.images.numel() == 0:
                continue
            x = batch.images.to(device, non_blocking=True)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast(device):
                out = model(x)
            logits.append(out.float().reshape(-1))
            labels.append(batch.labels)
            indices += batch.indices.tolist()
    if not logits:
        return torch.empty(0), torch.empty(0), [], failed
    return torch.cat(logits).cpu(), torch.cat(labels), indices, failed


def predict(detector: Detector, samples: list[Sample], *, batch_size: int = 64, device: str | torch.device = "cpu",
            workers: int = 0) -> Predictions:
    """Probabilities of "fake" for every readable sample, with the same preprocessing as training's validation."""
    device = torch.device(device)
    loader = make_loader(samples, eval_transform(detector.image_size, detector.mean, detector.std),
                         batch_size=batch_size, workers=workers, pin_memory=device.type == "cuda")
    logits, _, indices, failed = run_inference(detector.to(device), loader, device)
    kept = [samples[i] for i in indices]
    return Predictions([s.path for s in kept], np.array([s.label for s in kept], dtype=np.int64),
                       logits.numpy().astype(np.float64), [(samples[i].path, why) for i, why in failed])


def evaluate_folder(detector: Detector, data: str | Path, *, split: str = "val", batch_size: int = 64,
                    device: str | torch.device = "cpu", workers: int = 0, threshold: float = 0.5,
                    seed: int = 0) -> tuple[dict, Predictions]:
    """Metrics (accuracy, real/fake accuracy, AP, AUC, bootstrap intervals) on a labelled folder."""
    from .metrics import binary_metrics

    folder = split_folder(data, split)
    samples = find_samples(folder, require_labels=True)
    preds = predict(detector, samples, batch_size=batch_size, device=device, workers=workers)
    if len(preds.paths) == 0:
        raise ValueError(f"none of the {len(samples)} images under {folder} could be read; see skipped.csv")
    metrics = binary_metrics(preds.labels, preds.probs, threshold=threshold, seed=seed)
    metrics["folder"] = str(folder)
    metrics["n_skipped"] = len(preds.skipped)
    return metrics, preds
