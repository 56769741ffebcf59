"""CAM maps between resolutions: upsampling a layer's raw map to input size (what region masses and mean
maps are made of), and the warning when a map is too coarse to tell corners from content."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from aigc_explain.explain.layers import AUTO_MIN_SIDE


def upsample(raw: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(N, h, w) maps upsampled bilinearly (half-pixel centres, like cv2/grad-cam) to ``size``, in float64."""
    t = torch.from_numpy(np.asarray(raw)).unsqueeze(1).double()
    if tuple(t.shape[-2:]) != tuple(size):
        t = F.interpolate(t, size=tuple(size), mode="bilinear", align_corners=False)
    return t[:, 0].numpy()


def upsample_positive(raw: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """ReLU of the raw map, upsampled to input size: what region masses and mean maps are made of."""
    return upsample(np.maximum(raw, 0), size)


# A corner square must span at least this many map cells: a side of AUTO_MIN_SIDE cells with the default corner
# fraction (0.25), the rule --layer auto follows.
MIN_CORNER_CELLS = AUTO_MIN_SIDE * 0.25


def resolution_warning(map_size: tuple[int, int], corner_frac: float, layer: str) -> str | None:
    cells = corner_frac * min(map_size)
    if cells >= MIN_CORNER_CELLS:
        return None
    return (f"the CAM of layer {layer} is only {map_size[0]}x{map_size[1]}: a corner square spans {cells:.2g} map "
            f"cells, too coarse to separate corners from content; try an earlier layer (--list-layers)")
