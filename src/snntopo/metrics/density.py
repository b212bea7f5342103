"""Layer-wise density, the baseline every analysis compares against."""

from __future__ import annotations

import numpy as np

from snntopo.metrics.layers import LayerSpec, as_layers
from snntopo.metrics.ramanujan import _to_numpy


def kept_and_total(layer: LayerSpec) -> tuple[int, int]:
    """(number of kept weights, number of weights); kept = mask True (or weight ≠ 0 without a mask)."""
    m = _to_numpy(layer.mask if layer.mask is not None else layer.weight)
    return int(np.count_nonzero(m)), int(m.size)


def layer_density(layer: LayerSpec) -> float:
    kept, total = kept_and_total(layer)
    return kept / total if total else float("nan")


def density_metrics(layers) -> dict[str, float]:
    """Per layer ``L{idx:02d}:density`` and the network's ``global`` density (kept / total weights)."""
    layers = as_layers(layers)
    counts = [kept_and_total(layer) for layer in layers]
    out = {f"L{i:02d}:density": (k / t if t else float("nan")) for i, (k, t) in enumerate(counts)}
    total = sum(t for _, t in counts)
    out["global"] = sum(k for k, _ in counts) / total if total else float("nan")
    return out
