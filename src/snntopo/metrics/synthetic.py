"""Synthetic graphs that follow the graph contract, for tests and benchmarks of the metrics stage.

``conv_mge`` builds, fully vectorised, an MGE-shaped graph of a plain conv net (CONV-6 at 32×32 by default):
the partitions, the unrolled convolution pattern (3×3 kernels, padding 1, padding nodes of hidden layers
removed, the padded input kept as partition 0), the 2×2 max-pool edge replication and the flatten order of
docs/method/encodings.md. The masks are Bernoulli with one density for all layers and the weights |N(0,
2/fan_in)|,
so the graph has the degree structure and locality of a real MGE without needing a model or the encoder.

``layered_dag`` builds a small random multipartite DAG (edges from partition i to i+1, optional skip edges
i → i+2), the shape of an MGE with residual shortcuts, for tests.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import graph_tool as gt
import numpy as np

from snntopo.errors import InvalidValueError, check_fraction


@dataclass(frozen=True)
class ConvLayer:
    """One layer of a plain conv net as seen by the MGE.

    ``src`` is the partition feeding the layer, ``pool`` the max-pool factor applied to it first (1 = none),
    ``pad`` the conv padding on the pooled map (0 for the stem, whose padded input is partition 0), ``k`` the
    kernel size; a linear layer has ``k = 0`` and reads the pooled map flattened in (c, y, x) order.
    """

    c_in: int
    c_out: int
    src_hw: int  # spatial size of the source partition (1 for linear units)
    pool: int
    pad: int
    k: int
    out_hw: int  # spatial size of the output partition (1 for linear units)


def conv6_layers(image_size: int = 32, num_classes: int = 10) -> list[ConvLayer]:
    """CONV-6 of docs/method/training.md (conv 64,64,pool,128,128,pool,256,256,pool; FC 256,256,classes)."""
    s = image_size
    return [
        ConvLayer(3, 64, s + 2, 1, 0, 3, s),
        ConvLayer(64, 64, s, 1, 1, 3, s),
        ConvLayer(64, 128, s, 2, 1, 3, s // 2),
        ConvLayer(128, 128, s // 2, 1, 1, 3, s // 2),
        ConvLayer(128, 256, s // 2, 2, 1, 3, s // 4),
        ConvLayer(256, 256, s // 4, 1, 1, 3, s // 4),
        ConvLayer(256 * (s // 8) ** 2, 256, s // 4, 2, 0, 0, 1),
        ConvLayer(256, 256, 1, 1, 0, 0, 1),
        ConvLayer(256, num_classes, 1, 1, 0, 0, 1),
    ]


def _partition_sizes(layers: Sequence[ConvLayer]) -> list[int]:
    first = layers[0]
    sizes = [first.c_in * first.src_hw**2]
    sizes += [lay.c_out * lay.out_hw**2 for lay in layers]
    return sizes


def dense_edge_counts(layers: Sequence[ConvLayer]) -> list[int]:
    """Number of MGE edges of each layer when every weight is kept (pooling replication included)."""
    counts = []
    for lay in layers:
        if lay.k == 0:
            counts.append(lay.c_in * lay.c_out * lay.pool**2)
            continue
        hw_in = lay.src_hw // lay.pool
        # valid (non-padding) input rows for each kernel row offset r: i + r - pad in [0, hw_in)
        i = np.arange(lay.out_hw)
        per_r = np.array([np.sum((i + r - lay.pad >= 0) & (i + r - lay.pad < hw_in)) for r in range(lay.k)])
        positions = int(np.sum(np.outer(per_r, per_r)))
        counts.append(lay.c_out * lay.c_in * positions * lay.pool**2)
    return counts


def density_for_edges(target_edges: int, layers: Sequence[ConvLayer] | None = None) -> float:
    """Uniform layer density whose expected MGE edge count is ``target_edges`` (capped at 1)."""
    layers = conv6_layers() if layers is None else layers
    return min(1.0, float(target_edges) / float(sum(dense_edge_counts(layers))))


def _layer_edges(lay: ConvLayer, kept: np.ndarray, src_off: int, dst_off: int, chunk: int = 1 << 22):
    """Yield (src, dst, weight-index) arrays of the MGE edges of one layer, in chunks of kept weights.

    ``kept`` holds the flat indices of the kept weights in the (C_out, C_in, k, k) (or (out, in)) tensor.
    """
    q = lay.pool
    hw_in = lay.src_hw // q
    a, b = np.divmod(np.arange(q * q), q)  # offsets inside a pooling window
    if lay.k == 0:
        o, f = np.divmod(kept, lay.c_in)
        # linear: feature f = (c, y', x') of the pooled map, flattened as torch's Flatten does
        c, rem = np.divmod(f, hw_in * hw_in)
        y, x = np.divmod(rem, hw_in)
        src = c[:, None] * lay.src_hw**2 + (y[:, None] * q + a) * lay.src_hw + (x[:, None] * q + b)
        dst = np.broadcast_to(o[:, None], src.shape)
        widx = np.broadcast_to(np.arange(kept.size)[:, None], src.shape)
        yield src.ravel() + src_off, dst.ravel() + dst_off, widx.ravel()
        return
    k = lay.k
    o, rest = np.divmod(kept, lay.c_in * k * k)
    c, rest = np.divmod(rest, k * k)
    r, s = np.divmod(rest, k)
    pos = np.arange(lay.out_hw * lay.out_hw)
    oy, ox = np.divmod(pos, lay.out_hw)
    per = max(1, chunk // (pos.size * q * q))
    for lo in range(0, kept.size, per):
        sl = slice(lo, lo + per)
        yy = oy[None, :] + r[sl, None] - lay.pad
        xx = ox[None, :] + s[sl, None] - lay.pad
        ok = (yy >= 0) & (yy < hw_in) & (xx >= 0) & (xx < hw_in)
        wi, pi = np.nonzero(ok)
        yv, xv = yy[wi, pi], xx[wi, pi]
        cv = c[sl][wi]
        src = cv[:, None] * lay.src_hw**2 + (yv[:, None] * q + a) * lay.src_hw + (xv[:, None] * q + b)
        dst = o[sl][wi] * lay.out_hw**2 + pi
        yield (
            src.ravel() + src_off,
            np.repeat(dst, q * q) + dst_off,
            np.repeat(wi + lo, q * q),
        )


def conv_mge(
    density: float | Sequence[float],
    seed: int = 0,
    layers: Sequence[ConvLayer] | None = None,
) -> gt.Graph:
    """An MGE-shaped directed graph (graph contract) of a plain conv net with random masks.

    ``density`` is the fraction of kept weights, one value for all layers or one per layer. Edge weights
    are |w| (float32 values) of Kaiming-normal weights; ``layer`` holds the layer index.
    """
    layers = conv6_layers() if layers is None else list(layers)
    dens = [density] * len(layers) if np.isscalar(density) else list(density)
    if len(dens) != len(layers):
        raise InvalidValueError("density", density, f"a number or {len(layers)} numbers")
    dens = [check_fraction("density", d, upper_inclusive=True) for d in dens]
    rng = np.random.default_rng(seed)
    sizes = _partition_sizes(layers)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    g = gt.Graph(directed=True)
    g.add_vertex(int(offsets[-1]))
    part = g.new_vp("int32_t")
    chan = g.new_vp("int32_t")
    posi = g.new_vp("int32_t")
    weight = g.new_ep("double")
    layer = g.new_ep("int16_t")
    hws = [layers[0].src_hw] + [lay.out_hw for lay in layers]
    chans = [layers[0].c_in] + [lay.c_out for lay in layers]
    for i, (lo, hi) in enumerate(itertools.pairwise(offsets)):
        idx = np.arange(hi - lo)
        part.a[lo:hi] = i
        hw2 = hws[i] ** 2
        chan.a[lo:hi] = idx // hw2
        posi.a[lo:hi] = idx % hw2 if hws[i] > 1 else -1
    assert all(chans[i] * hws[i] ** 2 == sizes[i] for i in range(len(sizes)) if hws[i] > 1)
    for li, (lay, d) in enumerate(zip(layers, dens, strict=True)):
        numel = lay.c_out * lay.c_in * max(lay.k, 1) ** 2
        kept = np.flatnonzero(rng.random(numel) < d)
        fan_in = lay.c_in * max(lay.k, 1) ** 2
        w = np.abs(rng.standard_normal(kept.size, dtype=np.float32) * np.float32(np.sqrt(2.0 / fan_in)))
        w = np.maximum(w, np.float32(1e-12))  # an edge exists iff |w| > 0
        for src, dst, widx in _layer_edges(lay, kept, int(offsets[li]), int(offsets[li + 1])):
            arr = np.empty((src.size, 4), dtype=np.float64)
            arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3] = src, dst, w[widx], li
            g.add_edge_list(arr, eprops=[weight, layer])
            del arr
    g.vp["partition"], g.vp["channel"], g.vp["position"] = part, chan, posi
    g.ep["weight"], g.ep["layer"] = weight, layer
    g.gp["partition_sizes"] = g.new_gp("vector<int64_t>", [int(s) for s in sizes])
    g.gp["layer_names"] = g.new_gp("vector<string>", [f"layer{i}" for i in range(len(layers))])
    return g


def layered_dag(
    partition_sizes: Sequence[int],
    p_edge: float,
    p_skip: float = 0.0,
    seed: int = 0,
    weight_scale: float = 1.0,
) -> gt.Graph:
    """Random multipartite DAG: each pair (u in V_i, v in V_{i+1}) is an edge with probability ``p_edge``,
    each pair (u in V_i, v in V_{i+2}) with probability ``p_skip``; weights uniform in (0, weight_scale].

    Small sizes only (it draws one Bernoulli per candidate pair)."""
    rng = np.random.default_rng(seed)
    sizes = [int(s) for s in partition_sizes]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    edges, layers = [], []
    for step, p in ((1, p_edge), (2, p_skip)):
        for i in range(len(sizes) - step):
            m = rng.random((sizes[i], sizes[i + step])) < p
            u, v = np.nonzero(m)
            edges.append(np.column_stack([u + offsets[i], v + offsets[i + step]]))
            layers.append(np.full(u.size, i + step - 1))
    e = np.concatenate(edges) if edges else np.empty((0, 2), dtype=np.int64)
    g = gt.Graph(directed=True)
    g.add_vertex(int(offsets[-1]))
    w = weight_scale * (1.0 - rng.random(e.shape[0]))
    weight = g.new_ep("double")
    layer = g.new_ep("int16_t")
    g.add_edge_list(np.column_stack([e, w, np.concatenate(layers)]), eprops=[weight, layer])
    part = g.new_vp("int32_t")
    part.a[:] = np.repeat(np.arange(len(sizes)), sizes)
    g.vp["partition"] = part
    g.vp["channel"] = g.new_vp("int32_t", vals=np.zeros(g.num_vertices(), dtype=np.int32))
    g.vp["position"] = g.new_vp("int32_t", vals=np.full(g.num_vertices(), -1, dtype=np.int32))
    g.ep["weight"], g.ep["layer"] = weight, layer
    g.gp["partition_sizes"] = g.new_gp("vector<int64_t>", sizes)
    g.gp["layer_names"] = g.new_gp("vector<string>", [f"layer{i}" for i in range(len(sizes) - 1)])
    return g
