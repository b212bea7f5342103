"""iter_snip presets: the schedule each preset consumes (rounds, batches, BN mode, noise), and its masks."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from _counting_data import CountingDataset
from torch.func import functional_call

from snntopo.errors import InvalidValueError, UnknownNameError
from snntopo.models import init_model, prunable_parameters
from snntopo.pruning import keep_count, prune, pruner_options, pruner_seed
from snntopo.pruning.perturb import add_init_noise, lock_bn_eval
from snntopo.pruning.saliency import ITER_SNIP_PRESETS


class CountingBatches:
    """An iterable of ready batches that records every batch handed out (by index) and every restart."""

    def __init__(self, n=3, batch=6, seed=0):
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn(n, batch, 1, 8, 8, generator=gen)
        self.batches = [(x[i], torch.arange(batch) % 10) for i in range(n)]
        self.served: list[int] = []
        self.starts = 0

    def __iter__(self):
        self.starts += 1
        for i, b in enumerate(self.batches):
            self.served.append(i)
            yield b


def bn_modes_seen(model):
    """Record the training flag of every BatchNorm forward (hooks survive the front door's deepcopy)."""
    seen: list[bool] = []
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.register_forward_pre_hook(lambda mod, _inp: seen.append(mod.training))
    return seen


BN_PER_FORWARD = 4  # the cnn's BatchNorm layers (three convs and the shortcut)


@pytest.fixture
def cnn():
    return init_model("cnn", (1, 8, 8), 10, seed=0)


def test_presets_are_the_published_schedules():
    iclr, neurips = ITER_SNIP_PRESETS.get("iclr2023"), ITER_SNIP_PRESETS.get("neurips2023")
    assert dataclasses.astuple(iclr) == (100, "all", 100, "eval", 0.0)
    assert dataclasses.astuple(neurips) == (10, 4, 100, "eval", 1.0)
    assert pruner_options("iter_snip")["preset"] == "iclr2023"  # the documented default


def test_iclr2023_consumes_100_whole_passes_in_eval_mode(cnn):
    data = CountingBatches(n=3)
    seen = bn_modes_seen(cnn)
    masks = prune("iter_snip", cnn, 0.8, data, seed=0, preset="iclr2023")
    assert data.starts == 100 and data.served == [0, 1, 2] * 100
    assert len(seen) == 300 * BN_PER_FORWARD and not any(seen)  # every forward in eval mode
    total = sum(m.numel() for m in masks.values())
    assert sum(int(m.sum()) for m in masks.values()) == keep_count(total, 0.8)


def test_neurips2023_consumes_10_rounds_of_4_batches_in_eval_mode(cnn):
    data = CountingBatches(n=6)
    seen = bn_modes_seen(cnn)
    prune("iter_snip", cnn, 0.8, data, seed=0, preset="neurips2023")
    assert data.served == [0, 1, 2, 3] * 10  # each round restarts the loader and takes 4 batches
    assert len(seen) == 40 * BN_PER_FORWARD and not any(seen)


def test_neurips2023_draws_4_batches_of_100_from_a_dataset_per_round(cnn):
    data = CountingDataset(500)
    prune("iter_snip", cnn, 0.8, data, seed=0, preset="neurips2023")
    assert data.fetched == 10 * 4 * 100


def test_iclr2023_passes_over_a_whole_dataset_each_round(cnn):
    data = CountingDataset(150)  # one pass = batches of 100 and 50
    prune("iter_snip", cnn, 0.8, data, seed=0, preset="iclr2023", iterations=7)
    assert data.fetched == 7 * 150


def test_options_override_the_preset(cnn):
    data = CountingBatches(n=5)
    seen = bn_modes_seen(cnn)
    prune("iter_snip", cnn, 0.8, data, seed=0, preset="neurips2023", iterations=2, batches_per_round=3,
          bn_mode="train")  # fmt: skip
    assert data.served == [0, 1, 2] * 2 and len(seen) == 6 * BN_PER_FORWARD and all(seen)


def test_noise_is_drawn_once_at_the_init_std(cnn):
    """neurips2023 = the noise-free schedule run on weights + N(0, std_init²) noise of the pruner's seed."""
    data = CountingBatches(n=4)
    noisy = prune("iter_snip", cnn, 0.8, data, seed=3, preset="neurips2023", iterations=3)
    clean = prune("iter_snip", cnn, 0.8, data, seed=3, preset="neurips2023", iterations=3, noise=0.0)
    perturbed = init_model("cnn", (1, 8, 8), 10, seed=0)
    add_init_noise(perturbed, 1.0, pruner_seed(3, "iter_snip"))  # iter_snip's own stream
    oracle = prune("iter_snip", perturbed, 0.8, data, seed=3, preset="neurips2023", iterations=3, noise=0.0)
    assert all(torch.equal(noisy[n], oracle[n]) for n in noisy)
    assert not all(torch.equal(noisy[n], clean[n]) for n in noisy)


def test_add_init_noise_has_the_kaiming_std():
    model = init_model("mlp", (1, 20, 20), 10, seed=0, hidden=(300,))
    before = {n: w.detach().clone() for n, w in prunable_parameters(model).items()}
    add_init_noise(model, 2.0, seed=0)
    for n, w in prunable_parameters(model).items():
        std = float((w.detach() - before[n]).std())
        expected = 2.0 * (2.0 / w.shape[1]) ** 0.5
        assert std == pytest.approx(expected, rel=0.05), n


def test_two_rounds_match_a_hand_computed_oracle():
    """Round 1: SNIP scores, keep k1. Round 2: re-score every entry at w₀⊙m (pruned ones may return)."""
    model = init_model("mlp", (1, 3, 3), 3, seed=0, hidden=(12,)).double()
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 8, 1, 3, 3, generator=gen, dtype=torch.float64)
    batches = [(x[i], torch.arange(8) % 3) for i in range(2)]
    names = list(prunable_parameters(model))
    w0 = {n: p.detach().clone() for n, p in model.named_parameters()}
    total = sum(w0[n].numel() for n in names)

    def scores(mask):
        params = {n: (w0[n] * mask[n]).requires_grad_() if n in mask else w0[n] for n in w0}
        g = {n: torch.zeros_like(w0[n]) for n in names}
        for x, y in batches:
            loss = F.cross_entropy(functional_call(model, params, (x,)), y)
            for n, gi in zip(names, torch.autograd.grad(loss, [params[n] for n in names]), strict=True):
                g[n] += gi
        return torch.cat([(w0[n] * g[n]).abs().reshape(-1) for n in names])

    def top(flat, k):
        keep = torch.zeros_like(flat, dtype=torch.bool)
        keep[torch.sort(flat, descending=True, stable=True).indices[:k]] = True
        out, i = {}, 0
        for n in names:
            out[n] = keep[i : i + w0[n].numel()].reshape(w0[n].shape)
            i += w0[n].numel()
        return out

    ones = {n: torch.ones_like(w0[n], dtype=torch.bool) for n in names}
    first = top(scores(ones), keep_count(total, 1 - 0.3**0.5))
    expected = top(scores(first), keep_count(total, 0.7))
    got = prune("iter_snip", model, 0.7, batches, seed=0, iterations=2, batches_per_round="all")
    assert all(torch.equal(got[n], expected[n]) for n in names)


@pytest.mark.parametrize(
    ("option", "bad", "accepted"),
    [("preset", "iclr", "iclr2023"), ("batches_per_round", 0, "'all'"), ("bn_mode", "frozen", "eval"),
     ("noise", -1.0, ">= 0"), ("iterations", 0, "positive")],
)  # fmt: skip
def test_bad_options_are_named(cnn, option, bad, accepted):
    with pytest.raises((InvalidValueError, UnknownNameError)) as err:
        prune("iter_snip", cnn, 0.8, CountingBatches(), seed=0, **{option: bad})
    assert accepted in str(err.value)


def test_lock_bn_eval_survives_train_calls(cnn):
    import copy

    lock_bn_eval(cnn)
    twin = copy.deepcopy(cnn).train()
    assert not any(m.training for m in twin.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert twin.training  # the rest of the model does switch
