"""Names of the topometrics (docs/method/metrics.md), shared by the metrics and analysis stages.

Kept free of heavy imports: the analysis (and the Snakefile, through it) reads these names without
loading graph-tool.
"""

#: The five metric groups of docs/method/metrics.md (names as printed by the MGE code), in table order.
METRIC_GROUPS: dict[str, tuple[str, ...]] = {
    "Local connectivity": ("sink_nodes", "source_nodes", "disc_nodes", "r-out", "r-in"),
    "Neighbourhood": ("1-hop_nei", "2-hop_nei", "motif"),
    "Strength": ("avg_node_strength", "k-core"),
    "Global connectivity": ("cut-edges", "cut-nodes", "no_connected_components", "mean_connected_components"),
    "Expansion": ("spectral_gap", "spectral_radius"),
}

#: The 16 MGE topometrics, in table order.
MGE_METRICS: tuple[str, ...] = tuple(m for ms in METRIC_GROUPS.values() for m in ms)

#: The 10 per-layer BGE topometrics of the MGE code's ``main.py::process_graph_topometrics`` (raw values).
BGE_METRICS: tuple[str, ...] = (
    "cut-edges",
    "cut-nodes",
    "motif",
    "1-hop_nei",
    "avg_node_strength",
    "k-core",
    "no_connected_components",
    "mean_connected_components",
    "spectral_gap",
    "spectral_radius",
)
