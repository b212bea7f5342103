"""Graph encodings of sparse CNNs (docs/method/encodings.md): the end-to-end MGE and per-layer BGEs.

``encode(name, model, masks, input_shape, **options)`` is the front door; ``ENCODINGS.names()`` lists
``mge`` (one graph-tool graph) and ``rolled``, ``rolled_channel``, ``unrolled`` (module name → graph).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from snntopo.encoding.bge import (
    encode_rolled,
    encode_rolled_channel,
    encode_unrolled,
    rolled_bge,
    rolled_channel_bge,
    unrolled_bge,
)
from snntopo.encoding.io import load_graph, save_graph
from snntopo.encoding.mge import (
    MGESize,
    encode_mge,
    estimate_mge_size,
    mge_partition_sizes,
    plan_mge,
)
from snntopo.encoding.trace import LayerGraph, LayerSpec, trace_layers
from snntopo.encoding.weights import Kept, kept_weights
from snntopo.registry import Registry

ENCODINGS: Registry[Callable[..., Any]] = Registry("graph encoding")
ENCODINGS.register("mge")(encode_mge)
ENCODINGS.register("rolled")(encode_rolled)
ENCODINGS.register("rolled_channel")(encode_rolled_channel)
ENCODINGS.register("unrolled")(encode_unrolled)


def encode(
    name: str,
    model: nn.Module,
    masks: Mapping[str, torch.Tensor] | None,
    input_shape: Sequence[int],
    **options: Any,
) -> Any:
    """Encode ``model`` (weights ``|w ⊙ m|``) with the registered encoding ``name``.

    ``mge`` returns one graph (options ``pooling``, ``identity_shortcuts``, ``compat``,
    ``max_memory_gb``, ``reserve_metrics``); the BGE encodings return ``{module name: graph}`` (option
    ``layers``; ``unrolled`` also takes ``compat``).
    """
    return ENCODINGS.get(name)(model, masks, input_shape, **options)


__all__ = [
    "ENCODINGS",
    "Kept",
    "LayerGraph",
    "LayerSpec",
    "MGESize",
    "encode",
    "encode_mge",
    "encode_rolled",
    "encode_rolled_channel",
    "encode_unrolled",
    "estimate_mge_size",
    "kept_weights",
    "load_graph",
    "mge_partition_sizes",
    "plan_mge",
    "rolled_bge",
    "rolled_channel_bge",
    "save_graph",
    "trace_layers",
    "unrolled_bge",
]
