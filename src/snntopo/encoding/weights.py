"""The weights an encoding sees: |w ⊙ m| of every prunable layer, kept entries only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from snntopo.errors import InvalidValueError
from snntopo.models.registry import prunable_parameters


@dataclass(frozen=True)
class Kept:
    """Non-zero entries of one masked weight: flat (row-major) indices and absolute values (float32)."""

    shape: tuple[int, ...]
    flat: np.ndarray
    value: np.ndarray

    def unravel(self) -> tuple[np.ndarray, ...]:
        return np.unravel_index(self.flat, self.shape)

    def __len__(self) -> int:
        return len(self.flat)


def kept_weights(model: nn.Module, masks: Mapping[str, torch.Tensor] | None) -> dict[str, Kept]:
    """|w ⊙ m| of every prunable weight, keyed by parameter name; an edge exists iff this is non-zero.

    The model's current weights are used (the caller decides between initial and trained weights).
    ``masks=None`` or a missing key means "keep every weight"; unknown keys or wrong shapes raise. Masks of
    Conv2d/Linear biases (pruners that prune biases) are accepted and not encoded: a bias is no edge.
    """
    params = prunable_parameters(model)
    masks = {n: m for n, m in (masks or {}).items() if n not in _layer_biases(model)}
    unknown = sorted(set(masks) - set(params))
    if unknown:
        accepted = "prunable parameters of the model (or Conv2d/Linear biases): " + ", ".join(params)
        raise InvalidValueError("mask names", unknown, accepted)
    out = {}
    for name, param in params.items():
        a = np.abs(param.detach().cpu().float().numpy()).reshape(-1)
        if name in masks:
            m = masks[name]
            if tuple(m.shape) != tuple(param.shape):
                raise InvalidValueError(f"mask shape for {name}", tuple(m.shape), f"{tuple(param.shape)}")
            a = a * m.detach().cpu().to(torch.bool).numpy().reshape(-1)
        flat = np.flatnonzero(a)
        out[name] = Kept(tuple(param.shape), flat.astype(np.int64), a[flat].astype(np.float32))
    return out


def _layer_biases(model: nn.Module) -> set[str]:
    """Names of the Conv2d/Linear biases (a mask may cover them; they are not edges)."""
    return {
        f"{name}.bias" if name else "bias"
        for name, module in model.named_modules()
        if isinstance(module, nn.Conv2d | nn.Linear) and module.bias is not None
    }
