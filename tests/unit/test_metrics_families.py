"""Registry, per-layer tables, network means, density and the full-spectrum coordinate."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from snntopo.errors import UnknownNameError
from snntopo.metrics import (
    METRICS,
    LayerSpec,
    as_layers,
    compute,
    fullspectrum_metrics,
    layer_coordinate,
    layer_ramanujan,
    layers_from_model,
    network_means,
    per_layer_table,
)
from snntopo.metrics.ramanujan import dense_biadjacency
from snntopo.metrics.topometrics import BGE_METRICS, bge_graph


def _layers(seed: int = 0, density: float = 0.4) -> list[LayerSpec]:
    g = torch.Generator().manual_seed(seed)
    shapes = {"conv1.weight": (16, 3, 3, 3), "conv2.weight": (32, 16, 3, 3), "fc.weight": (10, 32)}
    out = []
    for name, shape in shapes.items():
        w = torch.randn(shape, generator=g)
        m = torch.rand(shape, generator=g) < density
        out.append(LayerSpec(name, w, m))
    return out


def test_registry_names_and_unknown():
    assert {"mge", "rolled", "rolled_channel", "ramanujan", "fullspectrum", "density"} <= set(METRICS.names())
    with pytest.raises(UnknownNameError, match="ramanujan"):
        compute("ramanujann", _layers())


def test_density_family_closed_form():
    layers = [
        ("a", torch.ones(4, 5), torch.tensor([[1, 0, 0, 0, 0]] * 4, dtype=torch.bool)),
        ("b", torch.ones(6)),
    ]
    out = compute("density", layers)
    assert out == {"L00:density": 0.2, "L01:density": 1.0, "global": (4 + 6) / (20 + 6)}


def test_ramanujan_family_keys_and_network_means():
    layers = _layers()
    out = compute("ramanujan", layers, variant="iclr2023")
    df = per_layer_table(layers, "ramanujan", variant="iclr2023")
    assert list(df["layer_name"]) == [layer.name for layer in layers]
    assert out["L01:delta_r_norm"] == pytest.approx(df.loc[1, "delta_r_norm"])
    assert "L02:imdb" in out and "mean_delta_r_norm" in out
    direct = layer_ramanujan(dense_biadjacency(layers[0].weight, layers[0].mask), "iclr2023")
    assert out["L00:imdb"] == pytest.approx(direct["imdb"], nan_ok=True)


def test_network_means_skip_invalid_layers():
    df = pd.DataFrame(
        {
            "layer_idx": [0, 1, 2],
            "layer_name": ["a", "b", "c"],
            "x": [1.0, math.nan, 3.0],
            "y": [math.nan] * 3,
        }
    )
    means = network_means(df)
    assert means["mean_x"] == 2.0 and math.isnan(means["mean_y"]) and "mean_layer_idx" not in means


def test_bge_families_from_layers_or_graphs():
    layers = _layers()
    out = compute("rolled", layers)
    assert {f"L00:{k}" for k in BGE_METRICS} <= set(out) and "mean_k-core" in out
    graphs = [bge_graph(dense_biadjacency(x.weight, x.mask, "rolled_channel"), x.name) for x in layers]
    via_graphs = compute("rolled_channel", graphs)
    assert via_graphs == pytest.approx(compute("rolled_channel", layers))
    # rolled-channel BGE of conv1: 3 + 16 nodes
    g = graphs[0]
    assert g.num_vertices() == 19 and g.num_edges() <= 48


def test_fullspectrum_coordinate_matches_neurips_variant_and_norm():
    layer = _layers()[1]
    c = layer_coordinate(layer.weight, layer.mask)
    r = layer_ramanujan(dense_biadjacency(layer.weight, layer.mask), "neurips2023")
    v = np.array([r["delta_r"], r["spectral_gap"], r["imdb"], r["iter_spectral_gap"]])
    assert [c["dr"], c["lam"], c["dr_iter"], c["lam_iter"]] == pytest.approx(list(v))
    assert c["norm"] == pytest.approx(np.linalg.norm(v))
    assert "dist_init" not in c


def test_fullspectrum_distance_from_init():
    layer = _layers()[1]
    same = layer_coordinate(layer.weight, layer.mask, init_weight=layer.weight)
    assert same["dist_init"] == pytest.approx(0.0, abs=1e-12)
    doubled = layer_coordinate(layer.weight * 2, layer.mask, init_weight=layer.weight)
    # scaling the weights scales λ and λ_iter; the structural components are identical
    assert doubled["lam"] == pytest.approx(2 * same["lam"])
    expected = math.hypot(doubled["lam"] - same["lam"], doubled["lam_iter"] - same["lam_iter"])
    assert doubled["dist_init"] == pytest.approx(expected)
    net = fullspectrum_metrics(
        [LayerSpec(x.name, x.weight * 2, x.mask, init_weight=x.weight) for x in _layers()]
    )
    assert net["dist_init"] == pytest.approx(np.mean([net[f"L{i:02d}:dist_init"] for i in range(3)]))
    assert net["mean_norm"] == pytest.approx(np.mean([net[f"L{i:02d}:norm"] for i in range(3)]))


def test_fullspectrum_invalid_layers_are_zero():
    w = torch.randn(8, 4)
    m = torch.zeros(8, 4, dtype=torch.bool)
    m[0, 0] = True  # a single edge: d_L = d_R = 1
    c = layer_coordinate(w, m)
    assert c == {"dr": 0.0, "lam": 0.0, "dr_iter": 0.0, "lam_iter": 0.0, "norm": 0.0}


def test_layers_from_model_and_as_layers():
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3, groups=8), nn.Flatten(), nn.Linear(8, 2)
    )
    masks = {"0.weight": torch.ones(8, 3, 3, 3, dtype=torch.bool)}
    layers = layers_from_model(model, masks)
    assert [x.name for x in layers] == ["0.weight", "2.weight", "4.weight"]
    assert layers[1].groups == 8 and layers[0].mask is masks["0.weight"] and layers[2].mask is None
    out = compute("rolled_channel", layers)  # depthwise conv → diagonal rolled-channel BGE
    assert out["L01:k-core"] == pytest.approx(1.0)
    assert as_layers({"a": (torch.ones(2, 2), None)})[0].name == "a"
    with pytest.raises(Exception, match="layer"):
        as_layers([42])
