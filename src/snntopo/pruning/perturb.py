"""Two model-level settings shared by the sampling pruners: BatchNorm mode while scoring, weight noise.

* :func:`set_bn_mode` / :func:`lock_bn_eval`: the NeurIPS'23 and ICLR'23 reference code puts the whole
  network in eval mode before a pruner scores it (BatchNorm then normalises with its running statistics,
  at initialisation mean 0 and variance 1), whereas the MGE pruners score in training mode. A pruner whose
  code calls ``model.train()`` itself can be made to score in eval mode by :func:`lock_bn_eval`, which
  makes the BatchNorm layers of a model ignore later mode switches.
* :func:`add_init_noise`: Gaussian noise of ``scale`` × the initialisation's standard deviation added to
  every prunable weight, as the NeurIPS'23 sampling adds to the weights iterSNIP and SynFlow prune (to
  draw different masks from a deterministic criterion). The initialisation of this project is
  Kaiming-normal with fan_in (:func:`snntopo.models.kaiming_init`): std √(2 / fan_in) per layer.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from snntopo.errors import InvalidValueError
from snntopo.models import prunable_parameters
from snntopo.registry import Registry

BN_MODES: Registry[bool] = Registry("BatchNorm mode")  # name → training flag of the BN layers
BN_MODES.register("train")(True)
BN_MODES.register("eval")(False)
_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def set_bn_mode(model: nn.Module, mode: str) -> nn.Module:
    """``model.train()`` or ``model.eval()`` for ``mode`` ``"train"`` / ``"eval"`` (every module)."""
    return model.train(BN_MODES.get(mode))


class _EvalLocked:
    """Mixin placed in front of a BatchNorm class: ``train(mode)`` leaves the layer in eval mode."""

    def train(self, mode: bool = True):  # type: ignore[no-untyped-def]
        super().train(False)  # type: ignore[misc]
        return self


_LOCKED: dict[type, type] = {}


def lock_bn_eval(model: nn.Module) -> nn.Module:
    """Make every BatchNorm layer of ``model`` (in place) stay in eval mode whatever ``train()`` says.

    The layers' class is swapped for a subclass whose ``train`` ignores its argument, so the lock survives
    ``copy.deepcopy`` and the ``model.train()`` calls inside pruners. Returns ``model``.
    """
    for module in model.modules():
        cls = type(module)
        if isinstance(module, _BN) and not issubclass(cls, _EvalLocked):
            if cls not in _LOCKED:
                _LOCKED[cls] = type(f"EvalLocked{cls.__name__}", (_EvalLocked, cls), {})
            module.__class__ = _LOCKED[cls]
            module.train(False)
    return model


def init_std(weight: torch.Tensor) -> float:
    """Standard deviation of this project's initialisation of ``weight``: Kaiming-normal, √(2 / fan_in)."""
    fan_in = weight[0].numel() if weight.dim() > 1 else 1
    return math.sqrt(2.0 / fan_in)


def add_init_noise(model: nn.Module, scale: float, seed: int) -> None:
    """Add N(0, (``scale`` · init std)²) noise to every prunable weight of ``model`` in place (seeded)."""
    scale = check_noise(scale, "noise")
    if scale == 0:
        return
    gen = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for w in prunable_parameters(model).values():
            noise = torch.randn(w.shape, generator=gen, dtype=w.dtype) * (scale * init_std(w))
            w.add_(noise.to(w.device))


def check_noise(value: object, what: str) -> float:
    """A finite number ≥ 0, else InvalidValueError naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise InvalidValueError(what, value, "a number >= 0 (times the initialisation's std)")
    return float(value)
