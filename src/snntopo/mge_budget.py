"""Memory estimate of an MGE job (graph + topometrics peak), shared by the size guard and the Snakemake rule.

Kept free of torch and graph-tool: ``rules/metrics.smk`` calls :func:`measure_mge_mem_mb` in the main
Snakemake process to set ``measure_mge``'s ``mem_mb`` for each network, and :func:`encode_mge
<snntopo.encoding.mge.encode_mge>` refuses a graph whose estimate exceeds its budget before building it.

The model is linear in edges and nodes. The graph part is the upper-bound model of graph-tool 2.45's
adjacency lists (see the constants); the metrics part was fitted on ``bench/metrics.py --resnet 0.98 0.9
0.6 --released`` (peak RSS of build + ``mge_topometrics`` above the worker process's baseline, 2 December
2026, this code): the metrics' own peak is the clean CSR pair ``T``/``W`` (12 B/edge each, int32 indices +
float64 weights), the boolean out-adjacency and undirected structure (~10 B/edge), and vectors per node.

=========================  ========  ==========  ==========  ======================
MGE                        edges     measured    estimate    graph alone (measured)
=========================  ========  ==========  ==========  ======================
ResNet-20 ERK 98 %          1.34 M   0.22 GiB    0.26 GiB    0.13 GiB
ResNet-20 ERK 90 %          6.84 M   0.78 GiB    0.96 GiB    0.44 GiB (64 B/edge)
ResNet-20 ERK 60 %         24.9 M    2.46 GiB    3.15 GiB    1.48 GiB (60 B/edge)
CONV-6 random 98 %          4.83 M   0.59 GiB    0.73 GiB
=========================  ========  ==========  ==========  ======================

The metrics add 39–57 B/edge on these graphs; METRIC_BYTES_PER_EDGE takes the upper end so that the
estimate stays an upper bound (20–30 % above the measurements).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from snntopo.mge_edge_factors import EDGE_FACTORS

#: Graph: every edge sits in the out-list of its source and the in-list of its target (2 × 16 B) in
#: std::vectors grown by doubling (capacity ≤ 2× size), plus the weight (double) and layer (int16)
#: properties. Measured peaks: 61 B/edge for the dense WRN-28-2 MGE on 8×8 inputs, 73 B/edge (nodes
#: included) for ResNet-20 at 98 % sparsity (bench/encoding.py).
GRAPH_BYTES_PER_EDGE = 2 * 16 * 2 + 8 + 2
GRAPH_BYTES_PER_NODE = 64  # adjacency header (32 B) + malloc header + three int32 vertex properties
CHUNK_EDGES = 1 << 21  # edges generated per add_edge_list call by the encoder
CHUNK_TEMP_BYTES_PER_EDGE = 48  # (n, 2) int64 buffer + index temporaries of one chunk
#: Metrics on top of the graph (fitted, see the table in the module docstring: 39–57 B/edge measured).
METRIC_BYTES_PER_EDGE = 56
METRIC_BYTES_PER_NODE = 160
#: Interpreter, numpy, scipy, torch and graph-tool imported by the measure job before any graph exists.
PROCESS_BASE_BYTES = 1_200_000_000
#: Headroom on the declared ``mem_mb`` for estimates from per-layer mean edge factors (random masks
#: keep border taps as often as interior ones; magnitude masks need not).
MEM_MB_MARGIN = 1.25


def graph_bytes(n_edges: int, n_nodes: int) -> int:
    """Estimated peak bytes of building the graph-tool MGE (graph + the encoder's chunk buffer)."""
    return (
        n_edges * GRAPH_BYTES_PER_EDGE
        + n_nodes * GRAPH_BYTES_PER_NODE
        + min(n_edges, CHUNK_EDGES) * CHUNK_TEMP_BYTES_PER_EDGE
    )


def metric_bytes(n_edges: int, n_nodes: int) -> int:
    """Estimated bytes the MGE topometrics add on top of the graph at their peak."""
    return n_edges * METRIC_BYTES_PER_EDGE + n_nodes * METRIC_BYTES_PER_NODE


def peak_bytes(n_edges: int, n_nodes: int) -> int:
    """Estimated peak bytes of building an MGE and computing its topometrics (process baseline excluded)."""
    return graph_bytes(n_edges, n_nodes) + metric_bytes(n_edges, n_nodes)


def factor_key(model: str, input_shape: tuple[int, ...] | list[int]) -> str:
    return f"{model}/{'x'.join(str(int(s)) for s in input_shape)}"


def estimated_edges(model: str, input_shape, kept: Mapping[str, int]) -> tuple[int, int] | None:
    """(edges, nodes) of the clean MGE of ``model`` with ``kept[layer]`` weights per layer, from the
    tabulated mean edges per weight; None when the table has no entry for this model and input shape."""
    entry = EDGE_FACTORS.get(factor_key(model, input_shape))
    if entry is None:
        return None
    factors = entry["layers"]
    edges = sum(factors.get(name, 0.0) * int(k) for name, k in kept.items())
    return math.ceil(edges), int(entry["nodes"])


def mem_mb_for(model: str, input_shape, kept: Mapping[str, int], fallback_mb: int) -> int:
    """``mem_mb`` to declare for one ``measure_mge`` job (``fallback_mb`` where the table has no entry)."""
    est = estimated_edges(model, input_shape, kept)
    if est is None:
        return int(fallback_mb)
    total = PROCESS_BASE_BYTES + MEM_MB_MARGIN * peak_bytes(*est)
    return math.ceil(total / 1e6)


def measure_mge_mem_mb(mask_json: str | Path, dataset_json: str | Path, model: str, fallback_mb: int) -> int:
    """``mem_mb`` of a ``measure_mge`` job from the mask summary (``mask.json`` beside ``mask.pt``: kept
    weights per layer) and the dataset summary (input shape). Both are small JSON files; while either is
    missing (Snakemake evaluates resources again once the inputs exist) ``fallback_mb`` is returned."""
    try:
        layers = json.loads(Path(mask_json).read_text())["layers"]
        shape = json.loads(Path(dataset_json).read_text())["input_shape"]
    except (OSError, KeyError, ValueError, TypeError):
        return int(fallback_mb)
    kept = {layer["name"]: int(layer["kept"]) for layer in layers}
    return mem_mb_for(model, shape, kept, fallback_mb)


def measure_mge_resource(results: Path, max_memory_gb: float) -> Callable[[Any, Any], int]:
    """The ``mem_mb`` resource callable of the ``measure_mge`` rule: :func:`measure_mge_mem_mb` for the
    job's mask and dataset, at most the ``max_memory_gb`` budget plus the process baseline (the encoder
    refuses larger graphs), which is also the value while the summaries do not exist yet."""
    budget_mb = math.ceil(max_memory_gb * 1000 + PROCESS_BASE_BYTES / 1e6)

    def mem_mb(wildcards: Any, input: Any) -> int:
        mask_json = Path(str(input.mask)).with_suffix(".json")
        dataset_json = Path(results) / "data" / f"{wildcards.dataset}.json"
        return min(measure_mge_mem_mb(mask_json, dataset_json, wildcards.model, budget_mb), budget_mb)

    return mem_mb


#: (model, input shape) pairs tabulated in snntopo/mge_edge_factors.py: the models of the registry on the
#: input shapes of the registered datasets (CIFAR, Tiny ImageNet, digits at 8/16/32)
TABULATED_SHAPES: tuple[tuple[int, ...], ...] = (
    (3, 32, 32),
    (3, 64, 64),
    (1, 8, 8),
    (1, 16, 16),
    (1, 32, 32),
)


def edge_factor_entry(model_name: str, input_shape: Sequence[int]) -> dict[str, Any]:
    """Node count and dense edges per weight of every prunable layer of the clean MGE (imports torch)."""
    from snntopo import models
    from snntopo.encoding.mge import estimate_mge_size

    model = models.init_model(model_name, tuple(input_shape), 10, seed=0)
    size = estimate_mge_size(model, None, tuple(input_shape))
    numel = {name: p.numel() for name, p in models.prunable_parameters(model).items()}
    # masks are keyed by parameter name ("conv1.weight"), the MGE's edge counts by module name ("conv1")
    layers = {name: size.edges_per_layer.get(name.removesuffix(".weight"), 0) / numel[name] for name in numel}
    return {"nodes": size.n_nodes, "layers": layers}


def write_edge_factors(path: Path | None = None) -> dict[str, Any]:
    """Regenerate snntopo/mge_edge_factors.py (``python -m snntopo.mge_budget``)."""
    from snntopo import models

    table: dict[str, Any] = {}
    for name in models.MODELS.names():
        for shape in TABULATED_SHAPES:
            try:
                table[factor_key(name, shape)] = edge_factor_entry(name, shape)
            except Exception:
                continue
    path = path or Path(__file__).with_name("mge_edge_factors.py")
    path.write_text(
        '"""Generated by ``python -m snntopo.mge_budget``: per (model, input shape), node count of the\n'
        'clean MGE and, per prunable layer, its dense edges per weight (see snntopo.mge_budget)."""\n\n'
        f"EDGE_FACTORS = {json.dumps(table, indent=1, sort_keys=True)}\n"
    )
    return table


if __name__ == "__main__":
    write_edge_factors()
