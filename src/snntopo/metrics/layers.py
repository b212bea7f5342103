"""Per-layer inputs of the metrics stage: ``(name, weight, mask)`` triples, no graph needed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from snntopo.errors import InvalidValueError


@dataclass(frozen=True)
class LayerSpec:
    """One prunable layer: its weight tensor, its mask (None: the weight is already masked), the conv
    ``groups`` (only the rolled-channel encoding of a depthwise conv needs it) and, optionally, the weight at
    initialisation (for distances from init)."""

    name: str
    weight: Any
    mask: Any = None
    groups: int = 1
    init_weight: Any = None


def as_layers(layers: Iterable | Mapping) -> list[LayerSpec]:
    """Normalise layers given as LayerSpec, ``(name, weight, mask[, groups])`` tuples or a mapping
    ``name -> (weight, mask)`` (mapping order = module order)."""
    items = layers.items() if isinstance(layers, Mapping) else layers
    out: list[LayerSpec] = []
    for item in items:
        if isinstance(item, LayerSpec):
            out.append(item)
            continue
        if isinstance(layers, Mapping):
            name, value = item
            item = (name, *(value if isinstance(value, tuple | list) else (value,)))
        if not isinstance(item, tuple | list) or not 2 <= len(item) <= 5:
            raise InvalidValueError(
                "layer", type(item).__name__, "LayerSpec or (name, weight, mask[, groups])"
            )
        out.append(LayerSpec(*item))
    return out


def layers_from_model(
    model, masks: Mapping[str, Any] | None = None, init_state: Mapping[str, Any] | None = None
) -> list[LayerSpec]:
    """The ``weight`` of every ``nn.Conv2d`` / ``nn.Linear`` of ``model`` in module order, keyed by parameter
    name (``"layer1.0.conv1.weight"``), with its mask and initial weight from the given mappings."""
    from torch import nn

    masks = masks or {}
    init_state = init_state or {}
    out = []
    for mod_name, module in model.named_modules():
        if isinstance(module, nn.Conv2d | nn.Linear):
            key = f"{mod_name}.weight" if mod_name else "weight"
            out.append(
                LayerSpec(
                    key,
                    module.weight.detach(),
                    masks.get(key),
                    int(getattr(module, "groups", 1)),
                    init_state.get(key),
                )
            )
    return out
