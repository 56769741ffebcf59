"""Running a detector: the device, bf16 autocast, batched failure-tolerant inference, probabilities.

Training's validation pass and evaluation both call ``run_inference``, so they can never preprocess or
score differently. ``predict`` takes an optional ``Perturbation`` applied to each decoded image before the
detector's own preprocessing (robustness sweeps).
"""

from __future__ import annotations

import contextlib
import functools
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


@functools.lru_cache(maxsize=1)
def _cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as Linux reports them (empty elsewhere: auto then stays fp32); read once."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_bf16_native() -> str | None:
    """Which native bf16 units this CPU has ("AMX-BF16", "AVX512-BF16"), or None. torch's own
    ``get_cpu_capability()`` reports "AVX512" for both kinds, so the flags are read directly."""
    flags = _cpu_flags()
    if "amx_bf16" in flags:
        return "AMX-BF16"
    if "avx512_bf16" in flags:
        return "AVX512-BF16"
    return None


def resolve_amp(device: torch.device, amp: str = "auto") -> tuple[str, str]:
    """``(mode, reason)``: what ``amp`` means on ``device``. ``auto`` is bf16 autocast wherever the
    hardware computes bf16 natively — CUDA devices with bf16, CPUs with AMX or AVX512-BF16 — and exact
    fp32 elsewhere; ``bf16`` and ``off`` mean themselves."""
    if amp not in AMP_MODES:
        raise ValueError(f"--amp {amp!r} is not one of {', '.join(AMP_MODES)}")
    device = torch.device(device)
    if amp == "off":
        return "off", "--amp off: exact fp32"
    if device.type == "cuda":
        native = torch.cuda.is_bf16_supported()
        if amp == "bf16" or native:
            return "bf16", f"{'--amp bf16' if amp == 'bf16' else 'auto'}: CUDA device " \
                           f"{'with' if native else 'without'} native bf16"
        return "off", "auto: CUDA device without bf16 support, fp32"
    if device.type != "cpu":
        return ("bf16", f"--amp bf16 on {device.type}") if amp == "bf16" else \
            ("off", f"auto: {device.type} device, fp32")
    unit = cpu_bf16_native()
    if amp == "bf16":
        return "bf16", f"--amp bf16 on a CPU {'with ' + unit if unit else 'without native bf16 (emulated: slower)'}"
    if unit:
        return "bf16", f"auto: this CPU computes bf16 natively ({unit})"
    return "off", "auto: this CPU has no native bf16 (no AVX512-BF16 or AMX), fp32"


def autocast(device: torch.device, amp: str = "off"):
    """bfloat16 autocast (no loss scaling needed) when ``amp`` is, or resolves to, bf16 on ``device`` (see
    ``resolve_amp``); exact fp32 otherwise. Loops resolve "auto" once and pass the result."""
    mode = amp if amp in ("bf16", "off") else resolve_amp(device, amp)[0]
    if mode == "bf16":
        return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def run_inference(model: nn.Module, loader, device: torch.device,
                  amp: str = "off") -> tuple[torch.Tensor, torch.Tensor, list[int], list[tuple[int, str]]]:
    """Logits, labels and dataset indices of every readable image, plus the failures."""
    model.eval()
    amp = resolve_amp(device, amp)[0]  # once, not per batch
    logits, labels, indices, failed = [], [], [], []
    with torch.inference_mode():
        for batch in loader:
            failed += batch.failed
            if batch.images.numel() == 0:
                continue
            x = batch.images.to(device, non_blocking=True)
            if x.ndim == 4:  # 1.4-1.8x faster CPU inference (benchmarks/cpu_options.py), the same in fp32 up to rounding
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
            reencode: Reencode | str | None = None, amp: str = "off") -> Predictions:
    """Probabilities of "fake" for every readable sample, with the same preprocessing as training's validation
    (``perturbation``, if any, first: it degrades the decoded image, then the detector resizes it). Exact
    fp32 unless ``amp`` says otherwise: a checkpoint's probabilities are reproduced, not approximated."""
    device = torch.device(device)
    transform = prepend(eval_transform(detector.image_size, detector.mean, detector.std), Reencode.parse(reencode),
                        perturbation)
    loader = make_loader(samples, transform, batch_size=batch_size, workers=workers, pin_memory=device.type == "cuda")
    logits, _, indices, failed = run_inference(detector.to(device), loader, device, amp)
    kept = [samples[i] for i in indices]
    return Predictions([s.path for s in kept], np.array([s.label for s in kept], dtype=np.int64),
                       logits.numpy().astype(np.float64), [(samples[i].path, why) for i, why in failed])


def check_finite_outputs(bad: np.ndarray, paths: list[str], source: str) -> None:
    """NaN or inf outputs (``bad``: one flag per image) mean a broken detector, not bad images: stop, naming
    ``source`` (the checkpoint) and the first image, before metrics or maps blame the numbers."""
    bad = np.asarray(bad, dtype=bool)
    if bad.any():
        first = paths[int(np.flatnonzero(bad)[0])]
        raise ValueError(f"{source} gives non-finite outputs (NaN or inf) for {int(bad.sum())} of {len(bad)} images "
                         f"(first: {first}); its weights are damaged or overflow: check the checkpoint or retrain it")

