"""grad-cam's ROAD (Rong et al. 2022, "remove and debias") for a one-logit detector, with our targets.

Kept here because explain/ is the package's only importer of grad-cam; ``checks.faithfulness`` calls it."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import torch
from pytorch_grad_cam.metrics.road import ROADLeastRelevantFirstAverage, ROADMostRelevantFirstAverage
from torch import nn

from aigc_explain.explain.layers import frozen_eval
from aigc_explain.explain.methods import LogitTarget

ROAD_PERCENTILES = (20, 50, 80)  # grad-cam's default is 10..90; each one costs a sparse solve per image


def road_scores(model: nn.Module, x: torch.Tensor, maps01: np.ndarray, signs: torch.Tensor, *,
                percentiles: Sequence[int] = ROAD_PERCENTILES, batch_size: int = 32,
                seed: int = 0) -> dict[str, np.ndarray]:
    """grad-cam's ROAD per image: "morf" (most relevant first removed; lower is better), "lerf" (least
    relevant first; higher), "combined" = (lerf - morf) / 2. ``maps01``: (N, H, W) in [0, 1] without ties
    (grad-cam thresholds at percentiles, so tied values would remove more or fewer pixels than asked)."""
    morf_metric = ROADMostRelevantFirstAverage(percentiles=list(percentiles))
    lerf_metric = ROADLeastRelevantFirstAverage(percentiles=list(percentiles))
    targets = [LogitTarget(float(s)) for s in signs]
    maps01 = np.asarray(maps01, dtype=np.float32)
    morf, lerf = [], []
    with frozen_eval(model), torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        torch.manual_seed(seed)  # the imputer adds noise from torch's global generator (on the CPU)
        # grad-cam's imputer hands torch tensors to np.argwhere, which numpy 2 flags as deprecated
        warnings.filterwarnings("ignore", message=".*__array_wrap__", category=DeprecationWarning)
        for s in range(0, len(x), batch_size):
            sl = slice(s, s + batch_size)
            lerf.append(lerf_metric(x[sl], maps01[sl], targets[sl], model))  # ROADCombined's order
            morf.append(morf_metric(x[sl], maps01[sl], targets[sl], model))
    morf_a, lerf_a = np.concatenate(morf).astype(np.float64), np.concatenate(lerf).astype(np.float64)
    return {"morf": morf_a, "lerf": lerf_a, "combined": (lerf_a - morf_a) / 2}
