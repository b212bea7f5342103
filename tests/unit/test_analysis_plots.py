"""Figures: the graph-tool MGE drawing on a hand-built MGE, layout arithmetic, figures without data."""

import matplotlib

matplotlib.use("Agg")

import graph_tool as gt
import numpy as np
import pytest

from snntopo.errors import InvalidValueError
from snntopo.plots import FIGURE_CAPTIONS, FIGURES, draw_mge, example_mge, make_figures
from snntopo.plots.mge import MAX_VERTICES, layered_positions


def hand_built_mge() -> gt.Graph:
    """Input partition of 4 (2 channels × 2 pixels), a conv partition of 3 units and 2 outputs."""
    g = gt.Graph(directed=True)
    g.add_vertex(9)
    g.add_edge_list([(0, 4), (1, 4), (2, 5), (3, 6), (4, 7), (5, 7), (6, 8), (0, 8)])
    g.vp["partition"] = g.new_vp("int32_t", vals=[0, 0, 0, 0, 1, 1, 1, 2, 2])
    g.vp["channel"] = g.new_vp("int32_t", vals=[0, 0, 1, 1, 0, 1, 2, 0, 1])
    g.vp["position"] = g.new_vp("int32_t", vals=[0, 1, 0, 1, 0, 0, 0, -1, -1])
    g.ep["weight"] = g.new_ep("float", vals=np.abs(np.linspace(-1, 1, 8)).astype(np.float32))
    g.ep["layer"] = g.new_ep("int16_t", vals=[0, 0, 0, 0, 1, 1, 1, 1])
    g.gp["partition_sizes"] = g.new_gp("vector<int64_t>", val=[4, 3, 2])
    g.gp["layer_names"] = g.new_gp("vector<string>", val=["conv", "fc"])
    return g


def test_layered_positions_by_hand():
    pos = layered_positions(np.array([0, 0, 0, 0, 1, 1, 1, 2, 2]))
    np.testing.assert_allclose(pos[:, 0], np.array([0, 0, 0, 0, 0.5, 0.5, 0.5, 1, 1]) * 1.6)
    # rank inside the partition, centred, divided by the largest partition (4), y axis flipped
    np.testing.assert_allclose(pos[:4, 1], -(np.arange(4) - 1.5) / 4)
    np.testing.assert_allclose(pos[4:7, 1], -(np.arange(3) - 1.0) / 4)
    np.testing.assert_allclose(pos[7:, 1], -(np.arange(2) - 0.5) / 4)


def test_draw_hand_built_mge(tmp_path):
    from PIL import Image

    paths = draw_mge(hand_built_mge(), tmp_path / "mge", size=300)
    assert [p.name for p in paths] == ["mge.png", "mge.pdf"]
    img = np.asarray(Image.open(paths[0]).convert("RGB"))
    assert img.shape[1] == 300 and 0 < img.shape[0] <= 300  # graph-tool keeps the aspect ratio
    # three partition colours (tab10 blue, orange, green) are drawn
    for rgb in ((31, 119, 180), (255, 127, 14), (44, 160, 44)):
        assert (np.abs(img.astype(int) - rgb).sum(axis=2) < 30).any(), rgb
    assert paths[1].read_bytes()[:4] == b"%PDF"


def test_draw_rejects_graphs_without_partition_or_too_large(tmp_path):
    g = gt.Graph(directed=True)
    g.add_vertex(3)
    with pytest.raises(InvalidValueError, match="partition"):
        draw_mge(g, tmp_path / "x")
    big = gt.Graph(directed=True)
    big.add_vertex(MAX_VERTICES + 1)
    big.vp["partition"] = big.new_vp("int32_t")
    with pytest.raises(InvalidValueError, match="at most"):
        draw_mge(big, tmp_path / "x")


def test_example_mge_follows_the_contract():
    g = example_mge(layer_sizes=(3, 4, 2), density=1.0)
    assert g.num_vertices() == 9 and g.num_edges() == 3 * 4 + 4 * 2  # dense layers
    part = g.vp["partition"].a
    assert (np.diff(part) >= 0).all()  # vertices ordered by partition
    src, dst = g.get_edges().T[:2]
    assert (part[dst] - part[src] == 1).all()  # edges between consecutive partitions only
    assert list(g.gp["partition_sizes"]) == [3, 4, 2]
    assert (g.ep["layer"].a == part[src]).all()


def test_figures_without_results_are_placeholders(tmp_path):
    from snntopo.analysis.synthetic import make_synthetic_table

    table = make_synthetic_table(models=("mlp",), sparsities=(0.5, 0.9), seeds=(0, 1))
    paths = make_figures(table, {}, tmp_path, {})
    assert sorted(p.name for p in paths) == sorted(f"{n}{e}" for n in FIGURES for e in (".png", ".pdf"))
    assert all(p.stat().st_size > 0 for p in paths)
    assert set(FIGURE_CAPTIONS) == set(FIGURES)
