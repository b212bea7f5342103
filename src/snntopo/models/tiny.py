"""Tiny models for fast tests and smoke runs; they follow the same conventions as the study's models."""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn

from snntopo.models.registry import register_model


@register_model("mlp")
def mlp(input_shape: tuple[int, int, int], num_classes: int, hidden: tuple[int, ...] = (32,)) -> nn.Module:
    """Flatten → (Linear → ReLU) × len(hidden) → Linear."""
    widths = [math.prod(input_shape), *(int(h) for h in hidden)]
    layers: list[nn.Module] = [nn.Flatten()]
    for a, b in itertools.pairwise(widths):
        layers += [nn.Linear(a, b), nn.ReLU()]
    layers.append(nn.Linear(widths[-1], num_classes))
    return nn.Sequential(*layers)


class TinyCNN(nn.Module):
    """conv(8) → pool → stride-2 conv(16) with a 1×1 stride-2 shortcut → global pool → linear."""

    def __init__(self, in_channels: int, num_classes: int, width: int = 8):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(2 * width)
        self.conv3 = nn.Conv2d(2 * width, 2 * width, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(2 * width)
        self.shortcut = nn.Sequential(nn.Conv2d(width, 2 * width, 1, stride=2, bias=False),
                                      nn.BatchNorm2d(2 * width))  # fmt: skip
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.linear = nn.Linear(2 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.relu(self.bn1(self.conv1(x))))
        out = self.relu(self.bn2(self.conv2(x)))
        out = self.relu(self.bn3(self.conv3(out)) + self.shortcut(x))
        return self.linear(self.flatten(self.pool(out)))


@register_model("cnn")
def cnn(input_shape: tuple[int, int, int], num_classes: int, width: int = 8) -> nn.Module:
    return TinyCNN(input_shape[0], num_classes, width=int(width))
