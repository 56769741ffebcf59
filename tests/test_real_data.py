"""Checks on the real development data (CIFAKE subset in ../shared); skipped when it is absent."""

from pathlib import Path

import numpy as np
import torch


def test_cifake_layout_and_decoding(cifake):
    from aigc_explain.core.folders import class_counts, find_samples, split_folder
    from aigc_explain.core.images import read_image

    train = find_samples(split_folder(cifake, "train"), require_labels=True)
    val = find_samples(split_folder(cifake, "val"), require_labels=True)
    assert class_counts(train) == {"real": 3200, "fake": 3200}
    assert class_counts(val) == {"real": 800, "fake": 800}
    image = read_image(val[0].path)
    assert image.shape == (3, 32, 32) and image.dtype == torch.uint8


def test_cam_on_cifake_images(tmp_path: Path, cifake):
    """The whole CAM chain on real JPEGs: 16 validation images, a tiny random detector."""
    from aigc_explain.explain.folder import CamSettings, explain_folder
    from aigc_explain.core.models import build_detector

    torch.manual_seed(0)
    result = explain_folder(build_detector("resnet18", image_size=64), cifake / "val",
                            CamSettings(limit=16, layer="layer2"))
    assert len(result.paths) == 16 and set(result.labels.tolist()) == {0, 1}
    assert result.raw_maps.shape == (16, 8, 8) and np.isfinite(result.prob_fake).all()
