"""NPR (Tan et al., CVPR 2024, "Rethinking the Up-Sampling Operations in CNN-based Generative Network for
Generalizable Deepfake Detection"), as released in ``NPR.pth``: a flat state dict, loaded strictly.

The network sees the neighbouring-pixel relationships left by up-sampling: the residual ``x − up(down(x))``
(nearest neighbour, factor 2, on the ImageNet-normalised image) scaled by 2/3, through a ResNet-50 cut after
``layer2`` whose stem is a 3×3 stride-2 convolution, average-pooled into ``fc1 = Linear(512, 1)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from aigc_explain.core.images import IMAGENET_MEAN, IMAGENET_STD
from aigc_explain.core.zoo.layout import Layout, Release, State, shape

SCALE = 2.0 / 3.0  # the published factor on the residual
IMAGE_SIZE = 256  # their loadSize: test images are resized to it, not cropped


def stage(inplanes: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    """A torchvision ResNet stage of Bottlenecks (stride on the 3×3 conv), keys as torchvision names them."""
    from torchvision.models.resnet import Bottleneck, conv1x1

    out = planes * Bottleneck.expansion
    down = None
    if stride != 1 or inplanes != out:
        down = nn.Sequential(conv1x1(inplanes, out, stride), nn.BatchNorm2d(out))
    layers = [Bottleneck(inplanes, planes, stride, down)]
    layers += [Bottleneck(out, planes) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


def npr_residual(x: torch.Tensor) -> torch.Tensor:
    """``x − up(down(x))`` with nearest-neighbour resampling by 2; odd sides lose their last row/column first."""
    x = x[..., : x.shape[-2] // 2 * 2, : x.shape[-1] // 2 * 2]
    down = F.interpolate(x, scale_factor=0.5, mode="nearest", recompute_scale_factor=True)
    return x - F.interpolate(down, scale_factor=2.0, mode="nearest", recompute_scale_factor=True)


class NPRNet(nn.Module):
    def __init__(self, blocks: tuple[int, int] = (3, 4)) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = stage(64, 64, blocks[0], 1)
        self.layer2 = stage(256, 128, blocks[1], 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(512, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(npr_residual(x) * SCALE))))
        x = self.layer2(self.layer1(x))
        return self.fc1(torch.flatten(self.avgpool(x), 1))


def _match(state: State, release: Release) -> bool:
    return (shape(state, "conv1.weight") == (64, 3, 3, 3) and shape(state, "fc1.weight") == (1, 512)
            and not any(k.startswith(("layer3.", "layer4.")) for k in state))


def layout() -> Layout:
    return Layout(
        name="npr", paper="Tan et al., CVPR 2024 (NPR)", released="NPR.pth: flat state dict, fc1 [1, 512]",
        pipeline="resize 256 (their loadSize; no crop), ImageNet mean/std, then in the model (x − up(down(x))) × 2/3",
        image_size=IMAGE_SIZE, mean=IMAGENET_MEAN, std=IMAGENET_STD, match=_match, build=_build)


def _build(pretrained: bool) -> nn.Module:
    if pretrained:
        raise ValueError("npr has no separate pretrained backbone: its weights come from its checkpoint (NPR.pth)")
    return NPRNet()
