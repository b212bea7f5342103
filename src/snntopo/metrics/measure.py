"""Measure one network: encode it for one encoding family and compute that family's metric families.

The pipeline runs two jobs per network, one per encoding family: ``measure_mge`` builds the multipartite
graph once and computes the topometrics on it; ``measure_bge`` calls :func:`measure` once per bipartite
encoding: rolled (the per-layer families that read the rolled layer matrices: rolled-BGE topometrics,
Ramanujan, full-spectrum coordinate, density) and rolled-channel (its BGE topometrics). Graphs stay in
memory unless the caller saves them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from snntopo.errors import InvalidValueError
from snntopo.measure_plan import ENCODING_OF_FAMILY


def _family_options(family: str, options: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """The subset of the pipeline's ``metrics`` options that each family's function takes."""
    compat = options.get("compat", "clean")
    if family == "mge":
        return {"compat": compat, "motif_fraction": options.get("motif_fraction", 0.001), "seed": seed}
    if family == "ramanujan":
        return {"variant": options.get("ramanujan_variant", "iclr2023"), "compat": compat}
    return {}


def measure(
    model: nn.Module,
    masks: Mapping[str, Any],
    input_shape: Sequence[int],
    encoding: str,
    families: Sequence[str],
    *,
    options: Mapping[str, Any] | None = None,
    init_state: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> tuple[dict[str, dict[str, float]], dict[str, float], Any]:
    """Compute ``families`` (all belonging to ``encoding``) on ``model`` under ``masks``.

    ``model`` carries the weights to measure (masked initialisation or trained weights); ``init_state``
    gives the initial weights for distances from initialisation (full-spectrum ``dist_init``). Returns
    ``(values per family, seconds per step, the MGE graph or None)``.
    """
    from snntopo.encoding import encode
    from snntopo.metrics.layers import layers_from_model
    from snntopo.metrics.registry import compute

    options = dict(options or {})
    wrong = [f for f in families if ENCODING_OF_FAMILY.get(f) != encoding]
    if wrong:
        raise InvalidValueError(f"metric families for encoding {encoding!r}", wrong, ", ".join(
            f for f, e in ENCODING_OF_FAMILY.items() if e == encoding))  # fmt: skip
    values: dict[str, dict[str, float]] = {}
    seconds: dict[str, float] = {}
    graph = None
    if encoding == "mge":
        start = time.perf_counter()
        compat = "released" if options.get("compat") == "released" else None
        graph = encode("mge", model, masks, input_shape, compat=compat,
                       max_memory_gb=options.get("max_memory_gb", 20))  # fmt: skip
        seconds["encode"] = time.perf_counter() - start
        obj: Any = graph
    else:
        obj = layers_from_model(model, masks, init_state)
    for family in families:
        start = time.perf_counter()
        values[family] = compute(family, obj, **_family_options(family, options, seed))
        seconds[family] = time.perf_counter() - start
    return values, seconds, graph
