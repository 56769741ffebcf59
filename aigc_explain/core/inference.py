"""Running a detector: the device, bf16 autocast, batched failure-tolerant inference, probabilities.

Training's validation pass and evaluation both call ``run_inference``, so they can never preprocess or
score differently. ``predict`` takes an optional ``Perturbation`` applied to each decoded image before the
detector's own preprocessing (robustness sweeps).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.special import expit
from torch import nn

from aigc_explain.core.folders import Sample
from aigc_explain.core.images import eval_transform, prepend, Reencode
from aigc_explain.core.loader import make_loader
from aigc_explain.core.models import Detector
from aigc_explain.core.perturb import Perturbation
from aigc_explain.runs.contract import LABEL_NAMES


def resolve_device(spec: str = "auto") -> torch.device:
    """``auto`` -> cuda when available, else cpu; asking for cuda without one is an error."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {spec} was asked for but no CUDA device is available; use --device cpu")
    if spec != "cpu" and not spec.startswith("cuda"):
        raise ValueError(f"--device {spec!r} is not one of auto, cpu, cuda, cuda:N")
    return torch.device(spec)


@dataclass
class Predictions:
    paths: list[str]
    labels: np.ndarray  # 0 real, 1 fake, -1 unknown
    logits: np.ndarray
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def probs(self) -> np.ndarray:
        return expit(self.logits.astype(np.float64))  # stable for saturated logits (no exp overflow)

    def rows(self, threshold: float = 0.5) -> list[tuple]:
        preds = np.where(self.probs >= threshold, 1, 0)
        return [(p, LABEL_NAMES[int(y)], f"{pr:.6f}", LABEL_NAMES[int(k)])
                for p, y, pr, k in zip(self.paths, self.labels, self.probs, preds)]


AMP_MODES = ("auto", "bf16", "off")


def autocast(device: torch.device, amp: str = "auto"):
    """bfloat16 autocast (no loss scaling needed): ``auto`` = on CUDA only, so CPU runs stay exactly
    reproducible in fp32; ``bf16`` also on CPU (about 1.7x faster training on CPUs with AMX)."""
    if amp not in AMP_MODES:
        raise ValueError(f"--amp {amp!r} is not one of {', '.join(AMP_MODES)}")
    if amp == "bf16" or (amp == "auto" and device.type == "cuda"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def run_inference(model: nn.Module, loader, device: torch.device,
                  amp: str = "auto") -> tuple[torch.Tensor, torch.Tensor, list[int], list[tuple[int, str]]]:
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
            with autocast(device, amp):
                out = model(x)
            logits.append(out.float().reshape(-1))
            labels.append(batch.labels)
            indices += batch.indices.tolist()
    if not logits:
        return torch.empty(0), torch.empty(0), [], failed
    return torch.cat(logits).cpu(), torch.cat(labels), indices, failed


def predict(detector: Detector, samples: list[Sample], *, batch_size: int = 64, device: str | torch.device = "cpu",
            workers: int = 0, perturbation: Perturbation | None = None,
            reencode: Reencode | str | None = None) -> Predictions:
    """Probabilities of "fake" for every readable sample, with the same preprocessing as training's validation
    (``perturbation``, if any, first: it degrades the decoded image, then the detector resizes it)."""
    device = torch.device(device)
    transform = prepend(eval_transform(detector.image_size, detector.mean, detector.std), Reencode.parse(reencode),
                        perturbation)
    loader = make_loader(samples, transform, batch_size=batch_size, workers=workers, pin_memory=device.type == "cuda")
    logits, _, indices, failed = run_inference(detector.to(device), loader, device)
    kept = [samples[i] for i in indices]
    return Predictions([s.path for s in kept], np.array([s.label for s in kept], dtype=np.int64),
                       logits.numpy().astype(np.float64), [(samples[i].path, why) for i, why in failed])
