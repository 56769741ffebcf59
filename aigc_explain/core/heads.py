"""Classifier heads as the field saves them, turned into our one logit.

Many detectors end in two logits (cross-entropy over {real, fake}). For two classes, softmax[fake] equals
sigmoid(z_fake − z_real), so such a head becomes one ``Linear`` with weight ``W[fake] − W[real]`` and bias
``b[fake] − b[real]``: exactly the same probability, and every command (evaluate, cam, the checks) keeps its
one-logit path. Grad-CAM then explains z_fake − z_real, the evidence for fake *against* real. A 1000-class
head is an ImageNet classifier, not a detector, and is named as such.
"""

from __future__ import annotations

from typing import Any

import torch

IMAGENET_CLASSES = (1000, 1001, 21843, 11821)  # ImageNet-1k (with background), ImageNet-21k (two releases)


def check_fake_index(fake_index: int) -> None:
    if isinstance(fake_index, bool) or fake_index not in (0, 1):
        raise ValueError(f"--fake-index must be 0 or 1 (which of a two-logit head's outputs is 'fake'), "
                         f"got {fake_index!r}")


def fit_head(state: dict[str, torch.Tensor], head: str, *, in_features: int | None = None, fake_index: int = 1,
             source: str = "checkpoint") -> tuple[dict[str, torch.Tensor], dict[str, Any] | None]:
    """``state`` with the Linear head ``head`` (e.g. ``fc``) as one logit, and a record of what was done
    (None when it already had one logit, or when its input width is not the model's: then the architecture
    does not fit, which the key check names). ValueError for an ImageNet or other multi-class head."""
    check_fake_index(fake_index)
    weight, bias = state.get(f"{head}.weight"), state.get(f"{head}.bias")
    if weight is None or weight.ndim != 2 or weight.shape[0] == 1:
        return state, None
    if in_features is not None and weight.shape[1] != in_features:
        return state, None
    n = int(weight.shape[0])
    if n in IMAGENET_CLASSES:
        raise ValueError(f"{source} is an ImageNet classifier ({n} classes in {head}), not a real-vs-fake "
                         f"detector: fine-tune it with train --weights FILE (its backbone is kept, the head "
                         f"becomes one logit)")
    if n != 2:
        raise ValueError(f"{source} has a {n}-class head ({head}); a detector has one logit (sigmoid) or two "
                         f"(softmax over real, fake)")
    real_index = 1 - fake_index
    out = dict(state)
    out[f"{head}.weight"] = (weight[fake_index] - weight[real_index]).unsqueeze(0).clone()
    if bias is not None:
        out[f"{head}.bias"] = (bias[fake_index] - bias[real_index]).reshape(1).clone()
    record = {"logits": 2, "fake_index": fake_index,
              "one_logit": f"{head} row {fake_index} minus row {real_index}: sigmoid of it = softmax[{fake_index}]"}
    return out, record
