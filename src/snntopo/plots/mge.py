"""Drawing of a (small) multipartite graph encoding with graph-tool, vertices coloured by partition.

The graph follows the MGE contract (docs/method/encodings.md): directed, vertices ordered by partition,
``vp["partition"]`` (int), ``ep["weight"]`` (|w|), ``gp["partition_sizes"]``; ``vp["channel"]``,
``vp["position"]``, ``ep["layer"]`` and ``gp["layer_names"]`` are carried but not needed for drawing.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from snntopo.errors import InvalidValueError

#: Largest graph drawn (vertices); an MGE of a real CNN has 10^5–10^6 and would be an unreadable blot.
MAX_VERTICES = 5000


def example_mge(layer_sizes: Sequence[int] = (6, 8, 8, 4), density: float = 0.4, seed: int = 0) -> Any:
    """MGE of a small random sparse MLP (fully connected layers, Bernoulli masks, Kaiming-like weights).

    Built with the same properties as the encoding stage's MGEs, for illustration and tests.
    """
    import graph_tool as gt

    rng = np.random.default_rng(seed)
    sizes = np.asarray(layer_sizes, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    src, dst, w, lay = [], [], [], []
    for layer, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        weight = rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_out, n_in)).astype(np.float32)
        keep = rng.random((n_out, n_in)) < density
        out_idx, in_idx = np.nonzero(keep)
        src.append(offsets[layer] + in_idx)
        dst.append(offsets[layer + 1] + out_idx)
        w.append(np.abs(weight[keep]))
        lay.append(np.full(len(out_idx), layer, dtype=np.int16))
    g = gt.Graph(directed=True)
    g.add_vertex(int(offsets[-1]))
    g.add_edge_list(np.column_stack([np.concatenate(src), np.concatenate(dst)]))
    part = np.repeat(np.arange(len(sizes)), sizes)
    g.vp["partition"] = g.new_vp("int32_t", vals=part.astype(np.int32))
    g.vp["channel"] = g.new_vp("int32_t", vals=(np.arange(offsets[-1]) - offsets[part]).astype(np.int32))
    g.vp["position"] = g.new_vp("int32_t", vals=np.full(offsets[-1], -1, dtype=np.int32))
    g.ep["weight"] = g.new_ep("float", vals=np.concatenate(w).astype(np.float64))
    g.ep["layer"] = g.new_ep("int16_t", vals=np.concatenate(lay))
    g.gp["partition_sizes"] = g.new_gp("vector<int64_t>", val=sizes.tolist())
    g.gp["layer_names"] = g.new_gp("vector<string>", val=[f"fc{i}" for i in range(len(sizes) - 1)])
    return g


def layered_positions(partition: np.ndarray) -> np.ndarray:
    """(N, 2) drawing coordinates: x = partition, y = rank inside the partition, centred on 0."""
    partition = np.asarray(partition, dtype=np.int64)
    order = np.argsort(partition, kind="stable")
    counts = np.bincount(partition)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(len(partition), dtype=np.int64)
    rank[order] = np.arange(len(partition)) - starts[partition[order]]
    y = (rank - (counts[partition] - 1) / 2.0) / max(counts.max(), 1)
    x = partition / max(partition.max(), 1)
    return np.column_stack([x * 1.6, -y])


def draw_mge(g: Any, path: str | os.PathLike[str], size: int = 700) -> list[Path]:
    """Draw ``g`` to ``<path>.png`` and ``<path>.pdf`` (``path`` without suffix); returns both paths.

    Vertices are laid out in columns by partition and coloured by partition; edge width follows |w|.
    Raises ``InvalidValueError`` if ``g`` lacks ``vp["partition"]`` or has more than ``MAX_VERTICES``.
    """
    import graph_tool.draw as gtd
    from matplotlib import colormaps

    if "partition" not in g.vp:
        raise InvalidValueError(
            "MGE graph",
            "without vertex property 'partition'",
            "a graph-tool graph following the MGE contract",
        )
    n = g.num_vertices()
    if n > MAX_VERTICES:
        raise InvalidValueError("MGE graph size to draw", n, f"at most {MAX_VERTICES} vertices")
    part = g.vp["partition"].a.astype(np.int64)
    pos = g.new_vp("vector<double>")
    pos.set_2d_array(layered_positions(part).T.copy())
    cmap = colormaps["tab10"]
    colours = cmap(part % cmap.N)  # (N, 4) RGBA
    fill = g.new_vp("vector<double>")
    fill.set_2d_array(colours.T.copy())
    ewidth = g.new_ep("double")
    if "weight" in g.ep and g.num_edges():
        w = g.ep["weight"].a.astype(float)
        ewidth.a = 0.3 + 1.5 * w / max(w.max(), 1e-12)
    else:
        ewidth.a = 0.5
    vsize = float(np.clip(400.0 / np.sqrt(max(n, 1)), 2.0, 18.0))
    base = Path(path)
    base.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for suffix in (".png", ".pdf"):
        target = base.with_suffix(suffix)
        gtd.graph_draw(
            g,
            pos=pos,
            vertex_fill_color=fill,
            vertex_color=fill,
            vertex_size=vsize,
            edge_pen_width=ewidth,
            edge_color=[0.3, 0.3, 0.3, 0.35],
            edge_marker_size=max(vsize / 3, 2.0),
            output_size=(size, size),
            bg_color=[1, 1, 1, 1],
            output=str(target),
            fit_view=0.9,
        )
        out.append(target)
    return out
