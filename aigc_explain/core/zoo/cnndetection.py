"""CNNDetection (Wang et al., CVPR 2020, "CNN-generated images are surprisingly easy to spot... for now"): a
torchvision ResNet-50 with ``fc = Linear(2048, 1)``, released as ``blur_jpg_prob{0.1,0.5}.pth`` =
``{'model': state_dict, 'optimizer': ..., 'total_steps': N}`` (what its trainer saves).

Preprocessing: their ``demo.py`` feeds the whole image (no resize, no crop); their ``eval.py`` does not resize
either but centre-crops 224. We follow the demo at 256 px (their test images are 256×256, so the resize is a
no-op there); a centre crop is never applied here, since the corners must survive (crop the files beforehand to
reproduce ``eval.py``). ``--arch resnet50`` reads the same file at 224 px (resized), as before.
"""

from __future__ import annotations

from torch import nn

from aigc_explain.core.images import IMAGENET_MEAN, IMAGENET_STD
from aigc_explain.core.zoo.corvi import resnet50_one_logit
from aigc_explain.core.zoo.layout import Layout, Release, State


IMAGE_SIZE = 256  # their test images' side: the resize is a no-op there


def _match(state: State, release: Release) -> bool:
    return {"model", "total_steps"} <= release.top_keys and resnet50_one_logit(state)


def _build(pretrained: bool) -> nn.Module:
    import torchvision

    if pretrained:
        raise ValueError("cnndetection's weights come from its checkpoint; for ImageNet weights use --arch resnet50")
    model = torchvision.models.resnet50(weights=None)
    model.fc = nn.Linear(2048, 1)
    return model


def layout() -> Layout:
    return Layout(
        name="cnndetection", paper="Wang et al., CVPR 2020 (CNNDetection)",
        released="blur_jpg_prob0.5.pth: {'model', 'optimizer', 'total_steps'}, fc [1, 2048]",
        pipeline="resize 256 (no-op on their 256-px test images; their demo: whole image), ImageNet mean/std, no crop",
        image_size=IMAGE_SIZE, mean=IMAGENET_MEAN, std=IMAGENET_STD, match=_match, build=_build)
