"""Ramanujan metrics (docs/method/metrics.md): closed forms, variant rules, encodings, spectral oracles."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy.sparse.linalg import eigsh

from snntopo.errors import InvalidValueError
from snntopo.metrics import ramanujan
from snntopo.metrics.ramanujan import (
    LAYER_KEYS,
    VARIANTS,
    biadjacency_from_bge,
    biadjacency_from_weight,
    dense_biadjacency,
    layer_ramanujan,
)
from snntopo.metrics.topometrics import bge_graph


def _published_mu(S: np.ndarray) -> tuple[float, float]:
    """The published recipe: eigsh(k=3, 'LM') on the symmetric 0/1 adjacency, magnitudes sorted."""
    S = S[S.any(1)][:, S.any(0)]
    n_l, n_r = S.shape
    A = sp.bmat([[None, sp.csr_matrix(S)], [sp.csr_matrix(S.T), None]]).astype(np.float64)
    vals = eigsh(A, k=3, which="LM", v0=np.ones(n_l + n_r), tol=1e-12, return_eigenvectors=False)
    mags = np.sort(np.abs(vals))[::-1]
    return mags[0], mags[2]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize(("a", "b"), [(3, 3), (5, 8), (9, 4)])
def test_complete_bipartite(variant, a, b):
    r = layer_ramanujan(np.ones((a, b)), variant)
    assert set(r) == set(LAYER_KEYS)
    assert r["d_left"] == b and r["d_right"] == a
    assert r["mu0"] == pytest.approx(math.sqrt(a * b))
    assert r["mu_hat"] == pytest.approx(0.0, abs=1e-6)
    assert r["delta_r"] == pytest.approx(math.sqrt(b - 1) + math.sqrt(a - 1), abs=1e-6)
    assert r["delta_r_norm"] == pytest.approx(1.0, abs=1e-6)
    assert r["expansion_ratio"] == pytest.approx(b / a)
    assert r["spectral_gap"] == pytest.approx(math.sqrt(a * b), abs=1e-6)  # unit weights: λ = μ0
    assert r["valid"] == 1.0 and r["is_ramanujan"] == 1.0
    # all left nodes have degree b: one d-left-regular subgraph, the layer itself
    assert r["n_subgraphs"] == 1
    if variant != "neurips2023":
        assert r["imdb"] == pytest.approx(r["delta_r"]) and r["imdb_norm"] == pytest.approx(1.0, abs=1e-6)
        assert r["iter_spectral_gap"] == pytest.approx(r["spectral_gap"])
    else:  # NeurIPS scales by c = max(n_in, n_out) / (n_in + n_out − 1)
        c = max(a, b) / (a + b - 1)
        assert r["imdb"] == pytest.approx(c * r["delta_r"]) and r["iter_spectral_gap"] == pytest.approx(
            c * r["spectral_gap"]
        )


def test_delta_s_and_narc_closed_forms():
    a, b = 5, 8
    r = layer_ramanujan(np.ones((a, b)), "iclr2023")
    mu0 = math.sqrt(a * b)
    assert r["delta_s"] == pytest.approx(2 * math.sqrt(mu0 - 1), abs=1e-6)
    assert r["delta_s_norm"] == pytest.approx(1.0, abs=1e-6)
    e = a * b  # dim_in = a, dim_out = b; E − d_L·n_L·n_R/dim_out = 0
    assert r["narc"] == pytest.approx(math.sqrt(a * b) / (a * b), abs=1e-7)
    released = layer_ramanujan(np.ones((a, b)), "iclr2023", "released")  # E' = 2|E|
    assert released["narc"] == pytest.approx((math.sqrt(a * b) - e) / (a * b), abs=1e-7)


def test_random_d_left_regular_layer_has_one_subgraph_equal_to_the_whole():
    rng = np.random.default_rng(0)
    n_l, n_r, d = 40, 25, 6
    S = np.zeros((n_l, n_r))
    for i in range(n_l):  # d distinct right neighbours per left node
        S[i, rng.choice(n_r, d, replace=False)] = 1.0
    for variant in ("iclr2023", "mge"):
        r = layer_ramanujan(S, variant)
        assert r["n_subgraphs"] == 1
        assert r["imdb"] == pytest.approx(r["delta_r"]) and r["imdb_norm"] == pytest.approx(r["delta_r_norm"])
        assert r["d_left"] == d
    mu0, mu2 = _published_mu(S)  # oracle: the published eigsh recipe on the full adjacency
    r = layer_ramanujan(S, "iclr2023")
    assert r["mu0"] == pytest.approx(mu0, rel=1e-9) and r["mu_hat"] == pytest.approx(mu2, rel=1e-7)


def test_low_degree_layers_invalid_none_or_zero():
    S = np.zeros((10, 6))
    S[np.arange(10), np.arange(10) % 6] = 1.0  # d_L = 1 < 3
    S[0, 1] = 1.0
    iclr = layer_ramanujan(S, "iclr2023")
    neur = layer_ramanujan(S, "neurips2023")
    assert iclr["valid"] == 0 and math.isnan(iclr["delta_r"]) and math.isnan(iclr["delta_r_norm"])
    assert math.isnan(iclr["imdb"]) and math.isnan(iclr["spectral_gap"])
    assert neur["valid"] == 0 and neur["delta_r"] == 0.0 and neur["imdb"] == 0.0 and neur["spectral_gap"] == 0
    # the structural description is still reported
    assert iclr["edges"] == 11 and iclr["n_left"] == 10 and iclr["n_right"] == 6
    # MGE variant: no validity check on the whole layer (its `degree_bound`), a number
    mge = layer_ramanujan(S, "mge")
    assert mge["valid"] == 1 and np.isfinite(mge["delta_r_norm"])
    # both mean degrees 1 → ub_r = 0: clean NaN, released divides as is (−inf as in the released CSV)
    eye = np.eye(4)
    assert math.isnan(layer_ramanujan(eye, "mge")["delta_r_norm"])
    assert layer_ramanujan(eye + np.diag(np.ones(3), 1) * 0, "mge", "released")["delta_r_norm"] in (
        -math.inf,
    ) or math.isnan(layer_ramanujan(eye, "mge", "released")["delta_r_norm"])


def test_variant_subgraph_selection_rules():
    # left degree groups: degree 4 × 2 nodes, degree 3 × 3 nodes, degree 1 × 4 nodes (12 right nodes)
    S = np.zeros((9, 12))
    S[0, [0, 1, 2, 3]] = S[1, [4, 5, 6, 7]] = 1
    S[2, [0, 4, 8]] = S[3, [1, 5, 9]] = S[4, [2, 6, 10]] = 1
    S[5:, 11] = 1
    iclr = layer_ramanujan(S, "iclr2023")  # groups with count ≥ 3: d=3 (d_R = 9/9 = 1 → invalid), d=1
    mge = layer_ramanujan(S, "mge")  # groups with d ≥ 3: d=4 (d_R 1), d=3 (d_R 1) → none valid
    neur = layer_ramanujan(S, "neurips2023")  # count ≥ 2: d=4, 3, 1; valid d ≥ 3 and d_R > 1: none
    assert iclr["n_subgraphs"] == mge["n_subgraphs"] == neur["n_subgraphs"] == 0
    assert math.isnan(iclr["imdb"]) and math.isnan(mge["imdb"]) and neur["imdb"] == 0.0
    # a layer where the rules disagree: 3 left nodes of degree 3 on 3 right nodes (K_{3,3}), plus two
    # left nodes of degree 4 on 4 right nodes (d_R = 2) → NeurIPS keeps it (d_R > 1), ICLR/MGE do not
    T = np.zeros((5, 7))
    T[:3, :3] = 1
    T[3:, 3:] = 1
    assert layer_ramanujan(T, "iclr2023")["n_subgraphs"] == 1  # the degree-4 group has count 2 < 3
    assert layer_ramanujan(T, "mge")["n_subgraphs"] == 1  # degree-4 group: d_R = 2 < 3
    assert layer_ramanujan(T, "neurips2023")["n_subgraphs"] == 2


def test_rank_one_weights_spectral_gap():
    rng = np.random.default_rng(1)
    u, v = rng.random(30) + 0.1, rng.random(20) + 0.1
    r = layer_ramanujan(np.outer(u, v), "iclr2023")
    assert r["spectral_gap"] == pytest.approx(np.linalg.norm(u) * np.linalg.norm(v), rel=1e-9)
    assert r["iter_spectral_gap"] == pytest.approx(r["spectral_gap"])  # one degree group


def test_weighted_gap_matches_published_recipe_on_random_layer():
    rng = np.random.default_rng(2)
    X = np.abs(rng.standard_normal((72, 16))) * (rng.random((72, 16)) < 0.4)
    A = sp.bmat([[None, sp.csr_matrix(X)], [sp.csr_matrix(X.T), None]])
    vals = np.sort(np.abs(eigsh(A, k=3, which="LM", tol=1e-12, return_eigenvectors=False)))[::-1]
    r = layer_ramanujan(X, "mge")
    assert r["spectral_gap"] == pytest.approx(vals[0] - vals[2], rel=1e-8)


def test_sparse_path_equals_dense_path(monkeypatch):
    rng = np.random.default_rng(3)
    X = np.abs(rng.standard_normal((300, 40))) * (rng.random((300, 40)) < 0.2)
    dense = layer_ramanujan(X, "iclr2023")
    monkeypatch.setattr(ramanujan, "DENSE_MAX_ENTRIES", 10)
    monkeypatch.setattr(ramanujan.spectral, "DENSE_MAX", 5)
    sparse = layer_ramanujan(sp.csr_matrix(X), "iclr2023")
    for key in LAYER_KEYS:
        assert sparse[key] == pytest.approx(dense[key], rel=1e-6, abs=1e-6, nan_ok=True), key


def test_mge_released_rounds_weights_to_float16():
    X = np.full((4, 4), 0.1)
    X[0, 0] = 0.3
    clean = layer_ramanujan(X, "mge")
    rel = layer_ramanujan(X, "mge", "released")
    X16 = X.astype(np.float16).astype(np.float64)
    assert rel["spectral_gap"] == pytest.approx(layer_ramanujan(X16, "mge")["spectral_gap"])
    assert rel["spectral_gap"] != clean["spectral_gap"]


def test_bad_options():
    with pytest.raises(InvalidValueError):
        layer_ramanujan(np.ones((3, 3)), "iclr")
    with pytest.raises(InvalidValueError):
        layer_ramanujan(np.ones((3, 3)), "mge", "paper")
    with pytest.raises(InvalidValueError):
        layer_ramanujan(np.ones((3, 3, 3)), "mge")


# ------------------------------------------------------------------------------------------------
# encodings
# ------------------------------------------------------------------------------------------------


def test_rolled_and_rolled_channel_shapes_and_values():
    torch.manual_seed(0)
    w = torch.randn(16, 3, 3, 3)
    m = torch.rand(16, 3, 3, 3) < 0.4
    B = biadjacency_from_weight(w, m, "rolled")
    assert B.shape == (27, 16) and B.nnz == int(m.sum())  # 27 + 16 = 43 nodes (docs/method/encodings.md)
    # column f = c·k·k + r·k + s of the left side, right = output channel
    assert B[1 * 9 + 2 * 3 + 0, 5] == pytest.approx(abs(float(w[5, 1, 2, 0])) * bool(m[5, 1, 2, 0]))
    C = biadjacency_from_weight(w, m, "rolled_channel")
    assert C.shape == (3, 16)  # 3 + 16 = 19 nodes (§1.2 oracle), ≤ 48 edges
    expected = torch.linalg.vector_norm((w * m).abs(), dim=(2, 3)).T.numpy()
    np.testing.assert_allclose(C.toarray(), expected, rtol=1e-6)
    lin = biadjacency_from_weight(torch.ones(10, 7), None, "rolled_channel")
    assert lin.shape == (7, 10) and lin.nnz == 70


def test_depthwise_and_grouped_rolled_channel():
    w = torch.randn(8, 1, 3, 3)
    D = dense_biadjacency(w, None, "rolled_channel", groups=8)
    np.testing.assert_allclose(np.diag(D), torch.linalg.vector_norm(w, dim=(1, 2, 3)).numpy(), rtol=1e-6)
    assert np.count_nonzero(D) == 8
    assert dense_biadjacency(w, None, "rolled", groups=8).shape == (9, 8)  # rolled ignores groups
    with pytest.raises(InvalidValueError):
        dense_biadjacency(torch.randn(8, 2, 3, 3), None, "rolled_channel", groups=4)
    with pytest.raises(InvalidValueError):
        dense_biadjacency(w, None, "unrolled")
    with pytest.raises(InvalidValueError):
        dense_biadjacency(w, torch.ones(8, 1, 3), "rolled")


def test_biadjacency_from_bge_matches_weight_route():
    rng = np.random.default_rng(4)
    w = rng.standard_normal((6, 4, 3, 3)) * (rng.random((6, 4, 3, 3)) < 0.5)
    B = biadjacency_from_weight(w, None, "rolled")
    G = biadjacency_from_bge(bge_graph(B, "conv"))
    np.testing.assert_allclose(G.toarray(), B.toarray())
    assert layer_ramanujan(G, "iclr2023") == pytest.approx(layer_ramanujan(B, "iclr2023"), nan_ok=True)
