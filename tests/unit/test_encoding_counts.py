"""Node/edge counts of the encodings against docs/method/encodings.md oracles and closed forms; compat
quirks; I/O."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from snntopo.encoding import (
    ENCODINGS,
    encode,
    estimate_mge_size,
    load_graph,
    mge_partition_sizes,
    save_graph,
    trace_layers,
    unrolled_bge,
)
from snntopo.encoding.weights import kept_weights
from snntopo.errors import GraphTooLargeError, InvalidValueError, UnknownNameError
from snntopo.models import build_model, init_model, prunable_parameters

torch.set_num_threads(1)

# docs/method/encodings.md, released `nodes` column (CIFAR-10 / CIFAR-100 / Tiny-ImageNet at 32×32).
# MobileNetV2 is not in the released code, but its counts match the CIFAR variant of the model zoo.
RELEASED_NODES = {"conv6": 233_366, "resnet20": 191_894, "resnet32": 306_582, "wrn28_2": 478_614,
                  "mobilenetv2": 1_676_182}  # fmt: skip


def _random_masks(model: nn.Module, density: float, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {k: torch.rand(p.shape, generator=g) < density for k, p in prunable_parameters(model).items()}


@pytest.mark.parametrize("name", sorted(RELEASED_NODES))
def test_node_counts_compat_match_published_and_correct_drop_padding(name: str) -> None:
    for classes, extra in ((10, 0), (100, 90), (200, 190)):
        model = build_model(name, (3, 32, 32), classes)
        released = mge_partition_sizes(model, (3, 32, 32), compat="released")
        correct = mge_partition_sizes(model, (3, 32, 32))
        assert sum(released) == RELEASED_NODES[name] + extra
        # the correct input partition is the 3·32·32 image, not the 3·34·34 padded one
        assert released[0] == 3 * 34 * 34 and correct[0] == 3 * 32 * 32
        assert released[1:] == correct[1:] and correct[-1] == classes


def test_partition_size_lists_match_method() -> None:
    conv6 = mge_partition_sizes(build_model("conv6", (3, 32, 32), 10), (3, 32, 32), compat="released")
    assert conv6 == [3468, 65536, 65536, 32768, 32768, 16384, 16384, 256, 256, 10]
    r20 = mge_partition_sizes(build_model("resnet20", (3, 32, 32), 10), (3, 32, 32), compat="released")
    assert r20 == [3468] + [16384] * 7 + [8192] * 6 + [4096] * 6 + [10]


@pytest.mark.parametrize(
    ("name", "compat"), [("resnet20", None), ("resnet20", "released"), ("conv6", None), ("wrn28_2", None)]
)
def test_built_graph_matches_counts_and_partition_steps(name: str, compat: str | None) -> None:
    model = init_model(name, (3, 32, 32), 10, seed=0)
    masks = _random_masks(model, 0.01 if name == "resnet20" else 0.004, 1)  # ≈0.4 M / 1 M / 0.8 M edges
    g = encode("mge", model, masks, (3, 32, 32), compat=compat)
    sizes = mge_partition_sizes(model, (3, 32, 32), compat=compat)
    assert g.num_vertices() == sum(sizes) and list(g.gp["partition_sizes"]) == sizes
    assert g.num_edges() == estimate_mge_size(model, masks, (3, 32, 32), compat=compat).n_edges
    part = g.vp["partition"].a
    np.testing.assert_array_equal(np.bincount(part), sizes)
    e = g.get_edges([g.edge_index])
    step = part[e[:, 1]] - part[e[:, 0]]
    layers = np.asarray(list(g.gp["layer_names"]))[g.ep["layer"].a[e[:, 2]]]
    shortcut = np.char.find(layers.astype(str), "shortcut") >= 0
    if compat is None:
        assert set(step[~shortcut].tolist()) == {1}
        assert set(step[shortcut].tolist()) <= {2}
        assert shortcut.any() == (name != "conv6")
    # edge weights: |w| of kept weights only, stored as float32 values
    w = g.ep["weight"].a
    assert (w > 0).all() and np.array_equal(w, w.astype(np.float32))


def test_compat_reproduces_the_published_stride2_mapping_on_resnet20() -> None:
    """docs/method/encodings.md: output nodes of layer2.0.conv1/layer3.0.conv1 shift down by 1008/992."""
    model = init_model("resnet20", (3, 32, 32), 10, seed=0)
    masks = _random_masks(model, 0.05, 2)
    g = encode("mge", model, masks, (3, 32, 32), compat="released")
    part = g.vp["partition"].a
    starts = np.concatenate([[0], np.cumsum(list(g.gp["partition_sizes"]))])
    e = g.get_edges([g.edge_index])
    names = np.asarray(list(g.gp["layer_names"]))[g.ep["layer"].a[e[:, 2]]]
    intra = part[e[:, 0]] == part[e[:, 1]]
    assert set(names[intra].tolist()) == {"layer2.0.conv1", "layer3.0.conv1"}
    assert 10_000 < intra.sum() < 30_000  # ≈15.6 k in the MGE study's run, ≈19 k expected at 5 % uniform
    indeg = g.get_in_degrees(g.get_vertices())
    for p, shift in ((8, 1008), (14, 992)):
        # they land in the last `shift` nodes of the previous partition, whose own last nodes get none
        tgt = e[intra & (part[e[:, 1]] == p - 1), 1]
        assert tgt.min() >= starts[p] - shift
        assert (indeg[starts[p + 1] - shift : starts[p + 1]] == 0).all()
    correct = encode("mge", model, masks, (3, 32, 32))
    cpart = correct.vp["partition"].a
    ce = correct.get_edges()
    assert (cpart[ce[:, 1]] > cpart[ce[:, 0]]).all()


def test_compat_equals_correct_after_the_input_layer_without_cropped_convs() -> None:
    """CONV-6 has no stride-2 conv: compat differs only by the padded input partition
    (docs/method/encodings.md)."""
    model = init_model("conv6", (3, 8, 8), 10, seed=0, width=4)
    masks = _random_masks(model, 0.3, 3)
    a = encode("mge", model, masks, (3, 8, 8))
    b = encode("mge", model, masks, (3, 8, 8), compat="released")
    shift = 3 * (10 * 10 - 8 * 8)
    ea, eb = a.get_edges([a.edge_index]), b.get_edges([b.edge_index])
    la, lb = a.ep["layer"].a[ea[:, 2]], b.ep["layer"].a[eb[:, 2]]
    later_a = {(s + shift, t + shift) for s, t in ea[la > 0, :2].tolist()}
    later_b = {(s, t) for s, t in eb[lb > 0, :2].tolist()}
    assert later_a == later_b
    # first layer: compat also connects the padding nodes; dense-pattern count = C_out·C_in·k²·out²
    assert (lb == 0).sum() > (la == 0).sum()


class _Convs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.b = nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2, bias=False)
        self.c = nn.Conv2d(6, 6, 3, stride=2, groups=6, bias=False)
        self.d = nn.Conv2d(6, 4, 2, padding=1, dilation=2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.d(self.c(self.b(self.a(x))))


def test_dense_unrolled_edge_counts_equal_closed_forms() -> None:
    model = _Convs()
    lg = trace_layers(model, (3, 10, 9))
    kept = kept_weights(model, None)
    for spec in lg.weighted():
        c_out, c_in_g, kh, kw = kept[spec.param_name].shape
        _, ho, wo = spec.out_shape
        released = unrolled_bge(spec, kept[spec.param_name], compat="released")
        # docs/method/encodings.md, before padding removal
        assert released.num_edges() == c_out * c_in_g * kh * kw * ho * wo
        # correct: taps on real pixels only = convolution of an all-ones image with an all-ones kernel
        ones = F.conv2d(torch.ones(1, 1, *spec.in_shape[1:]), torch.ones(1, 1, kh, kw), stride=spec.stride,
                        padding=spec.padding, dilation=spec.dilation)  # fmt: skip
        correct = unrolled_bge(spec, kept[spec.param_name])
        assert correct.num_edges() == c_out * c_in_g * int(ones.sum())
        assert correct.gp["n_left"] == int(np.prod(spec.in_shape))
    dense = encode("mge", model, None, (3, 10, 9))
    assert dense.num_edges() == sum(unrolled_bge(s, kept[s.param_name]).num_edges() for s in lg.weighted())


def test_bge_sizes_match_method_oracles() -> None:
    model = init_model("resnet20", (3, 32, 32), 10, seed=0)
    masks = _random_masks(model, 0.4, 4)
    rolled = encode("rolled", model, masks, (3, 32, 32))
    channel = encode("rolled_channel", model, masks, (3, 32, 32))
    assert list(rolled) == [n.removesuffix(".weight") for n in prunable_parameters(model)]
    assert rolled["conv1"].num_vertices() == 43 and rolled["layer1.0.conv1"].num_vertices() == 160
    assert channel["conv1"].num_vertices() == 19 and channel["conv1"].num_edges() <= 48
    for name, g in rolled.items():
        assert g.num_edges() == int(masks[f"{name}.weight"].sum())  # all Kaiming weights are non-zero
        side = g.vp["side"].a
        assert side[: g.gp["n_left"]].sum() == 0 and side[g.gp["n_left"] :].all()
    # rolled-channel weight = Frobenius norm of the masked 3×3 slice
    w = (prunable_parameters(model)["layer1.0.conv1.weight"] * masks["layer1.0.conv1.weight"]).detach()
    norms = w.flatten(2).norm(dim=2)  # (out, in)
    g = channel["layer1.0.conv1"]
    e = g.get_edges([g.edge_index])
    got = g.ep["weight"].a[e[:, 2]]
    np.testing.assert_allclose(got, norms[e[:, 1] - 16, e[:, 0]].numpy(), rtol=1e-6)
    assert len(e) == int((norms > 0).sum())
    conv6 = encode("rolled", init_model("conv6", (3, 32, 32), 10, seed=0), None, None, layers=["features.0"])
    assert list(conv6) == ["features.0"] and conv6["features.0"].num_vertices() == 91


def test_rolled_channel_of_grouped_convs_connects_within_groups() -> None:
    model = _Convs()
    g = encode("rolled_channel", model, None, None, layers=["b", "c"])
    b = g["b"].get_edges()
    assert len(b) == 6 * 2 and all((s // 2) == (t - 4) // 3 for s, t in b.tolist())  # 2 groups: 2 → 3
    c = g["c"].get_edges()
    assert sorted(c.tolist()) == [[j, 6 + j] for j in range(6)]  # depthwise: j → j


def test_estimate_refuses_dense_wrn_before_allocating() -> None:
    model = build_model("wrn28_2", (3, 32, 32), 10)
    size = estimate_mge_size(model, None, (3, 32, 32))
    assert 1.5e8 < size.n_edges < 2.5e8
    assert size.n_nodes == 478_614 - 396
    with pytest.raises(GraphTooLargeError, match=f"{size.n_edges:,} edges") as err:
        encode("mge", model, None, (3, 32, 32), max_memory_gb=1)
    assert err.value.size.n_edges == size.n_edges  # type: ignore[attr-defined]


@pytest.mark.parametrize("suffix", [".gt.xz", ".gt.gz", ".gt"])
def test_save_load_round_trip(tmp_path, suffix: str) -> None:
    model = build_model("cnn", (1, 8, 8), 3)
    g = encode("mge", model, _random_masks(model, 0.5, 0), (1, 8, 8))
    path = save_graph(g, tmp_path / f"g{suffix}")
    h = load_graph(path)
    assert h.num_vertices() == g.num_vertices() and h.num_edges() == g.num_edges()
    # the file stores out-lists per vertex, so edge indices are renumbered: compare sorted rows
    rows_h, rows_g = (np.asarray(x.get_edges([x.ep["weight"], x.ep["layer"]])) for x in (h, g))
    np.testing.assert_array_equal(*(r[np.lexsort(r.T[::-1])] for r in (rows_h, rows_g)))
    for key in ("partition", "channel", "position"):
        np.testing.assert_array_equal(h.vp[key].a, g.vp[key].a)
    assert list(h.gp["partition_sizes"]) == list(g.gp["partition_sizes"])
    assert list(h.gp["layer_names"]) == list(g.gp["layer_names"])
    assert [p.name for p in tmp_path.iterdir()] == [f"g{suffix}"]  # no temporary left behind
    with pytest.raises(InvalidValueError):
        save_graph(g, tmp_path / "g.graphml")


def test_registry_and_option_errors() -> None:
    assert ENCODINGS.names() == ["mge", "rolled", "rolled_channel", "unrolled"]
    model = build_model("cnn", (1, 8, 8), 3)
    with pytest.raises(UnknownNameError, match="rolled_channel"):
        encode("rolledd", model, None, (1, 8, 8))
    with pytest.raises(InvalidValueError, match="compose or nodes"):
        encode("mge", model, None, (1, 8, 8), pooling="max")
    with pytest.raises(InvalidValueError, match="released"):
        encode("mge", model, None, (1, 8, 8), compat="published")
    with pytest.raises(InvalidValueError, match="identity_shortcuts"):
        encode("mge", model, None, (1, 8, 8), compat="released", identity_shortcuts=True)
    with pytest.raises(InvalidValueError, match="mask names"):
        encode("mge", model, {"nope.weight": torch.ones(1, dtype=torch.bool)}, (1, 8, 8))


def test_node_properties_channel_and_position() -> None:
    model = build_model("cnn", (1, 8, 8), 3, width=2)
    g = encode("mge", model, None, (1, 8, 8))
    names = list(g.gp["partition_names"])
    part, chan, pos = g.vp["partition"].a, g.vp["channel"].a, g.vp["position"].a
    conv2 = part == names.index("conv2")  # (4, 2, 2)
    assert chan[conv2].tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]
    assert pos[conv2].tolist() == [0, 1, 2, 3] * 4
    lin = part == names.index("linear")
    assert chan[lin].tolist() == [0, 1, 2] and (pos[lin] == -1).all()


def test_unrolled_compat_uses_the_published_padded_grids() -> None:
    """Cropped padded grid for layer2.0.conv1 (16·33², docs/method/encodings.md), uncropped block input for
    shortcuts."""
    model = build_model("resnet20", (3, 32, 32), 10)
    got = encode("unrolled", model, None, (3, 32, 32), compat="released",
                 layers=["conv1", "layer2.0.conv1", "layer2.0.shortcut.0", "linear"])  # fmt: skip
    n_left = {k: g.gp["n_left"] for k, g in got.items()}
    assert n_left == {"conv1": 3 * 34 * 34, "layer2.0.conv1": 16 * 33 * 33,
                      "layer2.0.shortcut.0": 16 * 32 * 32, "linear": 64}  # fmt: skip
    assert got["layer2.0.conv1"].num_edges() == 32 * 16 * 9 * 16 * 16
    assert got["layer2.0.shortcut.0"].num_edges() == 32 * 16 * 16 * 16
