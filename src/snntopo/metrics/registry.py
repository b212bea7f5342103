"""The metric-family registry: a config name → a function ``f(obj, **options) -> dict[str, float]``.

``obj`` is a graph-tool MGE for ``mge`` and a sequence of layers (or of BGE graphs) for the per-layer
families. Per-layer values are keyed ``L{idx:02d}:{metric}`` (idx = position in the given layer order, i.e.
module order); network-level values have no prefix (``mean_delta_r_norm``, ``global``, ...). The caller
prefixes the family name (``"ramanujan:L03:imdb"``) when writing the tidy table.
"""

from __future__ import annotations

from collections.abc import Callable

from snntopo.registry import Registry

MetricFamily = Callable[..., dict[str, float]]

METRICS: Registry[MetricFamily] = Registry("metric family")
register_metric = METRICS.register


def compute(family: str, obj, **options) -> dict[str, float]:
    """Run metric family ``family`` on ``obj``; unknown names raise UnknownNameError listing the known."""
    return METRICS.get(family)(obj, **options)
