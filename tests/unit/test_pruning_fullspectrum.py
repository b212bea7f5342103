"""Full-spectrum mask sampling: the acceptance rule's ≥ property against independently scored base masks,
exact density after correction, determinism, warm-up, noise, the search trace and bad options."""

from __future__ import annotations

import copy
import json
import re

import pytest
import torch
from torch.utils.data import TensorDataset

from snntopo.errors import InvalidValueError, UnknownNameError
from snntopo.metrics.fullspectrum import layer_coordinate
from snntopo.models import init_model, prunable_parameters
from snntopo.pruning import (
    ACCEPTANCE,
    correct_density,
    fullspectrum_search,
    global_topk_masks,
    keep_count,
    prune,
    prune_and_summarize,
    search_table,
    snip_scores,
)
from snntopo.pruning.fullspectrum import TRACE_COLUMNS, warm_up
from snntopo.pruning.perturb import lock_bn_eval
from snntopo.pruning.registry import pruner_seed
from snntopo.utils import tensors_checksum

SHAPE = (1, 8, 8)


def dataset(n: int = 300, seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.randn(n, *SHAPE, generator=g), torch.arange(n) % 10)


@pytest.fixture(scope="module")
def cnn():
    return init_model("cnn", SHAPE, 10, seed=0)


def coordinate(model, masks):
    """The oracle: the metrics stage's coordinate of every layer, computed here, not by the pruner."""
    return {n: layer_coordinate(w.detach(), masks[n]) for n, w in prunable_parameters(model).items()}


@pytest.mark.parametrize(("base", "acceptance"), [("snip", "loose"), ("random", "alt"), ("erk", "l2")])
def test_composite_layers_score_at_least_the_base_pruners(cnn, base, acceptance):
    data = dataset()
    result = fullspectrum_search(
        cnn, 0.9, data, 3, base=base, samples=4, acceptance=acceptance, batch_size=50
    )
    incumbent = fullspectrum_search(cnn, 0.9, data, 3, base=base, samples=0, batch_size=50).masks
    base_scores = coordinate(cnn, incumbent)  # the incumbent's layers, rescored by the metrics stage
    composite = coordinate(cnn, result.masks)
    for name, ref in base_scores.items():
        assert composite[name]["norm"] == pytest.approx(result.scores[name]["norm"])  # reported = recomputed
        assert composite[name]["norm"] >= ref["norm"] - 1e-12, name
        if acceptance == "loose":
            assert composite[name]["dr_iter"] >= ref["dr_iter"] - 1e-12, name
        if acceptance == "alt" and result.selected[name] > 0:
            assert composite[name]["dr"] < ref["dr"], name
    assert any(t > 0 for t in result.selected.values())  # the search did replace some layers
    for name, t in result.selected.items():  # a kept layer comes from one sample, whole
        assert [row[-1] for row in result.rows if row[2] == name and row[0] == t] == [True]


def test_acceptance_rules_hand_cases():
    best = {"dr": 1.0, "lam": 1.0, "dr_iter": 1.0, "lam_iter": 1.0, "norm": 2.0}
    higher_norm_lower_iter = {**best, "dr_iter": 0.5, "norm": 3.0}
    higher_both = {**best, "dr_iter": 1.5, "dr": 2.0, "norm": 3.0}
    lower_dr = {**best, "dr": 0.5, "dr_iter": 0.9, "norm": 2.0}  # equal norm: accepted by ≥
    assert [ACCEPTANCE.get("loose")(c, best) for c in (higher_norm_lower_iter, higher_both, lower_dr)] == [
        False, True, False,
    ]  # fmt: skip
    assert [ACCEPTANCE.get("alt")(c, best) for c in (higher_norm_lower_iter, higher_both, lower_dr)] == [
        False, False, True,
    ]  # fmt: skip
    assert [ACCEPTANCE.get("l2")(c, best) for c in (higher_norm_lower_iter, higher_both, lower_dr)] == [
        True, True, True,
    ]  # fmt: skip


def test_correct_density_hand_case():
    masks = {"a": torch.tensor([True, True, False, False]), "b": torch.tensor([True, False])}
    weights = {"a": torch.tensor([0.5, -0.1, 0.9, 0.2]), "b": torch.tensor([0.3, -0.8])}
    for mode in ("global", "proportional"):  # both rules agree on this case
        fewer, moved = correct_density(masks, weights, 2, mode=mode)  # drop the smallest kept |w|: a[1]
        assert moved == {"a": -1, "b": 0}
        assert fewer["a"].tolist() == [True, False, False, False] and fewer["b"].tolist() == [True, False]
        more, moved = correct_density(masks, weights, 5, mode=mode)  # add the largest pruned: a[2], b[1]
        assert moved == {"a": 1, "b": 1}
        assert more["a"].tolist() == [True, True, True, False] and more["b"].tolist() == [True, True]


def test_proportional_correction_spreads_the_change_by_kept_count():
    """Global |w| ranking would take all 3 from layer b (its weights are tiny); proportional takes 2:1."""
    masks = {"a": torch.ones(6, dtype=torch.bool), "b": torch.tensor([True, True, True, False, False, False])}
    weights = {"a": torch.arange(1.0, 7.0), "b": torch.tensor([0.01, 0.02, 0.03, 0.0, 0.0, 0.0])}
    _, moved_g = correct_density(masks, weights, 6, mode="global")
    assert moved_g == {"a": 0, "b": -3}
    prop, moved_p = correct_density(masks, weights, 6, mode="proportional")
    assert moved_p == {"a": -2, "b": -1}
    assert prop["a"].tolist() == [False, False, True, True, True, True]  # a's two smallest |w| dropped
    assert prop["b"].tolist() == [False, True, True, False, False, False]


@pytest.mark.parametrize("sparsity", [0.5, 0.9])
def test_final_density_is_exact_and_trace_is_in_the_summary(cnn, sparsity):
    masks, summary = prune_and_summarize(
        "fullspectrum", cnn, sparsity, dataset(), seed=1, base="random", samples=3
    )
    total = sum(m.numel() for m in masks.values())
    assert (
        summary["global"]["kept"] == sum(int(m.sum()) for m in masks.values()) == keep_count(total, sparsity)
    )
    trace = summary["extras"]["fullspectrum"]
    before = trace["before_correction"]
    assert before["target"] == keep_count(total, sparsity)
    assert before["kept"] + trace["correction"]["added"] - trace["correction"]["removed"] == before["target"]
    rows = search_table(summary)
    assert len(rows) == 4 * len(masks) and tuple(rows[0]) == TRACE_COLUMNS
    assert [r["sample"] for r in rows[:: len(masks)]] == [0, 1, 2, 3]
    assert json.loads(json.dumps(summary)) == summary  # goes to mask.json as is


def test_same_seed_same_search_other_seed_other_search(cnn):
    def run(seed):
        return prune_and_summarize("fullspectrum", cnn, 0.9, dataset(), seed=seed, base="snip", samples=2,
                                   batch_size=40)  # fmt: skip

    (a, sa), (b, sb), (c, _) = run(4), run(4), run(5)
    assert tensors_checksum(a) == tensors_checksum(b) != tensors_checksum(c)
    assert sa["extras"] == sb["extras"]


def test_warm_up_scores_with_the_trained_weights(cnn):
    data = dataset()
    warmed = copy.deepcopy(cnn)
    warm_up(warmed, data, 3, lr=0.1, batch_size=32, seed=pruner_seed(2, "fullspectrum:warmup"))
    assert tensors_checksum(warmed.state_dict()) != tensors_checksum(cnn.state_dict())
    _, summary = prune_and_summarize("fullspectrum", cnn, 0.9, data, seed=2, base="erk", samples=1,
                                     warmup_iterations=3, batch_size=32)  # fmt: skip
    incumbent = prune("erk", cnn, 0.9, seed=2)  # ERK is data- and weight-free: same incumbent mask
    expected = coordinate(warmed, incumbent)
    for row in search_table(summary):
        if row["sample"] == 0:
            assert row["norm"] == pytest.approx(expected[row["layer"]]["norm"])


def test_noise_diversifies_a_deterministic_base(cnn):
    def norms(noise):
        synflow = {"iterations": 2, "input_shape": SHAPE}
        _, summary = prune_and_summarize(
            "fullspectrum", cnn, 0.9, seed=0, base="synflow", samples=2, noise=noise, base_options=synflow
        )
        rows = search_table(summary)
        return {r["sample"]: r["norm"] for r in rows if r["layer_index"] == 1}

    clean = norms(0.0)
    assert clean[0] == clean[1] == clean[2]  # SynFlow alone gives the same mask every time
    noisy = norms(None)  # auto: noise 1.0 for SynFlow
    assert noisy[0] == clean[0] and len(set(noisy.values())) > 1


def test_bad_options_are_named(cnn):
    with pytest.raises(InvalidValueError, match="base of pruner 'fullspectrum'") as err:
        prune("fullspectrum", cnn, 0.9, base="dense")
    assert "snip" in err.value.accepted and "fullspectrum" not in err.value.accepted
    with pytest.raises(UnknownNameError, match="loose"):
        prune("fullspectrum", cnn, 0.9, base="random", acceptance="greedy")
    with pytest.raises(InvalidValueError, match=re.escape("iteration")):
        prune("fullspectrum", cnn, 0.9, base="synflow", base_options={"iteration": 3})
    with pytest.raises(InvalidValueError, match="samples"):
        prune("fullspectrum", cnn, 0.9, base="random", samples=-1)


def eval_snip_mask(model, x, y, sparsity):
    """Oracle: SNIP on one batch with BatchNorm in eval mode (equal-sized batches: the same ranking as the
    reference's sum of per-batch mean-loss gradients)."""
    return global_topk_masks(snip_scores(lock_bn_eval(copy.deepcopy(model)), x, y), sparsity)


def test_ready_batches_are_rotated_between_samples(cnn):
    """With a list of batches, sample t gets batches 4t-4 … 4t-1 (cycled): SNIP's mask of sample 1 is
    eval-mode SNIP on batches 0–3."""
    g = torch.Generator().manual_seed(0)
    batches = [(torch.randn(10, *SHAPE, generator=g), torch.arange(10)) for _ in range(5)]
    result = fullspectrum_search(cnn, 0.9, batches, 0, base="snip", samples=2, acceptance="l2")
    x, y = torch.cat([b[0] for b in batches[:4]]), torch.cat([b[1] for b in batches[:4]])
    expected = coordinate(cnn, eval_snip_mask(cnn, x, y, 0.9))
    sample1 = {row[2]: row[8] for row in result.rows if row[0] == 1}  # norm column
    assert sample1 == pytest.approx({n: v["norm"] for n, v in expected.items()})
