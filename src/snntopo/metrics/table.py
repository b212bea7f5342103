"""Per-layer tables (one row per layer) and network-level summaries of them."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd

from snntopo.metrics.density import layer_density
from snntopo.metrics.fullspectrum import layer_coordinate
from snntopo.metrics.layers import LayerSpec, as_layers
from snntopo.metrics.ramanujan import dense_biadjacency, layer_ramanujan
from snntopo.metrics.topometrics import bge_graph, bge_topometrics
from snntopo.registry import Registry

LayerMetric = Callable[..., dict[str, float]]

#: per-layer computations behind the per-layer families: ``f(layer: LayerSpec, **options) -> dict``
LAYER_METRICS: Registry[LayerMetric] = Registry("per-layer metric")

ID_COLUMNS = ("layer_idx", "layer_name")


@LAYER_METRICS.register("ramanujan")
def _ramanujan(
    layer: LayerSpec, variant: str = "mge", compat: str = "clean", encoding: str = "rolled", **kw
) -> dict[str, float]:
    B = dense_biadjacency(layer.weight, layer.mask, encoding, layer.groups)
    return layer_ramanujan(B, variant, compat, **kw)


@LAYER_METRICS.register("fullspectrum")
def _fullspectrum(layer: LayerSpec, encoding: str = "rolled", init_weight=None) -> dict[str, float]:
    init = layer.init_weight if layer.init_weight is not None else init_weight
    return layer_coordinate(layer.weight, layer.mask, init, encoding, layer.groups)


@LAYER_METRICS.register("density")
def _density(layer: LayerSpec) -> dict[str, float]:
    return {"density": layer_density(layer)}


def _bge(encoding: str) -> LayerMetric:
    def run(layer, **options) -> dict[str, float]:
        if not isinstance(layer, LayerSpec):  # already a graph-tool BGE
            return bge_topometrics(layer, **options)
        B = dense_biadjacency(layer.weight, layer.mask, encoding, layer.groups)
        return bge_topometrics(bge_graph(B, layer.name), **options)

    return run


LAYER_METRICS.register("rolled")(_bge("rolled"))
LAYER_METRICS.register("rolled_channel")(_bge("rolled_channel"))


def _layer_items(layers, family: str) -> list:
    """LayerSpecs, or graph-tool BGEs as given (BGE topometric families only)."""
    seq = list(layers.items()) if isinstance(layers, dict) else list(layers)
    if family in ("rolled", "rolled_channel") and seq and all(hasattr(x, "num_vertices") for x in seq):
        return seq
    return as_layers(layers)


def per_layer_table(layers, family: str = "ramanujan", **options) -> pd.DataFrame:
    """One row per layer (columns ``layer_idx, layer_name`` + the family's per-layer metrics).

    ``layers``: LayerSpecs / ``(name, weight, mask)`` triples (any family) or graph-tool BGEs (``rolled``,
    ``rolled_channel``). ``options`` go to the per-layer function (e.g. ``variant``, ``compat``)."""
    fn = LAYER_METRICS.get(family)
    rows = []
    for idx, layer in enumerate(_layer_items(layers, family)):
        name = layer.name if isinstance(layer, LayerSpec) else str(layer.gp["layer_name"])
        rows.append({"layer_idx": idx, "layer_name": name, **fn(layer, **options)})
    return pd.DataFrame(rows, columns=None if rows else list(ID_COLUMNS))


def network_means(df: pd.DataFrame) -> dict[str, float]:
    """``mean_<metric>``: mean over layers of every metric column, NaN (invalid / None) layers skipped; NaN
    when no layer has a value."""
    out = {}
    for col in df.columns:
        if col in ID_COLUMNS or not pd.api.types.is_numeric_dtype(df[col]):
            continue
        vals = df[col].to_numpy(dtype=np.float64)
        vals = vals[~np.isnan(vals)]
        out[f"mean_{col}"] = float(vals.mean()) if vals.size else math.nan
    return out


def flatten_layers(df: pd.DataFrame) -> dict[str, float]:
    """``L{idx:02d}:{metric}`` for every layer and metric column."""
    out = {}
    for row in df.to_dict("records"):
        idx = int(row["layer_idx"])
        out.update({f"L{idx:02d}:{k}": float(v) for k, v in row.items() if k not in ID_COLUMNS})
    return out
