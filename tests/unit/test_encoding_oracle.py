"""MGE edges of every layer == non-zero pattern of that layer's Jacobian, computed by torch.autograd.

The oracle is independent of the encoder: each test net states, for each conv/linear layer, which
partition (by name) it reads, which it writes, and the function from the read partition's activations
to the layer output built from the net's own modules. Max pooling is replaced by average pooling with
the same geometry in the oracle because the MGE connects every pixel of a window (docs/method/encodings.md),
and the
layer's weights are replaced by |w ⊙ m| so that no two paths can cancel.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from snntopo.encoding import encode, trace_layers, unrolled_bge
from snntopo.encoding.weights import kept_weights
from snntopo.errors import InvalidValueError
from snntopo.models import build_model, prunable_parameters

torch.set_num_threads(1)  # tiny ops; the CI machine has about one core (as tests/conftest.py on main)


class Plain(nn.Module):
    """Non-square input; strides 1/2, padding 0/1, groups, depthwise, overlapping padded max pool."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(2, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.c2 = nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2, bias=False)
        self.p1 = nn.MaxPool2d(3, stride=2, padding=1)
        self.c3 = nn.Conv2d(6, 6, 3, padding=1, groups=6, bias=False)
        self.c4 = nn.Conv2d(6, 5, 2, bias=False)
        self.fc = nn.Linear(20, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn(self.c1(x)))
        x = self.p1(torch.relu(self.c2(x)))
        x = self.c4(self.c3(x))
        return self.fc(torch.flatten(x, 1))

    def oracle(self) -> list[tuple[str, str, str, Callable]]:
        pool = nn.AvgPool2d(3, stride=2, padding=1)
        return [
            ("c1", "input", "c1", self.c1),
            ("c2", "c1", "c2", self.c2),
            ("c3", "c2", "c3", lambda a: self.c3(pool(a))),
            ("c4", "c3", "c4", self.c4),
            ("fc", "c4", "fc", lambda a: self.fc(a.flatten(1))),
        ]


class Residual(nn.Module):
    """Downsampling block with a 1×1 stride-2 shortcut, an identity block, pool → global pool → linear."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.a1 = nn.Conv2d(4, 6, 3, stride=2, padding=1, bias=False)
        self.a2 = nn.Conv2d(6, 6, 3, padding=1, bias=False)
        self.shortcut = nn.Sequential(nn.Conv2d(4, 6, 1, stride=2, bias=False), nn.BatchNorm2d(6))
        self.b1 = nn.Conv2d(6, 6, 3, padding=1, bias=False)
        self.b2 = nn.Conv2d(6, 6, 3, padding=1, bias=False)
        self.pool = nn.AvgPool2d(2)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(6, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.stem(x))
        x = F.relu(self.a2(F.relu(self.a1(x))) + self.shortcut(x))
        x = self.b2(F.relu(self.b1(x))) + x
        return self.fc(self.gap(self.pool(x)).flatten(1))

    def oracle(self) -> list[tuple[str, str, str, Callable]]:
        return [
            ("stem", "input", "stem", self.stem),
            ("a1", "stem", "a1", self.a1),
            ("a2", "a1", "a2", self.a2),
            ("shortcut.0", "stem", "a2", self.shortcut[0]),
            ("b1", "a2", "b1", self.b1),
            ("b2", "b1", "b2", self.b2),
            ("fc", "b2", "fc", lambda a: self.fc(self.gap(self.pool(a)).flatten(1))),
        ]


class Functional(nn.Module):
    """Functional pooling, view-flatten, stride-2 unpadded conv on an odd size, dilation, subtraction."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(2, 3, 3, stride=2, bias=False)
        self.c2 = nn.Conv2d(3, 3, 3, padding=2, dilation=2, bias=False)
        self.fc = nn.Linear(3, 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.c1(x)
        x = x - self.c2(F.relu(x)) * 0.5
        x = F.avg_pool2d(x, 3)
        return self.fc(x.view(x.size(0), -1))

    def oracle(self) -> list[tuple[str, str, str, Callable]]:
        return [
            ("c1", "input", "c1", self.c1),
            ("c2", "c1", "c2", self.c2),  # main path of the difference: deeper than c1
            ("fc", "c2", "fc", lambda a: self.fc(F.avg_pool2d(a, 3).flatten(1))),
        ]


def _random_masks(model: nn.Module, density: float, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {k: torch.rand(p.shape, generator=g) < density for k, p in prunable_parameters(model).items()}


def _set_abs_masked(model: nn.Module, masks: dict[str, torch.Tensor]) -> None:
    """Oracle weights: |w ⊙ m| (all kept entries positive, so a Jacobian entry is 0 iff no path)."""
    with torch.no_grad():
        for name, p in prunable_parameters(model).items():
            p.copy_((p * masks[name]).abs())


def _edges_of_layer(g, layer: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    e = g.get_edges([g.edge_index])
    sel = g.ep["layer"].a[e[:, 2]] == layer
    part = g.vp["partition"].a
    starts = np.concatenate([[0], np.cumsum(list(g.gp["partition_sizes"]))])
    s, t = e[sel, 0], e[sel, 1]
    return part[s], s - starts[part[s]], part[t], t - starts[part[t]], g.ep["weight"].a[e[sel, 2]]


def _check_against_jacobian(model: nn.Module, input_shape: tuple[int, int, int], density: float, seed: int,
                            **options) -> None:  # fmt: skip
    masks = _random_masks(model, density, seed)
    model.eval()
    g = encode("mge", model, masks, input_shape, **options)
    _set_abs_masked(model, masks)
    names = list(g.gp["partition_names"])
    shapes = {t.name: t.out_shape for t in trace_layers(model, input_shape).specs}
    shapes["input"] = input_shape
    layer_names = list(g.gp["layer_names"])
    for layer, src, dst, fn in model.oracle():
        x = torch.randn(shapes[src])
        jac = torch.autograd.functional.jacobian(lambda a, fn=fn: fn(a[None])[0], x, vectorize=True)
        jac = jac.reshape(-1, x.numel()).detach().numpy()
        out_idx, in_idx = np.nonzero(jac)
        sp, s, tp, t, w = _edges_of_layer(g, layer_names.index(layer))
        assert set(sp.tolist()) <= {names.index(src)}, layer
        assert set(tp.tolist()) <= {names.index(dst)}, layer
        assert set(zip(s.tolist(), t.tolist(), strict=True)) == set(
            zip(in_idx.tolist(), out_idx.tolist(), strict=True)
        ), layer
        if isinstance(fn, nn.Module):  # the layer alone: one weight per (input, output) pair
            order_g, order_j = np.lexsort((t, s)), np.lexsort((out_idx, in_idx))
            np.testing.assert_allclose(w[order_g], jac[out_idx, in_idx][order_j], rtol=1e-6)


@pytest.mark.parametrize("density", [0.35, 1.0])
def test_plain_net_edges_equal_jacobian_pattern(density: float) -> None:
    torch.manual_seed(0)
    _check_against_jacobian(Plain(), (2, 12, 11), density, seed=1)


@pytest.mark.parametrize("density", [0.3, 1.0])
def test_residual_net_edges_equal_jacobian_pattern(density: float) -> None:
    torch.manual_seed(1)
    _check_against_jacobian(Residual(), (3, 8, 8), density, seed=2)


def test_functional_net_edges_equal_jacobian_pattern() -> None:
    torch.manual_seed(2)
    _check_against_jacobian(Functional(), (2, 9, 9), 0.6, seed=3)


def test_zoo_tiny_cnn_shortcut_reads_pooled_block_input() -> None:
    """TinyCNN's shortcut reads the pooled conv1 output: its edges compose the pool window, i → i+2."""
    model = build_model("cnn", (1, 8, 8), 3, width=2)
    pool = nn.AvgPool2d(2)
    model.oracle = lambda: [  # type: ignore[method-assign]
        ("conv1", "input", "conv1", model.conv1),
        ("conv2", "conv1", "conv2", lambda a: model.conv2(pool(a))),
        ("conv3", "conv2", "conv3", model.conv3),
        ("shortcut.0", "conv1", "conv3", lambda a: model.shortcut[0](pool(a))),
        ("linear", "conv3", "linear", lambda a: model.linear(a.mean((2, 3)))),
    ]
    _check_against_jacobian(model, (1, 8, 8), 0.5, seed=4)


def test_identity_shortcuts_are_weight_one_edges_between_block_input_and_output() -> None:
    torch.manual_seed(1)
    model = Residual().eval()
    masks = _random_masks(model, 0.5, 0)
    g = encode("mge", model, masks, (3, 8, 8), identity_shortcuts=True)
    names = list(g.gp["partition_names"])
    sp, s, tp, t, w = _edges_of_layer(g, -1)
    assert set(sp.tolist()) == {names.index("a2")} and set(tp.tolist()) == {names.index("b2")}
    np.testing.assert_array_equal(s, t)  # node-to-node
    assert sorted(s.tolist()) == list(range(6 * 4 * 4)) and (w == 1).all()
    plain = encode("mge", model, masks, (3, 8, 8))
    assert g.num_edges() == plain.num_edges() + 96


def test_pooling_nodes_gives_pool_partitions_with_weight_one_window_edges() -> None:
    torch.manual_seed(0)
    model = Plain().eval()
    masks = _random_masks(model, 0.5, 0)
    g = encode("mge", model, masks, (2, 12, 11), pooling="nodes")
    names = list(g.gp["partition_names"])
    assert names == ["input", "c1", "c2", "pool:p1", "c3", "c4", "fc"]
    assert list(g.gp["partition_sizes"])[3] == 6 * 3 * 3
    sp, s, tp, _, w = _edges_of_layer(g, -1)
    assert set(sp.tolist()) == {2} and set(tp.tolist()) == {3} and (w == 1).all()
    # MaxPool2d(3, 2, padding=1) on 6×6: rows {0,1}, {1,2,3}, {3,4,5} per dim → (2+3+3)² window pixels
    assert len(s) == 6 * (2 + 3 + 3) ** 2
    part = g.vp["partition"].a
    e = g.get_edges()
    assert set(np.unique(part[e[:, 1]] - part[e[:, 0]]).tolist()) == {1}


def test_mge_layer_equals_unrolled_bge_of_that_layer() -> None:
    torch.manual_seed(1)
    model = Residual().eval()
    masks = _random_masks(model, 0.4, 5)
    g = encode("mge", model, masks, (3, 8, 8))
    spec = next(s for s in trace_layers(model, (3, 8, 8)).specs if s.name == "b1")
    bge = unrolled_bge(spec, kept_weights(model, masks)[spec.param_name])
    n_left = bge.gp["n_left"]
    be = bge.get_edges()
    _, s, _, t, _ = _edges_of_layer(g, list(g.gp["layer_names"]).index("b1"))
    assert set(zip(s.tolist(), t.tolist(), strict=True)) == set(
        zip(be[:, 0].tolist(), (be[:, 1] - n_left).tolist(), strict=True)
    )


def test_unsupported_op_is_named() -> None:
    class Cat(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c = nn.Conv2d(1, 2, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cat([self.c(x), self.c(x)], 1)

    with pytest.raises(InvalidValueError, match="cat"):
        encode("mge", Cat(), None, (1, 5, 5))
