"""[NeurIPS23] full-spectrum coordinate of a layer (docs/method/metrics.md), fast enough for mask sampling.

For a layer with mask ``M`` and weights ``W`` (rolled: conv flattened to ``(C_in·k², C_out)``):

``v = (dr, lam, dr_iter, lam_iter)`` = (Ramanujan gap Δr of the pattern, weighted spectral gap
``λ = σ1(|W⊙M|) − σ2(|W⊙M|)``, their iterative means over the nested d-left-regular subgraphs, scaled by
the Cheeger-like factor), with the neurips2023 validity rules and ``inf → 0`` (:mod:`.ramanujan`).

* ``norm = ‖v‖₂`` — reading (a) of "L2 distance": distance of the coordinate from the origin; what the
  published code optimises (``total_spectrum_measurement()[0]``).
* ``dist_init = ‖v(M, W) − v(M, W_init)‖₂`` — reading (b): distance between the coordinate with the
  current weights and with the initial weights on the same mask (the structural components cancel, so it
  is the distance of the two weighted components). Only when initial weights are given.

Every block is small (≤ a few thousand × a few hundred), so everything is dense LAPACK on Gram matrices,
batched over the degree groups of a layer.
"""

from __future__ import annotations

import math

import numpy as np

from snntopo.metrics.layers import LayerSpec, as_layers
from snntopo.metrics.ramanujan import dense_biadjacency, layer_ramanujan_multi, masked_abs

COORDINATE = ("dr", "lam", "dr_iter", "lam_iter")


def _coordinate(res: dict[str, float]) -> np.ndarray:
    v = np.array(
        [res["delta_r"], res["spectral_gap"], res["imdb"], res["iter_spectral_gap"]], dtype=np.float64
    )
    v[~np.isfinite(v)] = 0.0  # the published inf_to_zero
    return v


def layer_coordinate(
    weight, mask=None, init_weight=None, encoding: str = "rolled", groups: int = 1, keep_inf: bool = False
) -> dict[str, float]:
    """``dr, lam, dr_iter, lam_iter, norm`` (and ``dist_init`` if ``init_weight`` is given) of one layer.

    ``keep_inf``: ``dr`` is the raw Δr, +inf when the layer fails the validity rule (what the published
    sampling's ``--alt`` rule compares); ``norm`` counts it as 0 either way.
    """
    X = dense_biadjacency(weight, mask, encoding, groups)
    others = []
    if init_weight is not None:
        others.append(dense_biadjacency(masked_abs(init_weight, mask), None, encoding, groups))
    results = layer_ramanujan_multi(X, others, variant="neurips2023")
    v = _coordinate(results[0])
    out = dict(zip(COORDINATE, map(float, v), strict=True))
    out["norm"] = float(np.linalg.norm(v))
    if keep_inf and not results[0]["valid"]:  # the validity rule failed: the reference's Δr is +inf
        out["dr"] = math.inf
    if init_weight is not None:
        out["dist_init"] = float(np.linalg.norm(v - _coordinate(results[1])))
    return out


def fullspectrum_metrics(layers, init_weights=None, encoding: str = "rolled") -> dict[str, float]:
    """Per layer ``L{idx:02d}:{dr,lam,dr_iter,lam_iter,norm[,dist_init]}``; network ``mean_<component>``,
    ``mean_norm`` and, with initial weights (LayerSpec.init_weight or ``init_weights[name]``), ``dist_init``
    (mean over layers of the per-layer distance)."""
    layers = as_layers(layers)
    init_weights = init_weights or {}
    rows = []
    for layer in layers:
        init = layer.init_weight if layer.init_weight is not None else init_weights.get(layer.name)
        rows.append(layer_coordinate(layer.weight, layer.mask, init, encoding, layer.groups))
    out: dict[str, float] = {}
    for i, row in enumerate(rows):
        out.update({f"L{i:02d}:{k}": v for k, v in row.items()})
    for key in (*COORDINATE, "norm"):
        vals = [row[key] for row in rows]
        out[f"mean_{key}"] = float(np.mean(vals)) if vals else math.nan
    dists = [row["dist_init"] for row in rows if "dist_init" in row]
    if dists:
        out["dist_init"] = float(np.mean(dists))
    return out


__all__ = ["COORDINATE", "LayerSpec", "fullspectrum_metrics", "layer_coordinate"]
