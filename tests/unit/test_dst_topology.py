"""Topology over DST training: metrics of hand-built mask snapshots against hand-computed values and the
metrics stage's own measurement, and of a real short DST run; the collected table and its figure."""

from __future__ import annotations

import types

import pandas as pd
import pytest
import torch
from torch.utils.data import TensorDataset

from snntopo.errors import InvalidValueError
from snntopo.metrics.evolution import (
    COLUMNS,
    DEFAULT_FAMILIES,
    NETWORK,
    collect_topology,
    topology_over_training,
)
from snntopo.metrics.measure import measure
from snntopo.models import init_model, prunable_parameters
from snntopo.pruning import apply_masks, prune
from snntopo.training import (
    SNAPSHOT_DIR,
    load_mask_snapshots,
    recipe_for,
    save_mask_snapshot,
    train,
)

SHAPE, CLASSES = (1, 8, 8), 4
FC1, FC2 = "1.weight", "3.weight"  # the tiny MLP's layers: (16, 64) and (4, 16)


def tiny_mlp() -> torch.nn.Module:
    return init_model("mlp", SHAPE, CLASSES, seed=0, hidden=(16,))


def flat_mask(shape: tuple[int, ...], on: range | list[int]) -> torch.Tensor:
    mask = torch.zeros(shape, dtype=torch.bool).reshape(-1)
    mask[list(on)] = True
    return mask.reshape(shape)


@pytest.fixture(scope="module")
def hand_snapshots(tmp_path_factory) -> list:
    """Step 0: FC1 keeps entries 0..127 (density 1/8), FC2 entries 0..15 (1/4). Step 10: FC1 swaps 0..7
    for 128..135. Step 20: FC1 swaps back. Written and read back in the training's snapshot format."""
    directory = tmp_path_factory.mktemp("snapshots")
    fc2 = flat_mask((4, 16), range(16))
    masks = {
        0: {FC1: flat_mask((16, 64), range(128)), FC2: fc2},
        10: {FC1: flat_mask((16, 64), range(8, 136)), FC2: fc2},
        20: {FC1: flat_mask((16, 64), range(128)), FC2: fc2},
    }
    for update, (step, m) in enumerate(masks.items()):
        save_mask_snapshot(directory / f"step_{step:06d}.pt", m, step=step, update=update)
    return load_mask_snapshots(directory)


@pytest.fixture(scope="module")
def hand_table(hand_snapshots) -> pd.DataFrame:
    return topology_over_training(tiny_mlp(), hand_snapshots, SHAPE)


def value(table: pd.DataFrame, step: int, family: str, layer: str, metric: str) -> float:
    rows = table[
        (table.step == step) & (table.family == family) & (table.layer == layer) & (table.metric == metric)
    ]
    assert len(rows) == 1, (step, family, layer, metric)
    return float(rows["value"].iloc[0])


def test_density_rows_are_the_exact_kept_fractions(hand_table):
    assert list(hand_table.columns) == list(COLUMNS)
    for step in (0, 10, 20):
        assert value(hand_table, step, "density", FC1, "density") == 128 / 1024
        assert value(hand_table, step, "density", FC2, "density") == 16 / 64
        assert value(hand_table, step, "density", NETWORK, "global") == pytest.approx(144 / 1088, abs=1e-15)


def test_mask_changes_after_a_hand_made_swap(hand_table):
    expected = {  # (step, layer) -> (changed, turnover, exploration)
        (0, FC1): (0, 0, 128 / 1024),
        (10, FC1): (8 / 128, 8 / 128, 136 / 1024),
        (20, FC1): (0, 8 / 128, 136 / 1024),  # back to the initial mask; the union remembers 128..135
        (10, FC2): (0, 0, 16 / 64),
        (0, NETWORK): (0, 0, 144 / 1088),
        (10, NETWORK): (8 / 144, 8 / 144, 152 / 1088),
        (20, NETWORK): (0, 8 / 144, 152 / 1088),
    }
    for (step, layer), (changed, turnover, exploration) in expected.items():
        got = [value(hand_table, step, "mask", layer, m) for m in ("changed", "turnover", "exploration")]
        assert got == pytest.approx([changed, turnover, exploration], abs=1e-15), (step, layer)


def test_step0_metrics_equal_the_metrics_stage_measurement(hand_table, hand_snapshots):
    # Independently: the metrics stage's measure() on a fresh model carrying the step-0 mask.
    model, (_, masks) = tiny_mlp(), hand_snapshots[0]
    init_state = {k: v.clone() for k, v in model.state_dict().items()}
    apply_masks(model, masks)
    names = list(prunable_parameters(model))
    expected = {}
    for encoding, families in (("rolled", ["density", "ramanujan", "fullspectrum", "rolled"]),
                               ("rolled_channel", ["rolled_channel"])):  # fmt: skip
        values, _, _ = measure(model, masks, SHAPE, encoding, families, init_state=init_state)
        for family, vals in values.items():
            for key, v in vals.items():
                layer, metric = (names[int(key[1:3])], key[4:]) if key[0] == "L" else (NETWORK, key)
                expected[(family, layer, metric)] = float("nan") if v is None else v
    step0 = hand_table[(hand_table.step == 0) & (hand_table.family != "mask")]
    got = {(r.family, r.layer, r.metric): r.value for r in step0.itertuples()}
    assert got.keys() == expected.keys()
    assert set(step0.family) == set(DEFAULT_FAMILIES)
    assert pd.Series(got).sort_index().equals(pd.Series(expected, dtype=float).sort_index())  # NaN == NaN
    # and a topology change shows: the spectral gap of FC1's BGE differs after the swap
    gaps = [value(hand_table, s, "rolled", FC1, "spectral_gap") for s in (0, 10, 20)]
    assert gaps[0] == gaps[2] != gaps[1]


def test_model_is_left_unchanged_and_every_subsamples(hand_snapshots):
    model = tiny_mlp()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    table = topology_over_training(model, hand_snapshots, SHAPE, families=["density"], every=2)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert sorted(set(table[table.family == "density"].step)) == [0, 20]  # every 2nd, and the last
    assert sorted(set(table[table.family == "mask"].step)) == [0, 10, 20]  # always every snapshot
    with pytest.raises(InvalidValueError, match="rolled_channel"):  # the MGE is not measured per snapshot
        topology_over_training(model, hand_snapshots, SHAPE, families=["mge"])


def test_real_dst_run_keeps_density_and_its_figure_is_written(tmp_path):
    from snntopo.plots.dst import plot_dst_topology

    model = tiny_mlp()
    masks = prune("erk", model, 0.8, seed=0)
    g = torch.Generator().manual_seed(0)
    data = [TensorDataset(torch.randn(n, *SHAPE, generator=g), torch.randint(0, CLASSES, (n,), generator=g))
            for n in (64, 32)]  # fmt: skip
    bundle = types.SimpleNamespace(
        name="tiny", train=data[0], test=data[1], input_shape=SHAPE, num_classes=CLASSES
    )
    recipe = recipe_for("digits", "mlp", {"epochs": 2, "batch_size": 16, "mode": "dst",
                                          "dst": {"algorithm": "rigl", "update_interval": 2}})  # fmt: skip
    metrics = train(tiny_mlp(), masks, bundle, recipe, tmp_path / "train", seed=0, device="cpu")
    snapshots = load_mask_snapshots(tmp_path / "train" / SNAPSHOT_DIR)
    assert len(snapshots) == metrics["dst"]["updates"] + 1 >= 3
    table = topology_over_training(tiny_mlp(), snapshots, SHAPE, families=["density", "ramanujan"])
    density = table[(table.family == "density") & (table.metric.isin(["density", "global"]))]
    per_step = density.pivot_table(index="step", columns="layer", values="value")
    initial = {FC1: masks[FC1].float().mean().item(), FC2: masks[FC2].float().mean().item()}
    for layer, d in initial.items():  # RigL regrows what it drops in every layer
        assert per_step[layer].tolist() == pytest.approx([d] * len(snapshots), abs=1e-12)
    last = snapshots[-1][0]
    assert value(table, last, "mask", NETWORK, "changed") > 0
    # the snapshots' union is the training's own exploration rate (every update is snapshotted)
    assert value(table, last, "mask", NETWORK, "exploration") == pytest.approx(
        metrics["dst"]["exploration_rate"]
    )

    ids = {"dataset": "tiny", "model": "mlp", "pruner": "rigl", "sparsity": 0.8}
    both = collect_topology([({**ids, "seed": s}, table) for s in (0, 1)])
    assert list(both.columns) == [*ids, "seed", *COLUMNS] and len(both) == 2 * len(table)
    network = collect_topology([(ids | {"seed": 0}, table)], network_only=True)
    assert set(network.layer) == {NETWORK} and len(network) == (table.layer == NETWORK).sum()
    for path in plot_dst_topology(both, tmp_path / "fig" / "dst_topology"):
        assert path.suffix in {".png", ".pdf"} and path.stat().st_size > 1000
    empty = plot_dst_topology(both.iloc[:0], tmp_path / "fig" / "empty")  # a placeholder, still two files
    assert [p.suffix for p in empty] == [".png", ".pdf"] and all(p.stat().st_size > 0 for p in empty)
