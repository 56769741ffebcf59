"""Losses on logits. The report's focal loss is ``alpha·(1-pt)^gamma·BCE`` with one alpha for
every sample (not torchvision's class-balanced alpha_t), so alpha is applied outside the library call."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torchvision.ops import sigmoid_focal_loss

LOSSES = ("bce", "focal")


def focal_loss(logits: torch.Tensor, targets: torch.Tensor, *, alpha: float = 0.7, gamma: float = 1.0) -> torch.Tensor:
    """Mean of ``alpha·(1-pt)^gamma·BCE`` computed stably on logits (torchvision's focal term, alpha=-1
    switches off its per-class weighting)."""
    return alpha * sigmoid_focal_loss(logits, targets, alpha=-1, gamma=gamma, reduction="mean")


def make_loss(name: str, *, alpha: float = 0.7, gamma: float = 1.0) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if name == "bce":
        return F.binary_cross_entropy_with_logits
    if name == "focal":
        return lambda logits, targets: focal_loss(logits, targets, alpha=alpha, gamma=gamma)
    raise ValueError(f"loss={name!r} is not one of {', '.join(LOSSES)}")
