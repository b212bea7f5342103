"""Bipartite graph encodings (BGEs) of single layers, docs/method/encodings.md.

Each BGE is a directed graph-tool graph with left nodes ``[0, n_left)`` (inputs) and right nodes after
(outputs); ``vp['side']`` is 0/1, ``ep['weight']`` holds float32 values, ``gp['layer_name']`` and
``gp['n_left']`` describe it. ``vp['channel']``/``vp['position']`` say which input channel and kernel
position (rolled), channel (rolled-channel) or channel and y·W + x pixel (unrolled) a node stands for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import graph_tool as gt
import numpy as np
import torch
from torch import nn

from snntopo.encoding.geometry import Grid
from snntopo.encoding.mge import (
    ConvBlock,
    LinearBlock,
    Partition,
    Source,
    _set_gp,
    assemble,
    check_options,
    plan_mge,
)
from snntopo.encoding.trace import LayerSpec, trace_layers
from snntopo.encoding.weights import Kept, kept_weights
from snntopo.errors import InvalidValueError
from snntopo.models.registry import prunable_parameters


def _bipartite(
    n_left: int, n_right: int, src: np.ndarray, dst: np.ndarray, weight: np.ndarray,
    channel: np.ndarray, position: np.ndarray, name: str, encoding: str,
) -> gt.Graph:  # fmt: skip
    g = gt.Graph(directed=True)
    g.add_vertex(n_left + n_right)
    g.add_edge_list(np.column_stack([src, dst + n_left]).astype(np.int64))
    g.ep["weight"] = g.new_ep("double", vals=weight)
    side = np.zeros(n_left + n_right, dtype=np.uint8)
    side[n_left:] = 1
    g.vp["side"] = g.new_vp("bool", vals=side)  # graph-tool stores bool maps as one byte (0/1)
    g.vp["channel"] = g.new_vp("int32_t", vals=channel)
    g.vp["position"] = g.new_vp("int32_t", vals=position)
    _finish(g, name, n_left, encoding)
    return g


def _finish(g: gt.Graph, name: str, n_left: int, encoding: str) -> None:
    _set_gp(g, "layer_name", "string", name)
    _set_gp(g, "n_left", "int64_t", int(n_left))
    _set_gp(g, "encoding", "string", encoding)


def rolled_bge(kept: Kept, name: str = "") -> gt.Graph:
    """Rolled BGE (§1.1): left = (C_in/groups)·k_h·k_w kernel inputs (or in_features), right = C_out.

    Column ``f = c·k_h·k_w + r·k_w + u`` of the weight reshaped to (C_out, −1); one edge ``f → o`` per
    non-zero weight, weight ``|w|``. Groups are ignored as in the published code (a depthwise kernel gives
    k_h·k_w left nodes).
    """
    c_out = kept.shape[0]
    n_left = int(np.prod(kept.shape[1:]))
    o, f = np.divmod(kept.flat, n_left)
    taps = int(np.prod(kept.shape[2:])) if len(kept.shape) == 4 else 1
    left = np.arange(n_left)
    channel = np.concatenate([left // taps, np.arange(c_out)])
    kernel_pos = left % taps if len(kept.shape) == 4 else np.full(n_left, -1)
    position = np.concatenate([kernel_pos, np.full(c_out, -1)])
    return _bipartite(n_left, c_out, f, o, kept.value, channel, position, name, "rolled")


def rolled_channel_bge(kept: Kept, groups: int = 1, name: str = "") -> gt.Graph:
    """Rolled-channel BGE (§1.2): left = C_in, right = C_out; edge ``c → o`` iff the kernel slice
    ``W[o, c]`` has a non-zero entry, weight = Frobenius norm of the masked slice.

    Grouped convs connect ``o`` only to the channels of its group (depthwise: ``j → j``), which extends
    the published code (depthwise only). Linear layers are neuron-to-neuron as in the rolled BGE.
    """
    if len(kept.shape) != 4:
        return _relabel(rolled_bge(kept, name), "rolled_channel")
    c_out, c_in_g = kept.shape[:2]
    o, c, _, _ = kept.unravel()
    slice_id = o * c_in_g + c
    sumsq = np.bincount(slice_id, weights=kept.value.astype(np.float64) ** 2, minlength=c_out * c_in_g)
    ids = np.flatnonzero(np.bincount(slice_id, minlength=c_out * c_in_g))
    so, sc = np.divmod(ids, c_in_g)
    cg = (so // (c_out // groups)) * c_in_g + sc
    c_in = c_in_g * groups
    norm = np.sqrt(sumsq[ids]).astype(np.float32)
    channel = np.concatenate([np.arange(c_in), np.arange(c_out)])
    return _bipartite(c_in, c_out, cg, so, norm, channel, np.full(c_in + c_out, -1), name, "rolled_channel")


def _relabel(g: gt.Graph, encoding: str) -> gt.Graph:
    g.gp["encoding"] = encoding
    return g


def unrolled_bge(spec: LayerSpec, kept: Kept, compat: str | None = None, shortcut: bool = False) -> gt.Graph:
    """Unrolled, input-aware BGE of one layer (§1.3): left = input pixels, right = output pixels.

    Correct mode: left = C_in·H·W real pixels, no edges from zero padding. ``compat='released'``: left
    = C_in·P·P padded (and cropped) grid, padding nodes included, as the published per-layer graphs —
    except for residual ``shortcut`` convs, which that code built on the uncropped block input.
    Linear layers: in_features → out_features.
    """
    mode = check_options("compose", False, compat)
    kept_map = {spec.param_name or "": kept}
    if spec.kind == "linear":
        parts = [Partition("in", spec.in_shape, -1), Partition("out", spec.out_shape, spec.layer_index)]
        block: ConvBlock | LinearBlock = LinearBlock(spec, Source(0), 1)
    else:
        grid = Grid.true(spec)
        left: tuple[int, ...] = spec.in_shape
        if mode == "released" and not shortcut:
            ph, pw = Grid.padded_size(spec)
            grid, left = Grid(ph, pw, (0, 0)), (spec.in_shape[0], ph, pw)
        parts = [Partition("in", left, -1), Partition("out", spec.out_shape, spec.layer_index)]
        block = ConvBlock(spec, Source(0), 1, grid)
    g = assemble(parts, [block], kept_map)
    side = g.new_vp("bool")
    side.a = g.vp["partition"].a
    g.vp["side"] = side
    del g.vp["partition"], g.ep["layer"], g.gp["partition_names"], g.gp["partition_layers"]
    _finish(g, spec.name, parts[0].size, "unrolled")
    return g


def _select(names: Sequence[str], layers: Sequence[str] | None) -> list[str]:
    if layers is None:
        return list(names)
    unknown = [n for n in layers if n not in names]
    if unknown:
        raise InvalidValueError("layers", unknown, f"conv/linear module names: {', '.join(names)}")
    return [n for n in names if n in set(layers)]


def _modules(model: nn.Module) -> dict[str, nn.Module]:
    return {p.rsplit(".", 1)[0]: m for p, m in zip(prunable_parameters(model), _weighted_modules(model),
                                                    strict=True)}  # fmt: skip


def _weighted_modules(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]


def encode_rolled(
    model: nn.Module, masks: Mapping[str, torch.Tensor] | None, input_shape: Sequence[int] | None = None,
    *, layers: Sequence[str] | None = None,
) -> dict[str, gt.Graph]:  # fmt: skip
    """Rolled BGE of every conv/linear layer (module name → graph, module order). No input shape needed."""
    kept = kept_weights(model, masks)
    mods = _modules(model)
    return {n: rolled_bge(kept[f"{n}.weight"], n) for n in _select(list(mods), layers)}


def encode_rolled_channel(
    model: nn.Module, masks: Mapping[str, torch.Tensor] | None, input_shape: Sequence[int] | None = None,
    *, layers: Sequence[str] | None = None,
) -> dict[str, gt.Graph]:  # fmt: skip
    """Rolled-channel BGE of every conv/linear layer (module name → graph, module order)."""
    kept = kept_weights(model, masks)
    mods = _modules(model)
    return {
        n: rolled_channel_bge(kept[f"{n}.weight"], getattr(mods[n], "groups", 1), n)
        for n in _select(list(mods), layers)
    }


def encode_unrolled(
    model: nn.Module, masks: Mapping[str, torch.Tensor] | None, input_shape: Sequence[int],
    *, layers: Sequence[str] | None = None, compat: str | None = None,
) -> dict[str, gt.Graph]:  # fmt: skip
    """Unrolled BGE of every conv/linear layer, input-aware (shapes traced for ``input_shape``)."""
    lg = trace_layers(model, input_shape)
    kept = kept_weights(model, masks)
    by_name = {s.name: s for s in lg.weighted()}
    names = [n for n in lg.layer_names if n in by_name]
    # shortcut convs = layers merged into a residual sum (no MGE partition of their own), found structurally
    with_partition = {p.layer for p in plan_mge(lg).partitions}
    return {
        n: unrolled_bge(by_name[n], kept[f"{n}.weight"], compat, by_name[n].layer_index not in with_partition)
        for n in _select(names, layers)
    }


BGE_ENCODERS: dict[str, Callable[..., Any]] = {
    "rolled": encode_rolled,
    "rolled_channel": encode_rolled_channel,
    "unrolled": encode_unrolled,
}
