"""snntopo.metrics — graph metrics of sparse networks (docs/method/metrics.md).

Families (registry :data:`METRICS`, ``compute(name, obj, **options)``): ``mge`` (16 MGE topometrics),
``rolled`` / ``rolled_channel`` (10 BGE topometrics per layer), ``ramanujan`` (per layer, variant
``iclr2023 | mge | neurips2023``), ``fullspectrum`` ([NeurIPS23] coordinate), ``density``.
"""

from snntopo.metrics import families as _families  # noqa: F401  (registers the families)
from snntopo.metrics.density import density_metrics, layer_density
from snntopo.metrics.fullspectrum import fullspectrum_metrics, layer_coordinate
from snntopo.metrics.layers import LayerSpec, as_layers, layers_from_model
from snntopo.metrics.ramanujan import (
    biadjacency_from_bge,
    biadjacency_from_weight,
    dense_biadjacency,
    layer_ramanujan,
)
from snntopo.metrics.registry import METRICS, compute, register_metric
from snntopo.metrics.table import flatten_layers, network_means, per_layer_table
from snntopo.metrics.topometrics import (
    BGE_METRICS,
    MGE_METRICS,
    bge_graph,
    bge_topometrics,
    mge_topometrics,
    motif_estimate,
)

__all__ = [
    "BGE_METRICS",
    "METRICS",
    "MGE_METRICS",
    "LayerSpec",
    "as_layers",
    "bge_graph",
    "bge_topometrics",
    "biadjacency_from_bge",
    "biadjacency_from_weight",
    "compute",
    "dense_biadjacency",
    "density_metrics",
    "flatten_layers",
    "fullspectrum_metrics",
    "layer_coordinate",
    "layer_density",
    "layer_ramanujan",
    "layers_from_model",
    "mge_topometrics",
    "motif_estimate",
    "network_means",
    "per_layer_table",
    "register_metric",
]
