"""CONV-6 (Frankle & Carbin 2019) as in the MGE study: conv/linear with bias, BN after each layer."""

from __future__ import annotations

import torch
from torch import nn

from snntopo.models.registry import register_model


def _conv_bn(in_ch: int, out_ch: int) -> list[nn.Module]:
    return [nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=True), nn.BatchNorm2d(out_ch), nn.ReLU()]


class Conv6(nn.Module):
    """conv 64,64,pool,128,128,pool,256,256,pool; FC (256·H/8·W/8)→256→256→classes."""

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int, width: int = 64):
        super().__init__()
        c, h, w = input_shape
        w1, w2, w3 = width, 2 * width, 4 * width
        self.features = nn.Sequential(
            *_conv_bn(c, w1), *_conv_bn(w1, w1), nn.MaxPool2d(2),
            *_conv_bn(w1, w2), *_conv_bn(w2, w2), nn.MaxPool2d(2),
            *_conv_bn(w2, w3), *_conv_bn(w3, w3), nn.MaxPool2d(2),
        )  # fmt: skip
        flat = w3 * (h // 8) * (w // 8)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flat, 256), nn.BatchNorm1d(256), nn.ReLU(),
            nn.Linear(256, 256), nn.BatchNorm1d(256), nn.ReLU(),
            nn.Linear(256, num_classes),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@register_model("conv6")
def conv6(input_shape: tuple[int, int, int], num_classes: int, width: int = 64) -> nn.Module:
    if input_shape[1] < 8 or input_shape[2] < 8:
        raise ValueError("CONV-6 pools three times by 2 and needs inputs of at least 8×8")
    return Conv6(input_shape, num_classes, width=int(width))
