"""Topology over dynamic sparse training: the metrics of every mask snapshot of a DST run, as a tidy table.

A DST run writes one mask snapshot per topology update (plus the initial mask at step 0; see
:mod:`snntopo.training.dst`). :func:`topology_over_training` measures each snapshot with the metrics
stage's own code (:func:`snntopo.metrics.measure.measure`, per-layer families of the rolled and
rolled-channel encodings; the MGE is left out, too slow for dozens of snapshots) and adds the cheap
mask-change family ``mask``. The weights are the masked initial weights, as in the metrics stage's
default (``metrics.weights: init``): what changes from one snapshot to the next is the topology only.

Table (:data:`COLUMNS`): one row per (step, family, layer, metric). ``layer`` is the parameter name of a
prunable layer (``"layer1.0.conv1.weight"``) or :data:`NETWORK` for a network-level value, whose
``metric`` keeps the family's own key (``global`` density, ``mean_<metric>`` over layers, ...).

Family ``mask`` (per layer and network; the network's are ratios of counts summed over layers), with M_t
the kept set at step t:

* ``changed`` = |M_t \\ M_0| / |M_t|: share of the active connections that were not in the initial mask;
* ``turnover`` = |M_t \\ M_{t−1}| / |M_t|: share that is new since the previous snapshot (0 at step 0);
* ``exploration`` = |M_0 ∪ … ∪ M_t| / #weights: the fraction of weights active at some snapshot so far
  (ITOP's exploration rate R_s; equal to ``dst_log.csv``'s when every update is snapshotted).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from snntopo.errors import InvalidValueError
from snntopo.measure_plan import ENCODING_OF_FAMILY, encodings_for, families_for
from snntopo.metrics.measure import measure

COLUMNS = ("step", "family", "layer", "metric", "value")
NETWORK = "network"
MASK_FAMILY = "mask"
#: families measurable per snapshot: every per-layer family (the MGE is one slow graph per network)
TOPOLOGY_FAMILIES: tuple[str, ...] = tuple(sorted(f for f, e in ENCODING_OF_FAMILY.items() if e != "mge"))
DEFAULT_FAMILIES: tuple[str, ...] = ("density", "ramanujan", "fullspectrum", "rolled", "rolled_channel")

Snapshot = tuple[int, Mapping[str, torch.Tensor]]


def topology_over_training(
    model: nn.Module,
    snapshots: Sequence[Snapshot],
    input_shape: Sequence[int],
    *,
    families: Iterable[str] = DEFAULT_FAMILIES,
    options: Mapping[str, Any] | None = None,
    seed: int = 0,
    every: int = 1,
) -> pd.DataFrame:
    """Tidy table (:data:`COLUMNS`) of ``families`` and the ``mask`` family at every snapshot.

    ``model`` holds the initial weights (it is left unchanged); ``snapshots`` are ``(step, masks)`` in step
    order, the first one the initial mask (as :func:`snntopo.training.load_mask_snapshots` returns them);
    ``options`` are the pipeline's ``metrics`` options (``compat``, ``ramanujan_variant``). ``every``: measure
    the families at every ``every``-th snapshot only (the first and the last always); the ``mask`` family,
    cheap, is computed at every snapshot.
    """
    families = _check_families(families)
    if not snapshots:
        raise InvalidValueError("mask snapshots", [], "at least one (step, masks) pair")
    if every < 1:
        raise InvalidValueError("every", every, "an integer ≥ 1")
    frames = [mask_change_table(snapshots)]
    chosen = _every(len(snapshots), every)
    frames += [
        _measure_snapshot(model, snapshots[i], input_shape, families, options or {}, seed) for i in chosen
    ]
    table = pd.concat(frames, ignore_index=True)
    return table.sort_values(["step", "family"], kind="stable", ignore_index=True)


def _check_families(families: Iterable[str]) -> list[str]:
    families = list(families)
    wrong = [f for f in families if f not in TOPOLOGY_FAMILIES]
    if wrong:
        raise InvalidValueError("DST topology families", wrong, ", ".join(TOPOLOGY_FAMILIES))
    return families


def _every(n: int, every: int) -> list[int]:
    """Indices 0, every, 2·every, … and the last one."""
    return sorted({*range(0, n, every), n - 1})


def _measure_snapshot(
    model: nn.Module,
    snapshot: Snapshot,
    input_shape: Sequence[int],
    families: Sequence[str],
    options: Mapping[str, Any],
    seed: int,
) -> pd.DataFrame:
    """The families of one snapshot, measured as the metrics stage measures a network (scripts/measure.py):
    the masked initial weights, the initial state for distances from init."""
    from snntopo.pruning import apply_masks

    step, masks = snapshot
    init_state = {k: v.clone() for k, v in model.state_dict().items()}
    layer_names = list(_prunable_names(model))
    try:
        apply_masks(model, masks)
        rows = []
        for encoding in encodings_for(families):
            values, _, _ = measure(
                model, masks, input_shape, encoding, families_for(encoding, families),
                options=options, init_state=init_state, seed=seed,
            )  # fmt: skip
            rows += [row for family, vals in values.items() for row in _rows(step, family, vals, layer_names)]
    finally:
        model.load_state_dict(init_state)  # the next snapshot starts from the unmasked initial weights
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _prunable_names(model: nn.Module) -> list[str]:
    from snntopo.metrics.layers import layers_from_model

    return [layer.name for layer in layers_from_model(model)]


def _rows(step: int, family: str, values: Mapping[str, Any], layer_names: Sequence[str]) -> list[tuple]:
    """``L03:metric`` keys (layer index in module order) → the layer's name; other keys are network-level."""
    rows = []
    for key, value in values.items():
        layer, metric = NETWORK, key
        if key.startswith("L") and ":" in key:
            idx, metric = key[1:].split(":", 1)
            layer = layer_names[int(idx)]
        rows.append((int(step), family, layer, metric, math.nan if value is None else float(value)))
    return rows


def mask_change_table(snapshots: Sequence[Snapshot]) -> pd.DataFrame:
    """The ``mask`` family (``changed``, ``turnover``, ``exploration``) of every snapshot, per layer and for
    the network. Each layer's snapshots are stacked into one (T, n) boolean array: no loop over weights."""
    steps = np.array([int(s) for s, _ in snapshots])
    names = list(snapshots[0][1])
    counts = {name: _layer_counts([m[name] for _, m in snapshots]) for name in names}
    counts[NETWORK] = {k: sum(c[k] for c in counts.values()) for k in ("kept", "new", "fresh", "union", "n")}
    frames = []
    for layer, c in counts.items():
        with np.errstate(invalid="ignore", divide="ignore"):
            metrics = {
                "changed": c["new"] / c["kept"],
                "turnover": c["fresh"] / c["kept"],
                "exploration": c["union"] / c["n"],
            }
        for metric, values in metrics.items():
            values = np.asarray(values, dtype=np.float64)
            frames.append(
                pd.DataFrame(dict(step=steps, family=MASK_FAMILY, layer=layer, metric=metric, value=values))
            )
    return pd.concat(frames, ignore_index=True)[list(COLUMNS)]


def _layer_counts(masks: Sequence[torch.Tensor]) -> dict[str, np.ndarray]:
    """Per snapshot: kept, new vs the first (|M_t∖M_0|), fresh vs the previous (|M_t∖M_{t−1}|), union so far,
    and the layer's size."""
    stack = torch.stack([m.reshape(-1).to("cpu", torch.bool) for m in masks])  # (T, n)
    previous = torch.cat([stack[:1], stack[:-1]])  # step 0 is its own predecessor: turnover 0
    union = torch.cummax(stack.to(torch.uint8), dim=0).values.bool()
    n = np.full(len(masks), stack.shape[1], dtype=np.int64)
    return {
        "kept": stack.sum(1).numpy(),
        "new": (stack & ~stack[0]).sum(1).numpy(),
        "fresh": (stack & ~previous).sum(1).numpy(),
        "union": union.sum(1).numpy(),
        "n": n,
    }


def collect_topology(
    points: Iterable[tuple[Mapping[str, Any], pd.DataFrame]], *, network_only: bool = False
) -> pd.DataFrame:
    """One table of every DST point: each point's table with its ids (dataset, model, seed, pruner,
    sparsity) as leading columns. ``network_only`` keeps the network-level rows: a paper-sized sweep has
    hundreds of snapshots per point and ~20 times more per-layer rows, which stay in the per-point files."""
    frames = []
    for ids, table in points:
        if network_only:
            table = table[table["layer"] == NETWORK]
        frames.append(table.assign(**dict(ids))[[*ids, *COLUMNS]])
    if not frames:
        return pd.DataFrame(columns=list(COLUMNS))
    return pd.concat(frames, ignore_index=True)
