"""Dynamic sparse training: presets and validation, constant density, RigL's gradient growth against an
independent oracle, momentum zeroing, redistribution, snapshots, outputs and determinism."""

from __future__ import annotations

import csv
import dataclasses
import re
import types

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from snntopo.errors import InvalidValueError, UnknownNameError
from snntopo.models import init_model, prunable_parameters
from snntopo.pruning import PRUNERS, load_mask_summary, load_masks, prune
from snntopo.training import (
    DST_ALGORITHMS,
    DST_LOG,
    DST_LOG_COLUMNS,
    DST_PRESETS,
    FINAL_MASK,
    SNAPSHOT_DIR,
    DSTUpdater,
    TrainStep,
    dst_config,
    load_mask_snapshot,
    load_mask_snapshots,
    recipe_for,
    save_mask_snapshot,
    train,
)
from snntopo.training.dst import capped_apportion
from snntopo.utils import tensors_checksum

SHAPE, CLASSES = (1, 8, 8), 4


def tiny_mlp(seed: int = 0) -> nn.Module:
    return init_model("mlp", SHAPE, CLASSES, seed=seed, hidden=(16,))


def erk_masks(model: nn.Module, sparsity: float = 0.8) -> dict[str, torch.Tensor]:
    return prune("erk", model, sparsity, seed=0)


def batches(n: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(16, *SHAPE, generator=g), torch.randint(0, CLASSES, (16,), generator=g))
        for _ in range(n)
    ]


def stepper_with_dst(model, masks, total_steps=40, seed=0, **options):
    recipe = recipe_for("digits", "mlp", {"weight_decay": 0.0, "mode": "dst", "dst": options})
    step = TrainStep(model, masks, recipe, torch.device("cpu"))
    step.dst = DSTUpdater(dst_config(recipe.dst), step.applier, total_steps=total_steps, seed=seed)
    return step


# --- configuration -----------------------------------------------------------------------------------------


def test_presets_are_their_sources_settings():
    # (preset, algorithm): interval, death fraction, decay, end, growth, death, redistribution, inherit
    table = {
        # the MGE code's add_sparse_args_SET/_SNFS/_DSR (utils/sparselearning/core.py), every 100 steps
        ("mge", "set"): (100, 0.7, "constant", 1.0, "random", "magnitude", "none", False),
        ("mge", "snfs"): (100, 0.5, "cosine", 1.0, "momentum", "magnitude", "momentum", True),
        ("mge", "dsr"): (100, 0.3, "constant", 1.0, "random", "global_magnitude", "nonzero", False),
        ("paper", "set"): (391, 0.3, "constant", 1.0, "random", "magnitude", "none", False),
        ("paper", "snfs"): (391, 0.5, "cosine", 1.0, "momentum", "magnitude", "momentum", True),
        ("paper", "rigl"): (100, 0.3, "cosine", 0.75, "gradient", "magnitude", "none", False),
        ("paper", "itop"): (1500, 0.5, "cosine", 1.0, "random", "magnitude", "none", False),
    }
    assert DST_ALGORITHMS.names() == sorted({a for _, a in table})
    assert DST_PRESETS.names() == ["mge", "paper"]
    for (preset, name), row in table.items():
        c = dst_config({"algorithm": name, "preset": preset})
        got = (c.update_interval, c.death_fraction, c.decay, c.end_fraction, c.growth, c.death,
               c.redistribution, c.inherit_momentum)  # fmt: skip
        assert got == row and c.algorithm == name and c.preset == preset
    # the default preset is the MGE code's where it has the algorithm
    assert {a: dst_config({"algorithm": a}).preset for a in DST_ALGORITHMS.names()} == {
        "dsr": "mge", "itop": "paper", "rigl": "paper", "set": "mge", "snfs": "mge"}  # fmt: skip
    with pytest.raises(InvalidValueError, match="paper") as err:
        dst_config({"algorithm": "rigl", "preset": "mge"})  # the MGE code has no RigL
    assert "mge" not in err.value.accepted
    assert dst_config() == dst_config({"algorithm": "rigl"})
    # DST algorithm names label sweep points beside the pruners: they must never collide
    assert not set(DST_ALGORITHMS.names()) & set(PRUNERS.names())


def test_overrides_are_validated_naming_key_and_accepted_values():
    assert dst_config({"algorithm": "set", "update_interval": 7}).update_interval == 7
    with pytest.raises(InvalidValueError, match=re.escape("'update_every'")) as err:
        dst_config({"algorithm": "rigl", "update_every": 5})
    assert "update_interval" in err.value.accepted and "death_fraction" in err.value.accepted
    with pytest.raises(UnknownNameError, match="rigl"):
        dst_config({"algorithm": "rigl2"})
    bad_values = [
        ("update_interval", 0), ("death_fraction", 1.0), ("end_fraction", 0), ("growth", "best"),
        ("death", "random"), ("redistribution", "all"), ("decay", "step"), ("snapshots", 1),
    ]  # fmt: skip
    for key, bad in bad_values:
        with pytest.raises(InvalidValueError, match=f"DST {key}"):
            dst_config({key: bad})


def test_recipe_mode_dst_stores_the_resolved_options():
    r = recipe_for("digits", "cnn", {"mode": "dst", "dst": {"algorithm": "snfs", "update_interval": 3}})
    assert r.dst == {**dataclasses.asdict(dst_config({"algorithm": "snfs"})), "update_interval": 3}
    assert r.as_dict()["dst"] == r.dst
    with pytest.raises(InvalidValueError, match="recipe dst"):
        recipe_for("digits", "cnn", {"dst": {"algorithm": "set"}})  # mode is still pai
    with pytest.raises(InvalidValueError, match="DST option"):
        recipe_for("digits", "cnn", {"mode": "dst", "dst": {"interval": 3}})
    assert r.replace({"mode": "pai"}).dst == {}


def test_capped_apportion_hand_computed():
    # shares 1:1:2 of 8 → 2, 2, 4; the third layer has room for 3 only → 3, and 5 left shared 1:1 → 3, 2
    # (the tie at 2.5 goes to the earlier layer).
    assert capped_apportion({"a": 1, "b": 1, "c": 2}, {"a": 10, "b": 10, "c": 3}, 8) == {
        "a": 3,
        "b": 2,
        "c": 3,
    }
    assert capped_apportion({"a": 0, "b": 0}, {"a": 1, "b": 3}, 4) == {"a": 1, "b": 3}  # no share: by room
    with pytest.raises(ValueError):
        capped_apportion({"a": 1}, {"a": 2}, 3)


# --- the updater ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["set", "rigl", "snfs", "dsr", "itop"])
def test_density_is_constant_at_every_update_and_pruned_state_is_zero(algorithm, tmp_path):
    model = tiny_mlp()
    masks = erk_masks(model)
    step = stepper_with_dst(model, masks, algorithm=algorithm, update_interval=2)
    step.dst.snapshot_dir = tmp_path
    step.dst.start()
    layer_counts = {n: int(m.sum()) for n, m in masks.items()}
    total = sum(layer_counts.values())
    seen = []
    for x, y in batches(12):
        step(x, y)
        if step.dst.history and step.dst.history[-1]["step"] == step.dst.step:
            now = step.dst.current_masks()
            seen.append(tensors_checksum(now))
            assert sum(int(m.sum()) for m in now.values()) == total
            if step.dst.config.redistribution == "none":
                assert {n: int(m.sum()) for n, m in now.items()} == layer_counts
            assert all(m.any() for m in now.values())  # no layer died out
            for name, p in prunable_parameters(model).items():
                assert p[~now[name]].eq(0).all(), name
                assert step.optimizer.state[p]["momentum_buffer"][~now[name]].eq(0).all(), name
    assert [h["step"] for h in step.dst.history] == [2, 4, 6, 8, 10, 12]
    assert len(set(seen)) == len(seen) and tensors_checksum(masks) not in seen  # the topology did move
    snaps = load_mask_snapshots(tmp_path)
    assert [s for s, _ in snaps] == [0] + [h["step"] for h in step.dst.history]
    assert tensors_checksum(snaps[0][1]) == tensors_checksum(masks)
    assert [tensors_checksum(m) for _, m in snaps[1:]] == seen


def test_rigl_drops_smallest_magnitudes_and_grows_largest_gradients():
    """One RigL update against an oracle that sorts explicitly (argsort, not the library's top-k)."""
    model = tiny_mlp()
    masks = erk_masks(model, 0.7)
    step = stepper_with_dst(model, masks, total_steps=100, algorithm="rigl", update_interval=1)
    params = prunable_parameters(model)
    g = torch.Generator().manual_seed(3)
    grads = {n: torch.randn(p.shape, generator=g) for n, p in params.items()}
    with torch.no_grad():
        for n, p in params.items():  # distinct kept magnitudes; a moved weight must be noticed
            p.copy_(torch.randn(p.shape, generator=g) * masks[n])
            p.grad = grads[n].clone()
    before = {n: p.detach().clone() for n, p in params.items()}
    step.dst.observe_grads()
    step.dst.after_step(step.optimizer)
    f = step.dst.fraction(1)
    assert f == pytest.approx(0.3 / 2 * (1 + torch.cos(torch.tensor(torch.pi / 75)).item()))
    new = step.dst.current_masks()
    for n, m in masks.items():
        kept = m.reshape(-1).nonzero().squeeze(1)
        k = round(f * len(kept))
        order = torch.argsort(before[n].reshape(-1)[kept].abs())  # ascending |w|
        dropped = kept[order[:k]]
        survivors = m.reshape(-1).clone()
        survivors[dropped] = False
        free = (~survivors).nonzero().squeeze(1)
        grown = free[torch.argsort(grads[n].reshape(-1)[free].abs(), descending=True)[:k]]
        expected = survivors.clone()
        expected[grown] = True
        assert torch.equal(new[n].reshape(-1), expected), n
        fresh = new[n] & ~m
        assert fresh.any() or m.all(), n  # a dense layer can only regrow what it dropped
        assert params[n][fresh].eq(0).all(), n  # new connections start at 0
        regrown = new[n] & m
        assert torch.equal(params[n][regrown], before[n][regrown]), n  # survivors keep their values


def test_rigl_sees_dense_gradients_in_a_real_step():
    """The gradient used for growth is the one of the full weights: non-zero at pruned positions."""
    model = tiny_mlp()
    masks = erk_masks(model, 0.9)
    step = stepper_with_dst(model, masks, total_steps=100, algorithm="rigl", update_interval=1)
    reference = tiny_mlp()
    with torch.no_grad():
        for n, p in prunable_parameters(reference).items():
            p.mul_(masks[n])
    x, y = batches(1)[0]
    nn.functional.cross_entropy(reference(x), y).backward()
    expected = {n: p.grad.abs() for n, p in prunable_parameters(reference).items()}
    seen = {}
    original = step.dst._update
    step.dst._update = lambda opt: (seen.update(step.dst._grads), original(opt))  # record, then update
    step(x, y)
    for n, m in masks.items():
        assert torch.allclose(seen[n], expected[n], atol=1e-6), n
        assert seen[n][~m].abs().sum() > 0, n


def test_dsr_redistributes_but_keeps_the_global_count():
    model = tiny_mlp()
    masks = erk_masks(model, 0.8)
    step = stepper_with_dst(model, masks, algorithm="dsr", update_interval=1, death_fraction=0.5)
    for x, y in batches(6):
        step(x, y)
    now = step.dst.current_masks()
    assert sum(int(m.sum()) for m in now.values()) == sum(int(m.sum()) for m in masks.values())
    assert {n: int(m.sum()) for n, m in now.items()} != {n: int(m.sum()) for n, m in masks.items()}


def test_growth_is_seeded():
    def run(seed):
        model = tiny_mlp()
        step = stepper_with_dst(model, erk_masks(model), seed=seed, algorithm="set", update_interval=2)
        for x, y in batches(4):
            step(x, y)
        return tensors_checksum(step.dst.current_masks())

    assert run(0) == run(0) != run(1)


def test_snapshot_round_trip_with_odd_sizes(tmp_path):
    g = torch.Generator().manual_seed(0)
    masks = {
        "a.weight": torch.rand(3, 5, generator=g) < 0.5,
        "b.weight": torch.rand(7, 1, 3, 1, generator=g) < 0.2,
    }
    save_mask_snapshot(tmp_path / "step_000012.pt", masks, step=12, update=3)
    step, back = load_mask_snapshot(tmp_path / "step_000012.pt")
    assert step == 12 and list(back) == list(masks)
    assert all(torch.equal(back[n], masks[n]) and back[n].dtype == torch.bool for n in masks)
    assert (tmp_path / "step_000012.pt").stat().st_size < 2000


# --- train() in mode dst -----------------------------------------------------------------------------------


def tiny_bundle(n_train: int = 64):
    g = torch.Generator().manual_seed(0)

    def data(n: int) -> TensorDataset:
        return TensorDataset(
            torch.randn(n, *SHAPE, generator=g), torch.randint(0, CLASSES, (n,), generator=g)
        )

    return types.SimpleNamespace(name="tiny", train=data(n_train), test=data(32), input_shape=SHAPE,
                                 num_classes=CLASSES)  # fmt: skip


def test_train_writes_final_mask_snapshots_and_log(tmp_path):
    model = tiny_mlp()
    masks = erk_masks(model)
    recipe = recipe_for("digits", "mlp", {"epochs": 2, "batch_size": 16, "mode": "dst",
                                          "dst": {"algorithm": "set", "update_interval": 3}})  # fmt: skip
    metrics = train(model, masks, tiny_bundle(), recipe, tmp_path, seed=0, device="cpu")
    final = load_masks(tmp_path / FINAL_MASK, tiny_mlp())  # the format of pruning's save_masks
    summary = load_mask_summary(tmp_path / FINAL_MASK)
    assert summary["pruner"] == "set" and summary["training_mode"] == "dst"
    assert summary["global"]["kept"] == sum(int(m.sum()) for m in masks.values())
    assert summary["initial_mask_checksum"] == tensors_checksum(masks) != summary["mask_checksum"]
    rows = list(csv.DictReader((tmp_path / DST_LOG).open()))
    assert tuple(rows[0]) == DST_LOG_COLUMNS and [int(r["step"]) for r in rows] == [3, 6]  # 8 steps
    assert metrics["dst"]["updates"] == 2 and metrics["dst"]["final_masks_checksum"] == tensors_checksum(
        final
    )
    assert metrics["mask_sparsity"] == pytest.approx(metrics["achieved_sparsity"], abs=1e-3)
    assert [s for s, _ in load_mask_snapshots(tmp_path / SNAPSHOT_DIR)] == [0, 3, 6]
    for name, p in prunable_parameters(model).items():  # the trained weights obey the final mask
        assert p.detach()[~final[name]].eq(0).all()
    # PaI mode: the final mask is the input mask
    pai = train(tiny_mlp(), masks, tiny_bundle(), recipe.replace({"mode": "pai"}), tmp_path / "pai", seed=0,
                device="cpu")  # fmt: skip
    assert tensors_checksum(load_masks(tmp_path / "pai" / FINAL_MASK)) == tensors_checksum(masks)
    assert "dst" not in pai and not (tmp_path / "pai" / SNAPSHOT_DIR).exists()


def test_dst_needs_a_mask(tmp_path):
    recipe = recipe_for("digits", "mlp", {"epochs": 1, "mode": "dst"})
    with pytest.raises(InvalidValueError, match="erk"):
        train(tiny_mlp(), None, tiny_bundle(), recipe, tmp_path, seed=0, device="cpu")


# --- SNFS: a grown weight inherits the accumulated momentum (sparse_learning) ----------------------------


def _snfs_run(inherit: bool):
    """A 4→3 linear layer, half its weights kept; two real steps, then one SNFS update (growth 1/2)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3, bias=False))
    masks = {"1.weight": torch.tensor([[1, 0, 1, 0], [0, 1, 0, 1], [1, 1, 0, 0]], dtype=torch.bool)}
    step = stepper_with_dst(model, masks, total_steps=100, algorithm="snfs", update_interval=2,
                            death_fraction=0.5, decay="constant", inherit_momentum=inherit)  # fmt: skip
    dense: list[torch.Tensor] = []  # dense gradients, recorded before the mask zeroes them
    weight = model[1].weight
    weight.register_hook(lambda g: dense.append(g.detach().clone()))
    g = torch.Generator().manual_seed(1)
    xs = [(torch.randn(5, 1, 2, 2, generator=g), torch.randint(0, 3, (5,), generator=g)) for _ in range(3)]
    before = masks["1.weight"].clone()
    for x, y in xs[:2]:
        step(x, y)
    grown = step.dst.current_masks()["1.weight"] & ~before
    return step, weight, dense, grown, xs


@pytest.mark.parametrize("inherit", [True, False])
def test_snfs_grown_weight_starts_with_the_accumulated_momentum(inherit):
    step, weight, dense, grown, xs = _snfs_run(inherit)
    assert step.dst.history and grown.any()  # the update at step 2 grew new connections
    ema = 0.9 * dense[0] + dense[1]  # grad_momentum 0.9: m ← 0.9·m + g, twice from 0
    buf = step.optimizer.state[weight]["momentum_buffer"]
    assert torch.equal(weight.detach()[grown], torch.zeros(int(grown.sum())))  # value 0, as in the reference
    expected = ema[grown] if inherit else torch.zeros_like(ema[grown])
    assert torch.allclose(buf[grown], expected, rtol=0, atol=1e-7)
    # the next SGD step (no dampening, no Nesterov, no weight decay) moves a grown weight by -lr·(0.9·buf + g)
    lr = step.optimizer.param_groups[0]["lr"]
    momentum = step.optimizer.param_groups[0]["momentum"]
    step(*xs[2])
    moved = -lr * (momentum * expected + dense[2][grown])
    assert torch.allclose(weight.detach()[grown], moved, rtol=1e-5, atol=1e-7)


def test_inherit_momentum_is_the_snfs_default_and_needs_the_moving_average():
    assert dst_config({"algorithm": "snfs"}).inherit_momentum
    assert not dst_config({"algorithm": "rigl"}).inherit_momentum
    c = dst_config({"algorithm": "set", "inherit_momentum": True})
    assert c.needs_momentum  # random growth, but the buffer to inherit must be kept
    with pytest.raises(InvalidValueError, match="inherit_momentum"):
        dst_config({"algorithm": "set", "inherit_momentum": "yes"})
