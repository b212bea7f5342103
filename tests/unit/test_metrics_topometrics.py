"""MGE / BGE topometrics: closed forms, networkx and LAPACK oracles, docs/method/metrics.md identities."""

from __future__ import annotations

import itertools
import math

import graph_tool as gt
import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
from graph_tool import clustering
from threadpoolctl import threadpool_limits

from snntopo.errors import InvalidValueError
from snntopo.metrics import spectral, synthetic, topometrics
from snntopo.metrics.topometrics import (
    BGE_METRICS,
    MGE_METRICS,
    GraphArrays,
    bge_graph,
    bge_topometrics,
    connected_4sets_per_vertex,
    mge_topometrics,
    motif_estimate,
    neighbourhood_sizes,
)


def _graph(n: int, edges, weights=None, partitions=None) -> gt.Graph:
    """A contract-like directed graph from an edge list (partition 0 / last as given, else all hidden)."""
    g = gt.Graph(directed=True)
    g.add_vertex(n)
    w = g.new_ep("double")
    e = np.asarray(edges, dtype=np.float64).reshape(-1, 2)
    ws = np.ones(len(e)) if weights is None else np.asarray(weights, dtype=np.float64)
    g.add_edge_list(np.column_stack([e, ws]), eprops=[w])
    g.ep["weight"] = w
    part = g.new_vp("int32_t")
    part.a[:] = partitions if partitions is not None else 1
    g.vp["partition"] = part
    return g


def _nx(g: gt.Graph) -> nx.DiGraph:
    G = nx.DiGraph()
    G.add_nodes_from(range(g.num_vertices()))
    G.add_edges_from(map(tuple, g.get_edges()))
    return G


def _raw(g, **kw):
    out = mge_topometrics(g, **kw)
    return {k[:-4]: v for k, v in out.items() if k.endswith("_raw")}


# ------------------------------------------------------------------------------------------------
# closed forms
# ------------------------------------------------------------------------------------------------


def test_path_closed_forms():
    n = 6
    g = _graph(n, [(i, i + 1) for i in range(n - 1)], partitions=np.arange(n))
    r = _raw(g, motif_fraction=1.0)
    assert r["cut-edges"] == n - 1  # every edge of a tree is a bridge
    assert r["cut-nodes"] == n - 2  # every inner vertex
    assert r["no_connected_components"] == 1 and r["mean_connected_components"] == n
    assert r["k-core"] == 1
    assert r["motif"] == n - 3  # connected 4-sets of a path = its 4-vertex windows
    assert r["1-hop_nei"] == pytest.approx((2 * (n - 1) + 1) / n)
    assert r["2-hop_nei"] == pytest.approx((3 * (n - 2) + 2 + 1) / n)
    assert r["avg_node_strength"] == pytest.approx(2 * (n - 1) / n)
    # adjacency of P_n: 2cos(πk/(n+1)); Laplacian: 2 − 2cos(πk/n)
    assert r["spectral_gap"] == pytest.approx(
        2 * math.cos(math.pi / (n + 1)) - 2 * math.cos(2 * math.pi / (n + 1))
    )
    assert r["spectral_radius"] == pytest.approx(2 - 2 * math.cos(math.pi * (n - 1) / n))


def test_star_closed_forms():
    m = 5  # centre 0 → m leaves
    g = _graph(m + 1, [(0, i) for i in range(1, m + 1)], weights=np.full(m, 2.0), partitions=[0] + [1] * m)
    r = _raw(g, motif_fraction=1.0)
    assert r["cut-edges"] == m and r["cut-nodes"] == 1
    assert r["k-core"] == 1 and r["no_connected_components"] == 1
    assert r["motif"] == math.comb(m, 3)  # centre + any 3 leaves
    assert r["avg_node_strength"] == pytest.approx(2 * 2.0 * m / (m + 1))
    assert r["spectral_gap"] == pytest.approx(2.0 * math.sqrt(m))  # eigenvalues ±2√m and 0
    assert r["spectral_radius"] == pytest.approx(2.0 * (m + 1))  # Laplacian of K_{1,m}: m + 1, times w


def test_two_disjoint_triangles():
    g = _graph(6, [(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5)])
    r = _raw(g, motif_fraction=1.0)
    assert r["cut-edges"] == 0 and r["cut-nodes"] == 0
    assert r["no_connected_components"] == 2 and r["mean_connected_components"] == 3
    assert r["k-core"] == 2
    assert r["motif"] == 0
    assert r["spectral_gap"] == pytest.approx(0.0, abs=1e-12)  # λ1 = λ2 = 2 (one per triangle)
    assert r["spectral_radius"] == pytest.approx(3.0)


def test_complete_bipartite_bge():
    a, b = 4, 6
    g = bge_graph(np.ones((a, b)), "kab")
    r = bge_topometrics(g)
    assert set(r) == set(BGE_METRICS)
    assert r["cut-edges"] == 0 and r["cut-nodes"] == 0
    assert r["k-core"] == min(a, b)
    assert r["motif"] == math.comb(a + b, 4) - math.comb(a, 4) - math.comb(b, 4)
    assert r["1-hop_nei"] == pytest.approx((a * (1 + b) + b) / (a + b))
    assert r["spectral_gap"] == pytest.approx(math.sqrt(a * b))
    assert r["spectral_radius"] == pytest.approx(a + b)
    assert r["no_connected_components"] == 1 and r["mean_connected_components"] == a + b


# ------------------------------------------------------------------------------------------------
# local connectivity: clean vs released (docs/method/metrics.md)
# ------------------------------------------------------------------------------------------------


def test_local_connectivity_clean_and_released():
    # partitions: inputs {0,1,2}, hidden {3,4,5,6}, outputs {7,8}
    part = [0, 0, 0, 1, 1, 1, 1, 2, 2]
    edges = [(0, 3), (1, 3), (0, 4), (3, 7), (5, 8), (6, 7)]
    # 2 is a disconnected input; 4 is a hidden sink (indeg 1); 5, 6 are hidden sources (outdeg 1 each)
    g = _graph(9, edges, partitions=part)
    clean = _raw(g)
    assert clean["sink_nodes"] == 1 and clean["r-out"] == 1
    assert clean["source_nodes"] == 2 and clean["r-in"] == 2
    assert clean["disc_nodes"] == 0
    rel = _raw(g, compat="released")
    # all sinks (outdeg 0, indeg > 0): 4, 7, 8 → 3 − n_out(2); sources: 0, 1, 5, 6 → 4 − n_in(3)
    assert rel["sink_nodes"] == 1 and rel["source_nodes"] == 1 and rel["disc_nodes"] == 1
    # r-out: sinks with index < N − 1 − n_out = 6 → only 4; r-in: sources with index > n_in = 3 → 5, 6
    assert rel["r-out"] == 1 and rel["r-in"] == 2
    # the off-by-ones show when the boundary nodes are involved: make 6 a sink and 3 a source
    g2 = _graph(9, [(0, 4), (3, 4), (4, 7), (5, 6), (1, 6), (5, 8)], partitions=part)
    c2, r2 = _raw(g2), _raw(g2, compat="released")
    assert c2["sink_nodes"] == 1 and c2["r-out"] == 2  # node 6 (index N−1−n_out) is a clean sink
    assert r2["r-out"] == 0  # ... excluded by `index < N − 1 − n_out`
    assert c2["source_nodes"] == 2 and c2["r-in"] == 3  # 3 (index n_in) and 5
    assert r2["r-in"] == 2  # node 3 excluded by `index > n_in`


def test_mge_needs_partitions():
    g = gt.Graph(directed=True)
    g.add_vertex(3)
    g.add_edge_list([(0, 1), (1, 2)])
    with pytest.raises(InvalidValueError):
        mge_topometrics(g)
    with pytest.raises(InvalidValueError):
        mge_topometrics(_graph(2, [(0, 1)]), compat="paper")


# ------------------------------------------------------------------------------------------------
# cross-checks against networkx on random graphs (~10^4 edges)
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dense_dag():
    g = synthetic.layered_dag([300, 400, 400, 300, 200], p_edge=0.02, p_skip=0.002, seed=1)
    assert 9_000 < g.num_edges() < 12_000
    w = g.ep["weight"]
    w.a = w.a.astype(np.float16).astype(np.float64)  # exact in both compat modes
    return g


@pytest.fixture(scope="module")
def sparse_dag():
    # average degree ~2: many bridges, articulation points and components
    g = synthetic.layered_dag([500, 600, 600, 500], p_edge=0.0018, p_skip=0.0004, seed=2)
    return g


@pytest.mark.parametrize("which", ["dense_dag", "sparse_dag"])
def test_against_networkx(which, request):
    g = request.getfixturevalue(which)
    D = _nx(g)
    U = D.to_undirected()
    r = _raw(g)
    assert r["cut-edges"] == sum(1 for _ in nx.bridges(U))
    assert r["cut-nodes"] == sum(1 for _ in nx.articulation_points(U))
    assert r["no_connected_components"] == nx.number_connected_components(U)
    core = nx.core_number(D)  # directed: in + out degree, as igraph coreness(mode='all')
    assert r["k-core"] == pytest.approx(np.mean(list(core.values())))
    one, two = neighbourhood_sizes(GraphArrays(g).out_adjacency, 2, chunk_nnz=5000)
    sizes2 = np.array([len(nx.single_source_shortest_path_length(D, v, cutoff=2)) for v in D])
    sizes1 = np.array([len(nx.single_source_shortest_path_length(D, v, cutoff=1)) for v in D])
    np.testing.assert_array_equal(two, sizes2)
    np.testing.assert_array_equal(one, sizes1)
    assert r["2-hop_nei"] == pytest.approx(sizes2.mean())
    assert r["1-hop_nei"] == pytest.approx(sizes1.mean())
    w = g.ep["weight"].a
    assert r["avg_node_strength"] == pytest.approx(2 * w.sum() / g.num_vertices())


def test_spectra_against_eigvalsh():
    # ~10^4 edges on 800 vertices, skip edges (not bipartite), float16-exact weights (released rounds)
    g = synthetic.layered_dag([150, 200, 200, 150, 100], p_edge=0.08, p_skip=0.005, seed=6)
    assert 9_000 < g.num_edges() < 12_000
    w = g.ep["weight"]
    w.a = w.a.astype(np.float16).astype(np.float64)
    edges = g.get_edges([g.ep["weight"]])
    n = g.num_vertices()
    W = np.zeros((n, n))
    np.add.at(W, (edges[:, 0].astype(int), edges[:, 1].astype(int)), edges[:, 2])
    A = W + W.T
    with threadpool_limits(1):  # the CI machine has about one core
        ev = np.linalg.eigvalsh(A)
        lap = np.linalg.eigvalsh(np.diag(A.sum(1)) - A)
    mags = np.sort(np.abs(ev))[::-1]
    assert g.num_vertices() > spectral.DENSE_MAX  # the ARPACK path (LAPACK path: small graphs above)
    clean = _raw(g)
    rel = _raw(g, compat="released")
    assert clean["spectral_gap"] == pytest.approx(ev[-1] - ev[-2], rel=1e-7)
    assert rel["spectral_gap"] == pytest.approx(mags[0] - mags[2], rel=1e-5)
    assert clean["spectral_radius"] == pytest.approx(lap[-1], rel=1e-7)


def test_clean_and_released_gap_agree_on_bipartite_graphs():
    g = synthetic.layered_dag([30, 40, 40, 30], p_edge=0.2, seed=3)
    w = g.ep["weight"]
    w.a = w.a.astype(np.float16).astype(np.float64)  # released mode rounds weights to float16
    assert GraphArrays(g).is_bipartite
    assert _raw(g)["spectral_gap"] == pytest.approx(_raw(g, compat="released")["spectral_gap"], rel=1e-6)


def test_parallel_and_mutual_edges_clean_sums_released_takes_first():
    # edges in insertion order: 0→1 (w 1), 1→0 (w 2), 0→1 (w 4), 1→2 (w 0.5)
    g = _graph(3, [(0, 1), (1, 0), (0, 1), (1, 2)], weights=[1.0, 2.0, 4.0, 0.5])
    clean, rel = GraphArrays(g), GraphArrays(g, "released")
    Ac = clean.adjacency_operator[0].dense(np.arange(3))
    Ar = rel.adjacency_operator[0].dense(np.arange(3))
    assert Ac[0, 1] == Ac[1, 0] == 7.0 and Ac[1, 2] == 0.5
    assert Ar[0, 1] == Ar[1, 0] == 1.0 and Ar[1, 2] == 0.5
    assert clean.total_weight == 7.5 and rel.total_weight == 1.0 + 2.0 + 4.0 + 0.5
    # float16 rounding in released mode
    g16 = _graph(2, [(0, 1)], weights=[0.1])
    assert GraphArrays(g16, "released").total_weight == float(np.float16(0.1))
    # the structure is simple in both modes
    assert clean.undirected.nnz == 4 and _raw(g)["1-hop_nei"] == pytest.approx((2 + 3 + 1) / 3)


@pytest.mark.parametrize(
    "edges,free",
    [
        ([(0, 1), (1, 2), (0, 2)], True),  # forward edges only (as every MGE): nothing to merge
        ([(0, 1), (1, 0), (1, 2)], False),  # reciprocal pair
        ([(0, 1), (0, 1), (1, 2)], False),  # parallel edges
        ([(0, 1), (1, 1)], False),  # self-loop
        ([(2, 1), (1, 0)], False),  # backward edges: the O(E) test is only sufficient, so merge exactly
    ],
)
def test_released_skips_the_merge_only_when_it_changes_nothing(edges, free):
    w = [0.1, 0.2, 0.3][: len(edges)]
    ga = GraphArrays(_graph(3, edges, weights=w), "released")
    assert ga.merge_free is free
    # either path gives the first-merged float16 adjacency
    A = ga.adjacency_operator[0].dense(np.arange(3))
    np.testing.assert_array_equal(A, ga._first_merged_adjacency().toarray())


# ------------------------------------------------------------------------------------------------
# motifs
# ------------------------------------------------------------------------------------------------


def _brute_connected_4sets(g: gt.Graph) -> tuple[int, np.ndarray]:
    U = _nx(g).to_undirected()
    per = np.zeros(g.num_vertices(), dtype=np.int64)
    total = 0
    for s in itertools.combinations(U.nodes, 4):
        if nx.is_connected(U.subgraph(s)):
            total += 1
            per[list(s)] += 1
    return total, per


@pytest.mark.parametrize("p_skip", [0.0, 0.2])
def test_motif_counts_brute_force_and_graph_tool(p_skip):
    g = synthetic.layered_dag([5, 6, 6, 5], 0.3, p_skip, seed=3)
    ga = GraphArrays(g)
    total, per = _brute_connected_4sets(g)
    assert ga.is_bipartite == (p_skip == 0.0)
    per_vertex = connected_4sets_per_vertex(ga.undirected, np.arange(g.num_vertices()), ga.is_bipartite)
    np.testing.assert_array_equal(per_vertex, per)
    if ga.is_bipartite:  # the vectorised all-vertex form
        np.testing.assert_array_equal(connected_4sets_per_vertex(ga.undirected, None, True), per)
    _, counts = clustering.motifs(gt.GraphView(g, directed=False), 4)  # second library
    assert sum(counts) == total
    assert motif_estimate(ga.undirected, 1.0, 0)[0] == total


def test_motif_estimate_is_seeded_and_unbiased():
    ga = GraphArrays(synthetic.layered_dag([200, 300, 300, 200], p_edge=0.02, seed=4))
    U = ga.undirected
    exact = connected_4sets_per_vertex(U, None, ga.is_bipartite).sum() / 4
    a = motif_estimate(U, 0.02, seed=7, bipartite=ga.is_bipartite)
    assert 0 < a.samples <= int(0.02 * U.shape[0])
    assert motif_estimate(U, 0.02, seed=7, bipartite=ga.is_bipartite) == a
    ests = [motif_estimate(U, 0.02, seed=k, bipartite=ga.is_bipartite).value for k in range(12)]
    sem = np.std(ests, ddof=1) / np.sqrt(len(ests))
    assert abs(np.mean(ests) - exact) < 4 * sem + 1e-9 * exact


def test_motif_non_bipartite_exact_equals_bruteforce_per_vertex_random():
    rng = np.random.default_rng(0)
    n = 14
    e = rng.integers(0, n, (30, 2))
    e = e[e[:, 0] != e[:, 1]]
    g = _graph(n, e)  # random directed multigraph with mutual/parallel edges and triangles
    total, per = _brute_connected_4sets(g)
    ga = GraphArrays(g)
    np.testing.assert_array_equal(connected_4sets_per_vertex(ga.undirected, np.arange(n), False), per)
    assert _raw(g, motif_fraction=1.0)["motif"] == total


# ------------------------------------------------------------------------------------------------
# docs/method/metrics.md identities and output format
# ------------------------------------------------------------------------------------------------


def test_method_identities_on_layered_dag_with_skip_edges(dense_dag):
    out = mge_topometrics(dense_dag, seed=3)
    n, e = dense_dag.num_vertices(), dense_dag.num_edges()
    assert set(MGE_METRICS) <= set(out) and all(f"{k}_raw" in out for k in MGE_METRICS)
    assert out["nodes"] == n and out["edges"] == e
    assert out["1-hop_nei"] * e == pytest.approx(1 + e / n)
    assert out["mean_connected_components"] == pytest.approx(1 / out["no_connected_components"])
    for k in ("sink_nodes", "source_nodes", "disc_nodes"):
        assert out[k] * n == pytest.approx(round(out[k] * n), abs=1e-6)
    for k in ("r-in", "r-out", "cut-edges", "cut-nodes"):
        assert out[k] * e == pytest.approx(round(out[k] * e), abs=1e-6)
    for k in MGE_METRICS:
        div = topometrics.NORMALISATION[k]
        expected = out[f"{k}_raw"] / (n if div == "N" else e if div == "E" else 1)
        assert out[k] == pytest.approx(expected)


def test_profile_records_every_step(dense_dag):
    prof: dict = {}
    mge_topometrics(dense_dag, profile=prof)
    assert {"cuts", "neighbourhood", "motif", "spectral"} <= set(prof)
    assert all(v["seconds"] >= 0 for v in prof.values())


def test_method_identities_on_a_conv_mge():
    g = synthetic.conv_mge(0.01, seed=2, layers=synthetic.conv6_layers(image_size=8))
    out = mge_topometrics(g)
    n, e = g.num_vertices(), g.num_edges()
    assert out["1-hop_nei"] * e == pytest.approx(1 + e / n)
    assert out["mean_connected_components"] == pytest.approx(1 / out["no_connected_components"])
    assert out["sink_nodes"] * n == pytest.approx(round(out["sink_nodes"] * n), abs=1e-6)
    assert out["cut-nodes"] * e == pytest.approx(round(out["cut-nodes"] * e), abs=1e-6)


def test_conv_mge_is_contract_shaped():
    C = synthetic.ConvLayer
    layers = [
        C(2, 3, 6, 1, 0, 3, 4),  # stem on the padded 6×6 input
        C(3, 4, 4, 1, 1, 3, 4),
        C(4, 5, 4, 2, 1, 3, 2),  # max-pool 2 then conv
        C(5, 6, 2, 2, 0, 0, 1),  # pool 2 then linear on 5·1·1 features
        C(6, 3, 1, 1, 0, 0, 1),
    ]
    g = synthetic.conv_mge(0.3, seed=0, layers=layers)
    sizes = list(g.gp["partition_sizes"])
    assert sizes == [72, 48, 64, 20, 6, 3] and sum(sizes) == g.num_vertices()
    part = g.vp["partition"].a
    src, tgt = g.get_edges().T
    assert np.all(part[tgt] == part[src] + 1)  # plain conv net: consecutive partitions only
    full = synthetic.conv_mge(1.0, seed=0, layers=layers)
    counts = synthetic.dense_edge_counts(layers)
    assert full.num_edges() == sum(counts)
    # stem: every output sees C_in·k² inputs; conv 2 (pad 1, 4×4): kernel row r reaches 3, 4, 3 valid
    # output rows (padding nodes removed), so (3 + 4 + 3)² = 100 (position, offset) pairs per weight
    assert counts[0] == 3 * 2 * 9 * 16
    assert counts[1] == 4 * 3 * 100
    assert counts[3] == 5 * 6 * 4  # each linear input feature replicated over its 2×2 pooling window
    indeg = full.get_in_degrees(full.get_vertices())
    assert indeg[72:120].max() == 2 * 9
    assert list(synthetic._partition_sizes(synthetic.conv6_layers())) == [
        3468,
        65536,
        65536,
        32768,
        32768,
        16384,
        16384,
        256,
        256,
        10,
    ]


def test_bge_graph_roundtrip():
    rng = np.random.default_rng(0)
    B = rng.random((7, 5)) * (rng.random((7, 5)) < 0.5)
    g = bge_graph(B, "x")
    assert g.gp["n_left"] == 7 and g.num_edges() == np.count_nonzero(B)
    assert list(g.vp["side"].a) == [0] * 7 + [1] * 5
    from snntopo.metrics.ramanujan import biadjacency_from_bge

    np.testing.assert_allclose(biadjacency_from_bge(g).toarray(), B)
    assert sp.issparse(biadjacency_from_bge(g))


def test_spectra_of_fragmented_graphs_with_degenerate_components(monkeypatch):
    """Two identical large components plus small pieces: the top eigenvalues are exactly degenerate, which a
    single Lanczos run on the whole matrix cannot resolve; the per-component computation must
    (docs/method/metrics.md)."""
    base = synthetic.layered_dag([60, 80, 80, 60], p_edge=0.06, p_skip=0.01, seed=8)
    e = base.get_edges([base.ep["weight"]])
    n0 = base.num_vertices()
    rng = np.random.default_rng(0)
    small = np.array([[0, 1], [1, 2], [3, 4], [5, 6], [5, 7], [5, 8]]) + 2 * n0
    edges = np.concatenate([e[:, :2], e[:, :2] + n0, small])
    weights = np.concatenate([e[:, 2], e[:, 2], rng.random(len(small))])
    weights = weights.astype(np.float16).astype(np.float64)  # released mode rounds to float16
    n = 2 * n0 + 9
    g = _graph(n, edges, weights)
    W = np.zeros((n, n))
    np.add.at(W, (edges[:, 0].astype(int), edges[:, 1].astype(int)), weights)
    A = W + W.T
    ev = np.linalg.eigvalsh(A)
    mags = np.sort(np.abs(ev))[::-1]
    lap = np.linalg.eigvalsh(np.diag(A.sum(1)) - A)[-1]
    for dense_max in (spectral.DENSE_MAX, 50):  # dense per component, then ARPACK per component
        monkeypatch.setattr(spectral, "DENSE_MAX", dense_max)
        clean, rel = _raw(g), _raw(g, compat="released")
        assert clean["spectral_gap"] == pytest.approx(0.0, abs=1e-6 * ev[-1])  # λ1 = λ2 (twin components)
        assert ev[-1] - ev[-2] < 1e-9
        assert rel["spectral_gap"] == pytest.approx(mags[0] - mags[2], abs=1e-6 * mags[0])
        assert clean["spectral_radius"] == pytest.approx(lap, rel=1e-6)
    assert (
        clean["no_connected_components"] == 2 * len(set(topometrics.GraphArrays(base).component_labels)) + 3
    )  # path, edge, star
