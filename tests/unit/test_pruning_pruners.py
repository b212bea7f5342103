"""Pruners: exact sparsity, closed forms, independent oracles for the scores, determinism, bad input."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call
from torch.utils.data import TensorDataset

from snntopo.errors import InvalidValueError, LayerCollapseError, UnknownNameError
from snntopo.models import init_model, prunable_parameters
from snntopo.pruning import (
    PRUNERS,
    global_topk_masks,
    grasp_scores,
    keep_count,
    prospr_scores,
    prune,
    prune_and_summarize,
    sample_batches,
    snip_scores,
    synflow_scores,
)
from snntopo.utils import tensors_checksum

ALL = [
    "dense",
    "er",
    "erk",
    "fullspectrum",
    "grasp",
    "iter_snip",
    "magnitude",
    "prospr",
    "random",
    "snip",
    "synflow",
    "uniform",
]
# depend on the seed
RANDOM = ["uniform", "random", "er", "erk", "snip", "iter_snip", "grasp", "prospr", "fullspectrum"]
# Fast settings for the 8×8 ResNet-20 sweep; defaults are exercised in test_defaults_on_a_tiny_net.
FAST = {
    "grasp": {"samples_per_class": 2},
    "synflow": {"iterations": 5, "prune_biases": False},  # weights only, as the key check below expects
    "iter_snip": {"preset": "neurips2023", "iterations": 3},  # iclr2023 (whole passes) is seed-free
    "prospr": {"meta_steps": 1},
    "fullspectrum": {"base": "random", "samples": 2},
}


def synthetic_batches(n_batches=3, batch=20, shape=(3, 8, 8), classes=10, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(batch, *shape, generator=gen), torch.arange(batch) % classes) for _ in range(n_batches)
    ]


def synthetic_dataset(n=600, shape=(1, 8, 8), classes=10, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.randn(n, *shape, generator=gen), torch.arange(n) % classes)


def test_registry_lists_every_pruner():
    assert PRUNERS.names() == sorted(ALL)


@pytest.fixture(scope="module")
def resnet20():
    return init_model("resnet20", (3, 8, 8), 10, seed=0)


@pytest.mark.parametrize("sparsity", [0.6, 0.9, 0.98])
@pytest.mark.parametrize("name", [n for n in ALL if n != "dense"])
def test_global_sparsity_is_exact_on_resnet20(resnet20, name, sparsity):
    before = tensors_checksum(resnet20.state_dict())
    masks = prune(
        name, resnet20, sparsity, synthetic_batches(), seed=0, allow_collapse=True, **FAST.get(name, {})
    )
    weights = prunable_parameters(resnet20)
    assert list(masks) == list(weights)  # module order, weights only
    assert all(masks[n].shape == w.shape and masks[n].dtype == torch.bool for n, w in weights.items())
    total = sum(w.numel() for w in weights.values())
    kept = sum(int(m.sum()) for m in masks.values())
    assert kept == keep_count(total, sparsity)
    assert abs((1 - kept / total) - sparsity) <= 1 / total  # "exact to within one weight"
    assert tensors_checksum(resnet20.state_dict()) == before  # the caller's model is never modified


def test_dense_keeps_everything_and_only_at_sparsity_zero(resnet20):
    masks = prune("dense", resnet20, 0.0)
    assert all(m.all() for m in masks.values())
    with pytest.raises(InvalidValueError, match="dense"):
        prune("dense", resnet20, 0.5)


def test_sparsity_zero_keeps_everything_for_every_pruner():
    model = init_model("mlp", (1, 4, 4), 10, seed=0)
    data = synthetic_batches(shape=(1, 4, 4))
    for name in ALL:
        masks = prune(name, model, 0.0, data, **FAST.get(name, {}))
        assert all(m.all() for m in masks.values()), name


# ------------------------------------------------------------------------------------ random pruners
def kept_density(masks):
    return {n: m.sum().item() / m.numel() for n, m in masks.items()}


def assert_within_one_weight(masks, expected):
    for name, mask in masks.items():
        assert abs(mask.sum().item() - expected[name] * mask.numel()) < 1, (name, expected[name])


def test_uniform_gives_every_layer_the_same_density(resnet20):
    masks = prune("uniform", resnet20, 0.9, seed=0)
    assert_within_one_weight(masks, dict.fromkeys(masks, 0.1))


def test_erk_matches_the_closed_form_without_dense_layers():
    # MLP 16 → 32 → 10: shapes (32, 16) and (10, 32); raw_l = Σshape/Πshape = 48/512 and 42/320.
    model = init_model("mlp", (1, 4, 4), 10, seed=0)
    masks = prune("erk", model, 0.9, seed=0)
    eps = 0.1 * 832 / (48 + 42)  # ε·Σ raw_l·n_l = (1−s)·N, and raw_l·n_l = Σ shape_l
    assert_within_one_weight(masks, {"1.weight": eps * 48 / 512, "3.weight": eps * 42 / 320})
    # ER (SET/RigL form) has ERK's densities on 2-D weights, but draws from its own stream (seed, "er")
    er = prune("er", model, 0.9, seed=0)
    assert_within_one_weight(er, {"1.weight": eps * 48 / 512, "3.weight": eps * 42 / 320})
    assert not all(torch.equal(er[n], masks[n]) for n in masks)


def test_erk_makes_over_full_layers_dense_and_resolves_epsilon():
    # Tiny CNN on 1-channel input, hand-computed (sizes n and Σshape per layer):
    # conv1 (8,1,3,3): 72, 15; conv2 (16,8,3,3): 1152, 30; conv3 (16,16,3,3): 2304, 38;
    # shortcut (16,8,1,1): 128, 26; linear (10,16): 160, 26.  N = 3816, budget at s=0.5: 1908.
    # First ε = 1908/135 = 14.13 makes conv1 (2.94), shortcut (2.87), linear (2.30) over-full → dense;
    # re-solved ε = (1908 − 72 − 128 − 160)/(30 + 38) = 22.76.
    model = init_model("cnn", (1, 8, 8), 10, seed=0)
    masks = prune("erk", model, 0.5, seed=0)
    eps = 1548 / 68
    expected = {"conv1.weight": 1.0, "conv2.weight": eps * 30 / 1152, "conv3.weight": eps * 38 / 2304,
                "shortcut.0.weight": 1.0, "linear.weight": 1.0}  # fmt: skip
    assert_within_one_weight(masks, expected)
    assert masks["conv1.weight"].all() and masks["linear.weight"].all()


def test_er_default_is_the_set_rigl_closed_form_without_kernel_dims():
    # raw_l = (C_out + C_in)/(C_out·C_in): 9/8, 24/128, 32/256, 24/128, 26/160; Σ raw_l·n_l = 635.
    model = init_model("cnn", (1, 8, 8), 10, seed=0)
    masks = prune("er", model, 0.9, seed=0)
    eps = 0.1 * 3816 / 635
    raw = {"conv1.weight": 9 / 8, "conv2.weight": 24 / 128, "conv3.weight": 32 / 256,
           "shortcut.0.weight": 24 / 128, "linear.weight": 26 / 160}  # fmt: skip
    assert_within_one_weight(masks, {n: eps * r for n, r in raw.items()})


def test_mge_er_keeps_fewer_weights_than_asked_and_records_it():
    # Hand check of the search on the tiny CNN (Σ_l Σshape_l = 15+30+38+26+26 = 135, N = 3816):
    # target 0.5·N = 1908; the search stops one update past |ε·135 − 1908| < 5; conv1, the shortcut
    # and the linear layer get p = ε·Σshape/Πshape > 1, i.e. dense, so fewer than 1908 are expected.
    model = init_model("cnn", (1, 8, 8), 10, seed=0)
    masks, summary = prune_and_summarize("er", model, 0.5, seed=0, variant="mge")
    extras = summary["extras"]
    eps = extras["er_epsilon"]
    # the ε that met the tolerance is one update back: ε / (1 ± 0.5·0.95^k) for the last step k
    before = [eps / (1 + sign * 0.5 * 0.95**k) for k in range(200) for sign in (1, -1)]
    assert any(abs(e * 135 - 1908) < 5 for e in before)
    assert abs(eps * 135 - 1908) >= 5  # and the ε used is not that one
    expected = {"conv1.weight": 15 / 72, "conv2.weight": 30 / 1152, "conv3.weight": 38 / 2304,
                "shortcut.0.weight": 26 / 128, "linear.weight": 26 / 160}  # fmt: skip
    for name, raw in expected.items():
        assert extras["expected_layer_density"][name] == pytest.approx(min(1.0, eps * raw), rel=1e-12)
    assert masks["conv1.weight"].all() and masks["shortcut.0.weight"].all() and masks["linear.weight"].all()
    assert extras["expected_density"] < 0.5
    kept = summary["global"]["kept"]
    assert kept < keep_count(3816, 0.5)  # not re-filled to the requested count
    assert summary["global"]["sparsity"] == pytest.approx(1 - kept / 3816)


@pytest.mark.parametrize("variant", ["rigl", "mge"])
@pytest.mark.parametrize("sparsity", [0.6, 0.8, 0.9, 0.95, 0.98])
def test_er_and_erk_masks_differ_at_every_sparsity_of_the_grid(variant, sparsity):
    model = init_model("resnet20", (3, 8, 8), 10, seed=0)
    er = prune("er", model, sparsity, seed=0, variant=variant)
    erk = prune("erk", model, sparsity, seed=0)
    assert not all(torch.equal(er[n], erk[n]) for n in erk)
    assert [int(er[n].sum()) for n in erk] != [int(erk[n].sum()) for n in erk]  # densities differ too


def test_two_pruners_never_share_a_random_stream():
    from snntopo.pruning.registry import pruner_seed

    names = ["random", "uniform", "er", "erk", "snip", "grasp", "prospr", "iter_snip"]
    assert len({pruner_seed(0, n) for n in names}) == len(names)
    assert pruner_seed(0, "er") != pruner_seed(1, "er") and pruner_seed(3, "er") == pruner_seed(3, "er")


def test_unknown_er_variant_is_named():
    model = init_model("mlp", (1, 4, 4), 10, seed=0)
    with pytest.raises(InvalidValueError, match=r"variant of pruner 'er'.*mge"):
        prune("er", model, 0.5, variant="set")


# ------------------------------------------------------------------------------------------ oracles
@pytest.fixture
def tiny():
    """MLP 9 → 12 → 3 in float64 (no BatchNorm: chunked and full-batch computations coincide)."""
    model = init_model("mlp", (1, 3, 3), 3, seed=0, hidden=(12,)).double()
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(12, 1, 3, 3, generator=gen, dtype=torch.float64)
    y = torch.arange(12) % 3
    return model, x, y


def flat_loss(model, names, temperature=1.0):
    """Loss as a function of the concatenated weights ``names`` (for torch.autograd.functional)."""
    params = dict(model.named_parameters())
    shapes = [params[n].shape for n in names]

    def f(flat, x, y):
        pieces = torch.split(flat, [math.prod(s) for s in shapes])
        p = {
            **{n: t.detach() for n, t in params.items()},
            **{n: t.reshape(s) for n, t, s in zip(names, pieces, shapes, strict=True)},
        }
        return F.cross_entropy(functional_call(model, p, (x,)) / temperature, y)

    return f, torch.cat([params[n].detach().reshape(-1) for n in names])


def test_snip_keeps_the_topk_of_w_times_grad(tiny):
    model, x, y = tiny
    weights = prunable_parameters(model)
    loss = F.cross_entropy(model(x), y)
    grads = torch.autograd.grad(loss, list(weights.values()))
    scores = torch.cat(
        [(w.detach() * g).abs().reshape(-1) for w, g in zip(weights.values(), grads, strict=True)]
    )
    k = keep_count(scores.numel(), 0.6)
    expected = torch.zeros(scores.numel(), dtype=torch.bool)
    expected[torch.sort(scores, descending=True, stable=True).indices[:k]] = True
    masks = prune("snip", model, 0.6, [(x, y)])
    assert torch.equal(torch.cat([m.reshape(-1) for m in masks.values()]), expected)
    chunked = snip_scores(model, x, y, chunk_size=5)  # gradient accumulation gives the same scores
    assert torch.allclose(torch.cat([s.reshape(-1) for s in chunked.values()]), scores, rtol=1e-10, atol=0)


def test_iter_snip_with_one_round_is_snip(tiny):
    model, x, y = tiny
    one = prune("iter_snip", model, 0.7, [(x, y)], iterations=1)
    snip = prune("snip", model, 0.7, [(x, y)])
    assert all(torch.equal(one[n], snip[n]) for n in snip)


def test_grasp_score_is_minus_w_hessian_gradient(tiny):
    model, x, y = tiny
    names = list(prunable_parameters(model))
    f, w = flat_loss(model, names, temperature=200.0)
    g = torch.autograd.grad(f(w.requires_grad_(), x, y), w)[0]
    _, hg = torch.autograd.functional.hvp(lambda v: f(v, x, y), w.detach(), g)
    expected = -(w.detach() * hg)
    for chunk_size in (None, 5):
        scores = grasp_scores(model, x, y, temperature=200.0, chunk_size=chunk_size)
        got = torch.cat([scores[n].reshape(-1) for n in names])
        assert torch.allclose(got, expected, rtol=1e-8, atol=1e-30)
    # The pruner removes the highest scores: it keeps the k lowest (12 samples = 4 per class).
    masks = prune("grasp", model, 0.6, [(x, y)], samples_per_class=4, reinit=False)
    k = keep_count(expected.numel(), 0.6)
    kept = torch.cat([m.reshape(-1) for m in masks.values()])
    assert torch.equal(kept, global_topk_masks({"all": -expected}, keep=k)["all"])
    assert expected[kept].max() < expected[~kept].min()


def test_synflow_scores_satisfy_neuron_wise_conservation():
    model = init_model("mlp", (1, 3, 3), 4, seed=0, hidden=(6, 5))
    with torch.no_grad():  # non-zero biases so that their flow is part of the balance
        for m in model.modules():
            if isinstance(m, torch.nn.Linear):
                m.bias.uniform_(-0.5, 0.5, generator=torch.Generator().manual_seed(2))
    s = synflow_scores(model, (1, 3, 3), prune_biases=True)
    for inner, outer in (("1", "3"), ("3", "5")):
        into = s[f"{inner}.weight"].sum(1) + s[f"{inner}.bias"]  # flow into each hidden neuron
        out_of = s[f"{outer}.weight"].sum(0)  # flow out of it
        assert torch.allclose(into, out_of, rtol=1e-10)
    # hand check of the last layer: S[k, j] = |W2[k, j]|·h_j with h the linearised hidden activity
    w1, b1, w2 = (model.get_parameter(n).detach().double().abs() for n in ("3.weight", "3.bias", "5.weight"))
    h0 = (
        model.get_parameter("1.weight").detach().double().abs().sum(1)
        + model.get_parameter("1.bias").double().abs()
    )
    h1 = w1 @ h0 + b1
    assert torch.allclose(s["5.weight"], w2 * h1, rtol=1e-10)


def test_synflow_layer_totals_are_equal_without_biases():
    model = init_model("mlp", (1, 3, 3), 4, seed=0, hidden=(6, 5))  # biases are zero at init
    s = synflow_scores(model, (1, 3, 3), prune_biases=False)
    totals = torch.stack([v.sum() for v in s.values()])
    assert torch.allclose(totals, totals[0].expand(3), rtol=1e-10)


def test_synflow_with_one_iteration_is_top_k_of_the_scores():
    model = init_model("cnn", (1, 8, 8), 10, seed=0)
    masks = prune("synflow", model, 0.8, iterations=1, input_shape=(1, 8, 8))
    expected = global_topk_masks(synflow_scores(model, (1, 8, 8)), 0.8)
    assert all(torch.equal(masks[n], expected[n]) for n in masks)


def test_synflow_prunes_biases_by_default_as_the_mge_code():
    model = init_model("mlp", (1, 4, 4), 10, seed=0)
    masks = prune("synflow", model, 0.9, iterations=3, input_shape=(1, 4, 4))
    assert set(masks) == {"1.weight", "3.weight", "1.bias", "3.bias"}
    assert sum(int(m.sum()) for m in masks.values()) == keep_count(832 + 42, 0.9)
    assert not masks["1.bias"].any()  # zero biases carry no flow: pruned first
    weights_only = prune("synflow", model, 0.9, iterations=3, input_shape=(1, 4, 4), prune_biases=False)
    assert set(weights_only) == {"1.weight", "3.weight"}
    with pytest.raises(InvalidValueError, match="input_shape"):
        prune("synflow", model, 0.9)


def unrolled_prospr(model, batches, lr, mu, wd, detach_first=False):
    """Oracle: differentiate through the unrolled SGD steps with autograd (create_graph).

    ``detach_first``: the first momentum buffer is a detached copy of the first gradient, as in the
    published ProsPr code (``buf = torch.clone(grad).detach()``).
    """
    params = dict(model.named_parameters())
    weights = list(prunable_parameters(model))
    m = {n: torch.ones_like(params[n], requires_grad=True) for n in weights}
    fast = {
        n: params[n].detach() * m[n] if n in m else params[n].detach().clone().requires_grad_()
        for n in params
    }
    buf = None
    for x, y in batches[:-1]:
        loss = F.cross_entropy(functional_call(model, fast, (x,)), y)
        grads = torch.autograd.grad(loss, list(fast.values()), create_graph=True)
        g = {n: gr + wd * fast[n] for n, gr in zip(fast, grads, strict=True)}
        if buf is None:
            buf = {n: t.detach() for n, t in g.items()} if detach_first else g
        else:
            buf = {n: mu * buf[n] + g[n] for n in g}
        fast = {n: fast[n] - lr * buf[n] for n in fast}
    meta = F.cross_entropy(functional_call(model, fast, (batches[-1][0],)), batches[-1][1])
    grads = torch.autograd.grad(meta, [m[n] for n in weights])
    return {n: g.abs() for n, g in zip(weights, grads, strict=True)}


@pytest.mark.parametrize("meta_gradient", ["exact", "reference"])
@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_prospr_meta_gradient_matches_unrolled_autograd(weight_decay, meta_gradient):
    # CNN with BatchNorm in training mode, float64, whole batches (chunk_size=None) so the two agree exactly.
    model = init_model("cnn", (1, 8, 8), 3, seed=0).double().train()
    gen = torch.Generator().manual_seed(0)
    batches = [
        (torch.randn(6, 1, 8, 8, generator=gen, dtype=torch.float64), torch.arange(6) % 3) for _ in range(4)
    ]
    detach = meta_gradient == "reference"
    expected = unrolled_prospr(model, batches, lr=0.5, mu=0.9, wd=weight_decay, detach_first=detach)
    got = prospr_scores(
        model, batches, inner_lr=0.5, momentum=0.9, weight_decay=weight_decay, meta_gradient=meta_gradient
    )
    for name in expected:
        assert torch.allclose(got[name], expected[name], rtol=1e-7, atol=1e-14), name
    other = unrolled_prospr(model, batches, lr=0.5, mu=0.9, wd=weight_decay, detach_first=not detach)
    assert not all(torch.allclose(got[n], other[n], rtol=1e-3) for n in other)  # the two really differ


def test_prospr_chunking_is_exact_without_batch_statistics(tiny):
    model, x, y = tiny
    batches = [(x, y), (x.flip(0), y.flip(0)), (x * 0.5, y)]
    full = prospr_scores(model, batches, chunk_size=None, meta_gradient="exact")
    chunked = prospr_scores(model, batches, chunk_size=5, meta_gradient="exact")
    assert all(torch.allclose(full[n], chunked[n], rtol=1e-9, atol=1e-14) for n in full)


# ------------------------------------------------------------------------------- defaults, seeds, errors
@pytest.mark.parametrize("name", ALL)
def test_defaults_on_a_tiny_net(name):
    """Every pruner with its default (MGE study) settings, data drawn from a Dataset."""
    model = init_model("cnn", (1, 8, 8), 10, seed=0)
    s = 0.0 if name == "dense" else 0.9
    masks, summary = prune_and_summarize(name, model, s, synthetic_dataset(), seed=0)
    total = sum(m.numel() for m in masks.values())  # SynFlow's default prunes the linear bias too
    assert sum(int(m.sum()) for m in masks.values()) == keep_count(total, s)
    assert summary["collapsed_layers"] == []


def test_default_options_are_the_mge_settings():
    from snntopo.pruning import pruner_options

    assert pruner_options("snip")["batch_size"] == 128
    grasp = pruner_options("grasp")
    assert (grasp["samples_per_class"], grasp["temperature"], grasp["reinit"]) == (25, 200.0, True)
    assert (grasp["bn_batches"], grasp["chunk_size"]) == (2, None)  # the reference's two halves, no chunks
    synflow = pruner_options("synflow")
    assert (synflow["iterations"], synflow["prune_biases"]) == (100, True)
    prospr = pruner_options("prospr")
    assert [prospr[k] for k in ("meta_steps", "inner_lr", "momentum", "batch_size")] == [3, 0.5, 0.9, 512]
    assert (prospr["meta_gradient"], prospr["chunk_size"]) == ("reference", None)
    assert pruner_options("er")["variant"] == "rigl"
    assert pruner_options("iter_snip")["preset"] == "iclr2023"


@pytest.mark.parametrize("name", ALL)
def test_same_seed_gives_the_same_mask(name):
    model = init_model("cnn", (1, 8, 8), 10, seed=0)
    data = synthetic_dataset(n=100)
    opts = dict(FAST.get(name, {}))
    if name in ("snip", "iter_snip", "prospr"):
        opts["batch_size"] = 20
    s = 0.0 if name == "dense" else 0.9
    a = prune(name, model, s, data, seed=5, allow_collapse=True, **opts)
    b = prune(name, model, s, data, seed=5, allow_collapse=True, **opts)
    assert tensors_checksum(a) == tensors_checksum(b)
    c = prune(name, model, s, data, seed=6, allow_collapse=True, **opts)
    if name in RANDOM:
        assert tensors_checksum(a) != tensors_checksum(c)
    else:  # dense, magnitude and SynFlow use no randomness at all
        assert tensors_checksum(a) == tensors_checksum(c)


def test_pruning_leaves_the_callers_rng_alone():
    model = init_model("cnn", (1, 8, 8), 10, seed=0)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    prune("random", model, 0.9, seed=1)
    prune("snip", model, 0.9, synthetic_dataset(n=50), seed=1, batch_size=10)
    assert torch.equal(torch.get_rng_state(), state)


def test_sample_batches_is_seeded_and_without_replacement_within_a_pass():
    data = TensorDataset(torch.arange(10.0).reshape(10, 1), torch.arange(10))
    first = [y for _, y in sample_batches(data, 4, 3, seed=0)]  # 12 samples: one pass + 2
    again = [y for _, y in sample_batches(data, 4, 3, seed=0)]
    other = [y for _, y in sample_batches(data, 4, 3, seed=1)]
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))
    assert sorted(torch.cat(first)[:10].tolist()) == list(range(10))


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, float("nan"), "half", None])
def test_bad_sparsity_is_rejected(bad, resnet20):
    with pytest.raises(InvalidValueError, match="sparsity"):
        prune("random", resnet20, bad)


def test_unknown_pruner_lists_the_known_ones(resnet20):
    with pytest.raises(UnknownNameError) as err:
        prune("snipp", resnet20, 0.5)
    assert "snipp" in str(err.value)
    assert all(name in str(err.value) for name in ALL)


def test_unknown_option_names_it_and_the_accepted_ones(resnet20):
    with pytest.raises(InvalidValueError) as err:
        prune("synflow", resnet20, 0.5, iteration=10)
    message = str(err.value)
    assert "iteration" in message and "iterations" in message and "allow_collapse" in message


def test_data_dependent_pruners_need_data(resnet20):
    for name in ("snip", "iter_snip", "grasp", "prospr"):
        with pytest.raises(InvalidValueError, match=f"data for pruner '{name}'"):
            prune(name, resnet20, 0.5)


def test_grasp_reports_missing_classes():
    model = init_model("mlp", (1, 4, 4), 10, seed=0)
    data = [(torch.randn(20, 1, 4, 4), torch.arange(20) % 5)]  # classes 5..9 never appear
    with pytest.raises(InvalidValueError, match="samples_per_class"):
        prune("grasp", model, 0.5, data, samples_per_class=2)


def test_layer_collapse_is_an_error_naming_the_layer_unless_allowed():
    model = init_model("mlp", (1, 4, 4), 10, seed=0)
    with torch.no_grad():
        model.get_parameter("3.weight").mul_(1e-6)  # magnitude will prune the whole last layer
    with pytest.raises(LayerCollapseError, match=r"3\.weight"):
        prune("magnitude", model, 0.5)
    masks, summary = prune_and_summarize("magnitude", model, 0.5, allow_collapse=True)
    assert not masks["3.weight"].any()
    assert summary["collapsed_layers"] == ["3.weight"]
    assert summary["options"]["allow_collapse"] is True
