"""docs/method/metrics.md identities on real MGEs/BGEs from the encoding stage (skipped until it is
merged)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from snntopo import encoding, models
from snntopo.metrics import bge_topometrics, dense_biadjacency, layers_from_model, mge_topometrics
from snntopo.metrics.ramanujan import biadjacency_from_bge

pytestmark = pytest.mark.skipif(
    not (hasattr(encoding, "encode") and hasattr(models, "init_model")),
    reason="needs snntopo.encoding.encode and snntopo.models.init_model (encoding stage)",
)


def _random_masks(model, density: float, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        name: torch.rand(p.shape, generator=g) < density
        for name, p in models.prunable_parameters(model).items()
    }


@pytest.fixture(scope="module", params=["cnn", "resnet20"])
def real(request):
    shape = (1, 8, 8) if request.param == "cnn" else (3, 8, 8)
    model = models.init_model(request.param, shape, 10, seed=0)
    masks = _random_masks(model, 0.3, seed=1)
    g = encoding.encode("mge", model, masks, shape)
    return request.param, model, masks, shape, g


def test_identities_on_real_mge(real):
    _, _, _, _, g = real
    out = mge_topometrics(g, seed=0)
    n, e = g.num_vertices(), g.num_edges()
    assert out["nodes"] == n and out["edges"] == e
    assert out["1-hop_nei"] * e == pytest.approx(1 + e / n)  # no parallel edges in a correct MGE
    assert out["mean_connected_components"] == pytest.approx(1 / out["no_connected_components"])
    for k in ("sink_nodes", "source_nodes", "disc_nodes"):
        assert out[k] * n == pytest.approx(round(out[k] * n), abs=1e-6)
    for k in ("r-in", "r-out", "cut-edges", "cut-nodes"):
        assert out[k] * e == pytest.approx(round(out[k] * e), abs=1e-6)
    released = mge_topometrics(g, compat="released", seed=0)
    # released sink/source subtract the whole output/input layer; clean counts hidden nodes only
    part = g.vp["partition"].a
    n_in, n_out = int(np.sum(part == 0)), int(np.sum(part == part.max()))
    assert released["sink_nodes_raw"] >= out["sink_nodes_raw"] - n_out
    assert released["source_nodes_raw"] >= out["source_nodes_raw"] - n_in


def test_encoder_bges_match_the_weight_route(real):
    _, model, masks, shape, _ = real
    layers = layers_from_model(model, masks)
    for enc in ("rolled", "rolled_channel"):
        graphs = encoding.encode(enc, model, masks, shape)
        assert len(graphs) == len(layers)
        for layer, g in zip(layers, graphs.values(), strict=True):
            B = dense_biadjacency(layer.weight, layer.mask, enc, layer.groups)
            np.testing.assert_allclose(biadjacency_from_bge(g).toarray(), B, rtol=1e-6, atol=1e-7)
        first = next(iter(graphs.values()))
        assert set(bge_topometrics(first)) >= {"cut-edges", "spectral_radius"}
