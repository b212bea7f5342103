"""Model registry and the helpers every stage uses to build and inspect models."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from snntopo.errors import InvalidValueError
from snntopo.registry import Registry

ModelBuilder = Callable[..., nn.Module]
MODELS: Registry[ModelBuilder] = Registry("model")


def register_model(name: str) -> Callable[[ModelBuilder], ModelBuilder]:
    """Register ``builder(input_shape, num_classes, **options) -> nn.Module`` under ``name``."""
    return MODELS.register(name)


def build_model(
    name: str, input_shape: Sequence[int] = (3, 32, 32), num_classes: int = 10, **options: object
) -> nn.Module:
    """Build a registered model for inputs of shape (C, H, W) and ``num_classes`` outputs.

    Weights are Kaiming-normal (fan_in, ReLU gain) and biases zero, drawn from torch's global RNG:
    use :func:`init_model` for a seeded, reproducible initialisation.
    """
    builder = MODELS.get(name)
    shape = _check_input_shape(input_shape)
    if int(num_classes) < 1:
        raise InvalidValueError("num_classes", num_classes, "a positive integer")
    model = builder(shape, int(num_classes), **options)
    kaiming_init(model)
    _check_forward(name, model, shape)
    return model


def init_model(
    name: str, input_shape: Sequence[int], num_classes: int, seed: int, **options: object
) -> nn.Module:
    """Build ``name`` with torch's RNG seeded by ``seed``: same seed ⇒ bitwise identical weights."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return build_model(name, input_shape, num_classes, **options)


def kaiming_init(model: nn.Module) -> None:
    """Kaiming-normal (fan_in, ReLU gain √2) for Conv2d/Linear weights, zero biases, BN at (1, 0)."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d | nn.Linear):
            nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d | nn.BatchNorm1d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


def prunable_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    """The weight of every Conv2d and Linear, keyed by parameter name, in module (forward) order.

    These are the parameters over which global sparsity is defined and masks are kept.
    """
    return {
        f"{name}.weight" if name else "weight": module.weight
        for name, module in model.named_modules()
        if isinstance(module, nn.Conv2d | nn.Linear)
    }


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _check_input_shape(input_shape: Sequence[int]) -> tuple[int, int, int]:
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise InvalidValueError("input_shape", input_shape, "(channels, height, width) with positive sizes")
    return shape  # type: ignore[return-value]


def _check_forward(name: str, model: nn.Module, shape: tuple[int, int, int]) -> None:
    """Fail at build time, naming the model and shape, when the input is too small for its downsampling."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, *shape))
    except RuntimeError as err:
        raise InvalidValueError(
            f"input_shape for model {name!r}", shape, f"an input large enough for its downsampling ({err})"
        ) from None
    finally:
        model.train(was_training)
