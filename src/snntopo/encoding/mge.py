"""Multipartite graph encoding (MGE) of a whole CNN, docs/method/encodings.md, built with vectorised index
arithmetic.

Partition 0 is the input; every Conv2d/Linear that is not merged into a residual sum adds one partition
holding its output (``C·H·W`` or ``out_features`` nodes, numbered channel-major, then row, then column).
Edges of a layer join the partition its input lives in to its output partition:

* conv: one edge per kept weight ``(o, c, r, u)`` and per output position whose tap is a real input pixel
  (zero padding is not a node), weight ``|w|``;
* pooling (``pooling='compose'``, the study's choice): pooled tensors are not materialised; an edge that
  starts at a pooled element is replaced by edges from every pixel of its window (max = avg, unscaled);
  global average pooling before a Linear thus connects all ``H·W`` pixels of channel ``c`` to its units;
* residual sums: the operand with the longest path from the input (the main path, e.g. ``conv2``) gives
  the sum its partition; a conv/linear whose output only feeds the sum as another operand (a 1×1
  shortcut) sends its edges from its own input partition straight into that partition (``i → i+2`` in
  ResNet/WRN blocks); identity skips add nothing unless ``identity_shortcuts=True`` (weight-1 edges).

``compat='released'`` reproduces the published code's node layout (docs/method/encodings.md): the input
partition is the padded (and cropped) input of the first conv, padding nodes included, and every later
non-shortcut conv uses the published padding mask (``P − 2p`` interior), which mis-maps pixels and shifts
the output nodes of cropped, padded stride-2 convs. Shortcut convs map correctly there, as in that code.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import graph_tool as gt
import numpy as np
import torch
from torch import nn

from snntopo.encoding.geometry import Grid, Relation, conv_taps, pool_relation
from snntopo.encoding.trace import LayerGraph, LayerSpec, trace_layers
from snntopo.encoding.weights import Kept, kept_weights
from snntopo.errors import GraphTooLargeError, InvalidValueError
from snntopo.mge_budget import (
    CHUNK_EDGES,
    graph_bytes,
    metric_bytes,
)

# The memory model of the built graph and of the topometrics computed on it lives in snntopo.mge_budget
# (shared with the measure_mge rule's mem_mb). CHUNK_EDGES bounds the temporary index arrays (~32 MB) per
# add_edge_list call whatever the graph.

POOLING_MODES = ("compose", "nodes")
COMPAT_MODES = ("none", "released")


@dataclass(frozen=True)
class Partition:
    """One node layer: ``shape`` is (C, H, W) or (F,); ``layer`` the prunable-layer index or -1."""

    name: str
    shape: tuple[int, ...]
    layer: int

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class Source:
    """Where a traced tensor's elements live: element ``e`` is node ``e`` of ``partition``, or, through a
    pooling ``relation``, the nodes ``relation[e]`` of it."""

    partition: int
    relation: Relation | None = None

    def counts(self, n: int) -> np.ndarray:
        return np.ones(n, dtype=np.int64) if self.relation is None else self.relation.counts


@dataclass
class Chunk:
    """A slice of the edge list, generated lazily twice: once for the endpoints, once for the values."""

    n: int
    layer: int
    fill_edges: Callable[[np.ndarray, np.ndarray], None]  # (out (n, 2) int64, partition starts)
    fill_weights: Callable[[np.ndarray], None]  # out (n,) float64


class Block(Protocol):
    layer: int

    def row_counts(self, kept: Mapping[str, Kept]) -> Iterable[Any]: ...

    def count(self, kept: Mapping[str, Kept]) -> int: ...

    def chunks(self, kept: Mapping[str, Kept]) -> Iterator[Chunk]: ...


def _pieces(rows: np.ndarray) -> list[tuple[int, int]]:
    """Split consecutive rows with ``rows`` edges each into runs of about CHUNK_EDGES edges."""
    if len(rows) == 0:
        return []
    piece = (np.cumsum(rows) - rows) // CHUNK_EDGES
    cuts = np.flatnonzero(np.diff(piece)) + 1
    bounds = [0, *cuts.tolist(), len(rows)]
    return list(itertools.pairwise(bounds))


@dataclass
class ConvBlock:
    """Edges of one Conv2d from ``src`` into partition ``dst`` (targets moved by ``-shift``: compat quirk)."""

    spec: LayerSpec
    src: Source
    dst: int
    grid: Grid
    shift: int = 0
    layer: int = field(init=False)
    _rows: tuple[Mapping[str, Kept], list[Any]] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.layer = self.spec.layer_index

    def row_counts(self, kept: Mapping[str, Kept]) -> list[tuple[Any, ...]]:
        """Per kernel position: taps, kept (o, input channel, |w|) and edges per kept weight.

        Memoised per ``kept``: the size estimate and the edge generation of one build both need them.
        """
        if self._rows is None or self._rows[0] is not kept:
            self._rows = (kept, list(self._row_counts(kept)))
        return self._rows[1]

    def _row_counts(self, kept: Mapping[str, Kept]) -> Iterator[tuple[Any, ...]]:
        k = kept[self.spec.param_name or ""]
        o, c, r, u = k.unravel()
        c_out, c_in_g = k.shape[0], k.shape[1]
        cg = (o // (c_out // self.spec.groups)) * c_in_g + c  # input channel in the whole tensor
        kw = self.spec.kernel[1]
        key = r * kw + u
        order = np.argsort(key, kind="stable")
        bounds = np.searchsorted(key[order], np.arange(self.spec.kernel[0] * kw + 1))
        c_in = self.spec.in_shape[0]
        plane = self.grid.h * self.grid.w
        counts = None if self.src.relation is None else self.src.relation.counts
        for t in conv_taps(self.spec, self.grid):
            sel = order[bounds[t.r * kw + t.u] : bounds[t.r * kw + t.u + 1]]
            if len(sel) == 0 or len(t.in_off) == 0:
                continue
            if counts is None:
                per_channel = np.full(c_in, len(t.in_off), dtype=np.int64)
            else:  # pooled input: each tap reads a whole window
                rows = np.arange(c_in, dtype=np.int64)[:, None] * plane + t.in_off[None, :]
                per_channel = counts[rows].sum(axis=1)
            yield t, o[sel], cg[sel], k.value[sel], per_channel[cg[sel]]

    def count(self, kept: Mapping[str, Kept]) -> int:
        return int(sum(int(rows.sum()) for *_, rows in self.row_counts(kept)))

    def chunks(self, kept: Mapping[str, Kept]) -> Iterator[Chunk]:
        _, ho, wo = self.spec.out_shape
        plane = self.grid.h * self.grid.w
        rel = self.src.relation
        for taps, o, cg, val, rows in self.row_counts(kept):
            for a, b in _pieces(rows):
                yield Chunk(
                    int(rows[a:b].sum()), self.layer,
                    _conv_edges(taps.in_off, taps.out_off, cg[a:b] * plane, o[a:b] * (ho * wo), rel,
                                self.src.partition, self.dst, self.shift),
                    _repeat_values(val[a:b], rows[a:b]),
                )  # fmt: skip


def _conv_edges(
    in_off: np.ndarray, out_off: np.ndarray, src_base: np.ndarray, dst_base: np.ndarray,
    rel: Relation | None, src_part: int, dst_part: int, shift: int,
) -> Callable[[np.ndarray, np.ndarray], None]:  # fmt: skip
    """Edges (input channel base + tap offset → output channel base + position) of some kept weights."""

    def fill(out: np.ndarray, starts: np.ndarray) -> None:
        m, npos = len(src_base), len(in_off)
        s0, d0 = int(starts[src_part]), int(starts[dst_part]) - shift
        if rel is None or rel.width is not None:
            w = 1 if rel is None else rel.width
            view = out.reshape(m, npos, w, 2)
            src = src_base[:, None] + in_off[None, :]
            if rel is None:
                np.add(src[:, :, None], s0, out=view[..., 0])
            else:
                np.add(rel.indices.reshape(-1, w)[src], s0, out=view[..., 0])
            view[..., 1] = (dst_base[:, None] + (out_off + d0)[None, :])[:, :, None]
        else:
            nodes, counts = rel.expand((src_base[:, None] + in_off[None, :]).reshape(-1))
            np.add(nodes, s0, out=out[:, 0])
            out[:, 1] = np.repeat((dst_base[:, None] + (out_off + d0)[None, :]).reshape(-1), counts)

    return fill


def _repeat_values(val: np.ndarray, rows: np.ndarray) -> Callable[[np.ndarray], None]:
    def fill(out: np.ndarray) -> None:
        if len(val) and (rows == rows[0]).all():
            out.reshape(len(val), -1)[:] = val[:, None]
        else:
            out[:] = np.repeat(val, rows)

    return fill


@dataclass
class LinearBlock:
    """Edges of one Linear from ``src`` (flat features, possibly pooled windows) into partition ``dst``."""

    spec: LayerSpec
    src: Source
    dst: int
    layer: int = field(init=False)

    def __post_init__(self) -> None:
        self.layer = self.spec.layer_index

    def row_counts(self, kept: Mapping[str, Kept]) -> list[tuple[Any, ...]]:
        k = kept[self.spec.param_name or ""]
        o, f = k.unravel()
        return [(o, f, k.value, self.src.counts(self.spec.in_shape[0])[f])]

    def count(self, kept: Mapping[str, Kept]) -> int:
        return int(sum(int(rows.sum()) for *_, rows in self.row_counts(kept)))

    def chunks(self, kept: Mapping[str, Kept]) -> Iterator[Chunk]:
        for o, f, val, rows in self.row_counts(kept):
            for a, b in _pieces(rows):
                yield Chunk(
                    int(rows[a:b].sum()), self.layer,
                    _gather_edges(f[a:b], o[a:b], self.src, self.dst), _repeat_values(val[a:b], rows[a:b]),
                )  # fmt: skip


def _gather_edges(
    src_elem: np.ndarray, dst_elem: np.ndarray, src: Source, dst_part: int
) -> Callable[[np.ndarray, np.ndarray], None]:
    """Edges src_elem[i] → dst_elem[i], each source element expanded through ``src.relation``."""

    def fill(out: np.ndarray, starts: np.ndarray) -> None:
        s0, d0 = int(starts[src.partition]), int(starts[dst_part])
        if src.relation is None:
            np.add(src_elem, s0, out=out[:, 0])
            np.add(dst_elem, d0, out=out[:, 1])
        else:
            nodes, counts = src.relation.expand(src_elem)
            np.add(nodes, s0, out=out[:, 0])
            out[:, 1] = np.repeat(dst_elem + d0, counts)

    return fill


@dataclass
class RelationBlock:
    """Weight-1 edges into every node ``e`` of partition ``dst`` from ``src`` element ``e`` (pool nodes,
    identity shortcuts); ``layer`` is -1 because no weight produced them."""

    src: Source
    dst: int
    n: int
    layer: int = -1

    def row_counts(self, kept: Mapping[str, Kept]) -> Iterator[np.ndarray]:
        yield self.src.counts(self.n)

    def count(self, kept: Mapping[str, Kept]) -> int:
        return int(self.src.counts(self.n).sum())

    def chunks(self, kept: Mapping[str, Kept]) -> Iterator[Chunk]:
        rows = self.src.counts(self.n)
        for a, b in _pieces(rows):
            elems = np.arange(a, b, dtype=np.int64)
            n = int(rows[a:b].sum())
            yield Chunk(n, self.layer, _gather_edges(elems, elems, self.src, self.dst), _ones)


def _ones(out: np.ndarray) -> None:
    out[:] = 1.0


@dataclass
class MGEPlan:
    """Partitions and edge blocks of an MGE, computed from the traced layer graph without any edges."""

    graph: LayerGraph
    partitions: list[Partition]
    blocks: list[Block]
    options: dict[str, Any]

    @property
    def sizes(self) -> list[int]:
        return [p.size for p in self.partitions]

    @property
    def starts(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.sizes)]).astype(np.int64)

    @property
    def n_nodes(self) -> int:
        return int(sum(self.sizes))


def check_options(pooling: str, identity_shortcuts: bool, compat: str | None) -> str:
    """Validate MGE options; returns the normalised compat mode (``none`` or ``released``)."""
    if pooling not in POOLING_MODES:
        raise InvalidValueError("pooling", pooling, " or ".join(POOLING_MODES))
    mode = "none" if compat is None else str(compat)
    if mode not in COMPAT_MODES:
        raise InvalidValueError("compat", compat, "None, " + " or ".join(COMPAT_MODES))
    if mode == "released" and (pooling != "compose" or identity_shortcuts):
        raise InvalidValueError(
            "options with compat='released'", {"pooling": pooling, "identity_shortcuts": identity_shortcuts},
            "pooling='compose' and identity_shortcuts=False (the published code had nothing else)",
        )  # fmt: skip
    return mode


def plan_mge(
    lg: LayerGraph, *, pooling: str = "compose", identity_shortcuts: bool = False, compat: str | None = None
) -> MGEPlan:
    """Lay out the partitions and edge blocks of the MGE of a traced model (see module docstring)."""
    mode = check_options(pooling, identity_shortcuts, compat)
    specs = lg.specs
    consumers, producer = lg.consumers(), lg.producer()

    # Depth = number of partitions on the longest path from the input: picks each sum's main operand.
    depth = {0: 0}
    for spec in specs:
        d = max(depth[t] for t in spec.inputs)
        grows = spec.kind in ("conv", "linear") or (spec.kind == "pool" and pooling == "nodes")
        depth[spec.output] = d + 1 if grows else d
    main_of: dict[int, int] = {}
    merged_into: dict[int, int] = {}  # conv/linear spec → add spec whose main partition receives its edges
    for i, spec in enumerate(specs):
        if spec.kind != "add":
            continue
        main = max(spec.inputs, key=lambda t: depth[t])  # first of the deepest (ties: fx operand order)
        main_of[i] = main
        for t in dict.fromkeys(spec.inputs):
            p = producer.get(t)
            if (t != main and p is not None and specs[p].kind in ("conv", "linear")
                    and consumers[t] == [i] and t != lg.output):  # fmt: skip
                merged_into[p] = i

    c, h, w = lg.input_shape
    padded_input = False
    first = consumers[0]
    if mode == "released" and first and specs[first[0]].kind == "conv":
        if len(first) > 1:
            raise InvalidValueError(
                "model for compat='released'", "input read by several layers", "one layer reading the input"
            )
        padded_input = True
        input_shape: tuple[int, ...] = (c, *Grid.padded_size(specs[first[0]]))
    else:
        input_shape = (c, h, w)
    partitions = [Partition("input", input_shape, -1)]
    blocks: list[Block] = []
    src_of: dict[int, Source] = {0: Source(0)}

    def conv_block(spec: LayerSpec, src: Source, dst: int, merged: bool) -> Block:
        if spec.kind == "linear":
            return LinearBlock(spec, src, dst)
        if mode == "none" or merged:  # the published shortcut edges use the true block-input layout
            return ConvBlock(spec, src, dst, Grid.true(spec))
        ph, pw = Grid.padded_size(spec)
        if src.partition == 0 and padded_input:
            return ConvBlock(spec, src, dst, Grid(ph, pw, (0, 0)))
        gh, gw = ph - 2 * spec.padding[0], pw - 2 * spec.padding[1]
        cin, hin, win = spec.in_shape
        shift = cin * (hin * win - gh * gw) if src.relation is None else 0
        return ConvBlock(spec, src, dst, Grid(gh, gw, spec.padding), shift)

    for i, spec in enumerate(specs):
        if spec.kind in ("conv", "linear"):
            if i in merged_into:
                continue  # emitted when its sum is reached
            partitions.append(Partition(spec.name, spec.out_shape, spec.layer_index))
            blocks.append(conv_block(spec, src_of[spec.inputs[0]], len(partitions) - 1, merged=False))
            src_of[spec.output] = Source(len(partitions) - 1)
        elif spec.kind == "pool":
            src = src_of[spec.inputs[0]]
            through = Source(src.partition, pool_relation(spec).compose(src.relation))
            if pooling == "compose":
                src_of[spec.output] = through
            else:
                partitions.append(Partition(f"pool:{spec.name}", spec.out_shape, -1))
                blocks.append(RelationBlock(through, len(partitions) - 1, math.prod(spec.out_shape)))
                src_of[spec.output] = Source(len(partitions) - 1)
        else:  # add
            main = src_of[main_of[i]]
            if main.relation is not None:
                raise InvalidValueError(
                    "residual sum", spec.name, "a sum whose deepest operand is a conv/linear output or a sum"
                )
            src_of[spec.output] = main
            for t in dict.fromkeys(spec.inputs):
                p = producer.get(t)
                if t == main_of[i]:
                    continue
                if p is not None and merged_into.get(p) == i:
                    sc = specs[p]
                    blocks.append(conv_block(sc, src_of[sc.inputs[0]], main.partition, merged=True))
                elif identity_shortcuts and src_of[t].partition != main.partition:
                    blocks.append(RelationBlock(src_of[t], main.partition, partitions[main.partition].size))
    options = {"pooling": pooling, "identity_shortcuts": bool(identity_shortcuts), "compat": mode}
    return MGEPlan(lg, partitions, blocks, options)


def assemble(partitions: Sequence[Partition], blocks: Sequence[Block], kept: Mapping[str, Kept]) -> gt.Graph:
    """Build the graph-tool graph: vertices by partition, edges chunk by chunk, then all properties.

    Edge properties are created once the edge count is final so that each is allocated exactly once;
    the chunks are regenerated to fill them (cheap: no index arithmetic for the values).
    """
    sizes = np.array([p.size for p in partitions], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    g = gt.Graph(directed=True)
    if starts[-1]:
        g.add_vertex(int(starts[-1]))
    chunks = [ch for b in blocks for ch in b.chunks(kept) if ch.n]
    # Small chunks (sparse layers) are packed into one buffer: each add_edge_list call costs ~0.2 ms.
    # A chunk holds at most CHUNK_EDGES edges plus one kept weight's taps.
    n_buf = max([min(sum(ch.n for ch in chunks), CHUNK_EDGES)] + [ch.n for ch in chunks])
    buf = np.empty((n_buf, 2), dtype=np.int64)
    used = 0
    for ch in chunks:
        if used + ch.n > n_buf:
            g.add_edge_list(buf[:used])
            used = 0
        ch.fill_edges(buf[used : used + ch.n], starts)
        used += ch.n
    if used:
        g.add_edge_list(buf[:used])
    del buf
    weight, layer = g.new_ep("double"), g.new_ep("int16_t")
    wa, la = weight.a, layer.a
    pos = 0
    for ch in chunks:
        ch.fill_weights(wa[pos : pos + ch.n])
        la[pos : pos + ch.n] = ch.layer
        pos += ch.n
    g.ep["weight"], g.ep["layer"] = weight, layer

    part, chan, position = g.new_vp("int32_t"), g.new_vp("int32_t"), g.new_vp("int32_t")
    part.a = np.repeat(np.arange(len(partitions), dtype=np.int32), sizes)
    chans, poss = [], []
    for p in partitions:
        plane = math.prod(p.shape[1:])
        chans.append(np.repeat(np.arange(p.shape[0], dtype=np.int32), plane))
        poss.append(np.tile(np.arange(plane, dtype=np.int32), p.shape[0]) if len(p.shape) > 1
                    else np.full(p.size, -1, dtype=np.int32))  # fmt: skip
    if partitions:
        chan.a = np.concatenate(chans)
        position.a = np.concatenate(poss)
    g.vp["partition"], g.vp["channel"], g.vp["position"] = part, chan, position
    _set_gp(g, "partition_sizes", "vector<int64_t>", sizes.tolist())
    _set_gp(g, "partition_names", "vector<string>", [p.name for p in partitions])
    _set_gp(g, "partition_layers", "vector<int32_t>", [p.layer for p in partitions])
    return g


def _set_gp(g: gt.Graph, name: str, kind: str, value: Any) -> None:
    g.gp[name] = g.new_gp(kind)
    g.gp[name] = value


@dataclass(frozen=True)
class MGESize:
    """Size of an MGE computed without building it: exact node and edge counts, estimated bytes of the
    graph (``bytes``) and of the topometrics computed on it on top of the graph (``metric_bytes``)."""

    n_nodes: int
    n_edges: int
    bytes: int
    partition_sizes: tuple[int, ...]
    edges_per_layer: dict[str, int]
    metric_bytes: int = 0

    @property
    def gigabytes(self) -> float:
        return self.bytes / 1e9

    @property
    def peak_bytes(self) -> int:
        """Estimated peak of building the graph and computing its topometrics."""
        return self.bytes + self.metric_bytes

    @property
    def peak_gigabytes(self) -> float:
        return self.peak_bytes / 1e9


def _size(plan: MGEPlan, kept: Mapping[str, Kept]) -> MGESize:
    names = plan.graph.layer_names
    per_layer: dict[str, int] = {}
    for b in plan.blocks:
        key = names[b.layer] if b.layer >= 0 else "(weightless)"
        per_layer[key] = per_layer.get(key, 0) + b.count(kept)
    n_edges = sum(per_layer.values())
    return MGESize(plan.n_nodes, n_edges, graph_bytes(n_edges, plan.n_nodes), tuple(plan.sizes), per_layer,
                   metric_bytes(n_edges, plan.n_nodes))  # fmt: skip


def mge_partition_sizes(model: nn.Module, input_shape: Sequence[int], **options: Any) -> list[int]:
    """Node count of every MGE partition (no weights needed, nothing built)."""
    return plan_mge(trace_layers(model, input_shape), **options).sizes


def estimate_mge_size(
    model: nn.Module, masks: Mapping[str, torch.Tensor] | None, input_shape: Sequence[int], **options: Any
) -> MGESize:
    """Exact node/edge counts of the MGE (closed form per kernel position) and its estimated memory."""
    options.pop("max_memory_gb", None)
    return _size(plan_mge(trace_layers(model, input_shape), **options), kept_weights(model, masks))


def encode_mge(
    model: nn.Module,
    masks: Mapping[str, torch.Tensor] | None,
    input_shape: Sequence[int],
    *,
    pooling: str = "compose",
    identity_shortcuts: bool = False,
    compat: str | None = None,
    max_memory_gb: float = 20.0,
    reserve_metrics: bool = True,
) -> gt.Graph:
    """The MGE of ``model`` with weights ``|w ⊙ m|`` for inputs of shape (C, H, W).

    Properties (see docs/method/encodings.md): ``vp`` partition/channel/position (position = y·W + x, -1 for
    linear
    units; in the compat input partition it indexes the padded grid), ``ep`` weight (float32 values in a
    double map) and layer (prunable-layer index, -1 for weight-less pooling/identity edges), ``gp``
    partition_sizes, partition_names, partition_layers, layer_names, encoding, options.
    Raises :class:`GraphTooLargeError` before allocating anything if the estimated peak exceeds the budget
    ``max_memory_gb``: the graph plus, with ``reserve_metrics`` (default; the pipeline measures every MGE
    it builds), the topometrics computed on it (snntopo.mge_budget).
    """
    plan = plan_mge(trace_layers(model, input_shape), pooling=pooling, identity_shortcuts=identity_shortcuts,
                    compat=compat)  # fmt: skip
    kept = kept_weights(model, masks)
    size = _size(plan, kept)
    need = size.peak_bytes if reserve_metrics else size.bytes
    if need > max_memory_gb * 1e9:
        what = "graph + topometrics peak" if reserve_metrics else "graph"
        err = GraphTooLargeError(
            f"MGE would have {size.n_edges:,} edges and {size.n_nodes:,} nodes: estimated {what} "
            f"{need / 1e9:.1f} GB (graph {size.gigabytes:.1f} GB) exceeds the budget max_memory_gb="
            f"{max_memory_gb}; raise max_memory_gb, prune further or use a per-layer encoding"
        )
        err.size = size  # type: ignore[attr-defined]
        raise err
    g = assemble(plan.partitions, plan.blocks, kept)
    if g.num_edges() != size.n_edges:  # the closed form and the generator must agree exactly
        raise AssertionError(f"MGE edge count {g.num_edges()} != closed form {size.n_edges}")
    _set_gp(g, "layer_names", "vector<string>", list(plan.graph.layer_names))
    _set_gp(g, "encoding", "string", "mge")
    _set_gp(g, "options", "string", ",".join(f"{k}={v}" for k, v in plan.options.items()))
    return g
