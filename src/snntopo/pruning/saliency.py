"""Saliency pruners: magnitude, SNIP, iterative SNIP, GraSP, SynFlow, ProsPr.

Each computes one score per weight and keeps the global top-k (:func:`global_topk_masks`, exact count,
deterministic ties). Defaults reproduce the reference implementations the MGE study ran
(docs/method/pruners.md;
checked against their stored outputs in tests/unit/test_pruning_reference.py). Every ``*_scores``
function is public so that tests (and curious users) can check the scores themselves, not only the masks.

BatchNorm statistics are part of the estimator: in training mode every forward pass normalises with the
statistics of the samples it sees. So by default each score is computed on exactly the BatchNorm batches
of its reference (SNIP: one batch; GraSP: the class-sorted sample's two halves; ProsPr: one batch per
step). ``chunk_size`` splits those batches further to bound memory; with BatchNorm in training mode that
is a *different estimator* ("ghost" batch norm: each chunk normalised by its own statistics), exact only
for networks without batch statistics, and therefore never a default.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call
from torch.utils.data import Dataset, default_collate

from snntopo.errors import InvalidValueError
from snntopo.models import prunable_parameters
from snntopo.pruning.batches import Batch, as_batch, batch_stream, chunks, is_dataset, one_pass
from snntopo.pruning.masks import Masks, _prunable_biases, global_topk_masks, keep_count
from snntopo.pruning.perturb import BN_MODES, add_init_noise, check_noise, set_bn_mode
from snntopo.pruning.registry import pruner_seed, register_pruner
from snntopo.registry import Registry

Tensors = dict[str, torch.Tensor]
_DTYPES = {"float32": torch.float32, "float64": torch.float64}


# --------------------------------------------------------------------------------------------- magnitude
@register_pruner("magnitude")
def magnitude(model: nn.Module, sparsity: float, data: object, seed: int) -> Masks:
    """Keep the weights of largest |w| globally (data-free)."""
    return global_topk_masks({n: p.detach().abs() for n, p in prunable_parameters(model).items()}, sparsity)


# -------------------------------------------------------------------------------------------------- SNIP
@register_pruner("snip")
def snip(
    model: nn.Module,
    sparsity: float,
    data: object,
    seed: int,
    *,
    batch_size: int = 128,
    chunk_size: int | None = None,
) -> Masks:
    """SNIP (Lee et al. 2019): keep the top-k of |w ⊙ ∂L/∂w| on one mini-batch (default 128 samples).

    L is the mean cross-entropy, the model in training mode (BatchNorm uses batch statistics), as the
    MGE code's SNIP, which prunes the freshly built model without switching it to eval mode.
    ``chunk_size`` (None): see the module docstring; changes the estimator under BatchNorm.
    """
    x, y = next(batch_stream(data, batch_size, pruner_seed(seed, "snip"), what="pruner 'snip'"))
    return global_topk_masks(snip_scores(model, x, y, chunk_size=chunk_size), sparsity)


def snip_scores(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, chunk_size: int | None = None
) -> Tensors:
    """|w ⊙ ∂L/∂w| (= |∂L/∂m| at the all-ones mask m) for every prunable weight, L = mean cross-entropy."""
    model.train()
    weights = prunable_parameters(model)
    grads = _mean_grads(model, dict(model.named_parameters()), list(weights), x, y, chunk_size)
    return {n: (w.detach() * grads[n]).abs() for n, w in weights.items()}


@dataclasses.dataclass(frozen=True)
class IterSnipSchedule:
    """What iterative SNIP consumes: rounds, batches per round (``"all"`` = one pass), BN mode, noise."""

    iterations: int
    batches_per_round: int | str
    batch_size: int
    bn_mode: str
    noise: float


#: Published iterSNIP schedules (both score the masked network in eval mode, every entry re-scored).
ITER_SNIP_PRESETS: Registry[IterSnipSchedule] = Registry("iter_snip preset")
ITER_SNIP_PRESETS.register("iclr2023")(IterSnipSchedule(100, "all", 100, "eval", 0.0))
ITER_SNIP_PRESETS.register("neurips2023")(IterSnipSchedule(10, 4, 100, "eval", 1.0))


@register_pruner("iter_snip")
def iter_snip(
    model: nn.Module,
    sparsity: float,
    data: object,
    seed: int,
    *,
    preset: str = "iclr2023",
    iterations: int | None = None,
    batches_per_round: int | str | None = None,
    batch_size: int | None = None,
    bn_mode: str | None = None,
    noise: float | None = None,
    chunk_size: int | None = None,
) -> Masks:
    """Iterative SNIP as the Ramanujan papers' code runs it; schedule from ``preset`` (options override).

    ``iclr2023`` (ICLR'23 ``main.py``, default): 100 rounds, each over the whole training set (one pass in
    batches of 100), eval mode. ``neurips2023`` (NeurIPS'23 sampling): 10 rounds of 4 batches of 100, eval
    mode, the weights perturbed once by Gaussian noise at the initialisation's std (``noise`` = 1).
    Round e keeps round(N·(1−s)^{e/n}) weights. A round sums the gradients of the per-batch mean
    cross-entropy of its batches at the masked network w₀⊙m and scores every entry |w₀ ⊙ ∂L/∂(w₀⊙m)|:
    as in the reference, already pruned entries are scored too and may come back. ``batches_per_round``
    ``"all"``: one pass over the data per round (a Dataset in a fresh seeded order each round); an integer
    k: k batches per round (k seeded random batches of a Dataset, the first k of an iterable).
    """
    sched = _iter_snip_schedule(preset, iterations, batches_per_round, batch_size, bn_mode, noise)
    seed = pruner_seed(seed, "iter_snip")  # its noise and batch order never share another pruner's stream
    set_bn_mode(model, sched.bn_mode)
    add_init_noise(model, sched.noise, seed)
    weights = prunable_parameters(model)
    init = {n: w.detach().clone() for n, w in weights.items()}
    total = sum(w.numel() for w in init.values())
    masks = {n: torch.ones_like(w, dtype=torch.bool) for n, w in init.items()}
    params = dict(model.named_parameters())
    for i, keep in enumerate(_schedule(total, sparsity, sched.iterations)):
        if i and keep == total:
            continue
        with torch.no_grad():
            for n, w in weights.items():
                w.copy_(init[n] * masks[n])
        grads = {n: torch.zeros_like(w) for n, w in init.items()}
        for x, y in _round_batches(data, sched, seed, i):
            for n, g in _mean_grads(model, params, list(weights), x, y, chunk_size).items():
                grads[n].add_(g)
        masks = global_topk_masks({n: (init[n] * grads[n]).abs() for n in weights}, keep=keep)
    return masks


def _dataset_pass(dataset: Dataset, batch_size: int, seed: int) -> Iterator[Batch]:
    """Every sample once, in a seeded random order, in batches of ``batch_size`` (the last one smaller)."""
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))  # type: ignore[arg-type]
    for start in range(0, len(order), batch_size):
        yield as_batch(default_collate([dataset[i] for i in order[start : start + batch_size].tolist()]))


def _iter_snip_schedule(
    preset: str,
    iterations: int | None,
    batches_per_round: int | str | None,
    batch_size: int | None,
    bn_mode: str | None,
    noise: float | None,
) -> IterSnipSchedule:
    """The preset with the explicitly given options applied, each validated (errors name the option)."""
    base = ITER_SNIP_PRESETS.get(preset)
    sched = dataclasses.replace(
        base,
        **{k: v for k, v in (("iterations", iterations), ("batches_per_round", batches_per_round),
                             ("batch_size", batch_size), ("bn_mode", bn_mode), ("noise", noise))
           if v is not None},
    )  # fmt: skip
    _check_positive("iterations of pruner 'iter_snip'", sched.iterations)
    _check_positive("batch_size of pruner 'iter_snip'", sched.batch_size)
    per_round = sched.batches_per_round
    bad = isinstance(per_round, bool) or not isinstance(per_round, int) or per_round < 1
    if per_round != "all" and bad:
        what = "batches_per_round of pruner 'iter_snip'"
        raise InvalidValueError(what, per_round, "a positive integer or 'all'")
    if sched.bn_mode not in BN_MODES:
        raise InvalidValueError("bn_mode of pruner 'iter_snip'", sched.bn_mode, ", ".join(BN_MODES.names()))
    check_noise(sched.noise, "noise of pruner 'iter_snip'")
    return sched


def _round_batches(data: object, sched: IterSnipSchedule, seed: int, round_index: int) -> Iterator[Batch]:
    """The batches of one round: a fresh start of the data each round, like re-iterating a DataLoader."""
    what = "pruner 'iter_snip'"
    round_seed = int(np.random.SeedSequence([int(seed), round_index]).generate_state(1)[0])
    if sched.batches_per_round == "all" and is_dataset(data):
        yield from _dataset_pass(data, sched.batch_size, round_seed)  # type: ignore[arg-type]
        return
    if sched.batches_per_round == "all":
        yield from one_pass(data, sched.batch_size, round_seed, what=what)
        return
    yield from itertools.islice(batch_stream(data, sched.batch_size, round_seed, what=what),
                                sched.batches_per_round)  # fmt: skip


# ------------------------------------------------------------------------------------------------- GraSP
@register_pruner("grasp")
def grasp(
    model: nn.Module,
    sparsity: float,
    data: object,
    seed: int,
    *,
    samples_per_class: int = 25,
    temperature: float = 200.0,
    reinit: bool = True,
    num_classes: int | None = None,
    batch_size: int = 256,
    bn_batches: int = 2,
    chunk_size: int | None = None,
) -> Masks:
    """GraSP (Wang et al. 2020) as the MGE code runs it: score −w ⊙ Hg, remove the highest scores.

    The sample: ``samples_per_class`` (25) samples of every class, first come first taken in one seeded
    pass over the data (``batch_size``: draw size from a Dataset), ordered by class. It is cut into
    ``bn_batches`` (2: the reference's two halves) contiguous parts, each one forward pass in training
    mode, so each part is normalised with its own BatchNorm statistics; g and Hg are summed over the parts
    (:func:`grasp_scores`). L = cross-entropy of logits/``temperature`` (T = 200); g, H w.r.t. the
    Conv/Linear weights. ``reinit`` (default True, as the MGE/GraSP code): score a Kaiming-normal re-draw
    of the weights (seeded), not the given initialisation. ``num_classes``: default, the model's output
    width. ``chunk_size`` (None): further split each part to bound memory, which changes the estimator
    under BatchNorm (module docstring). Kept: the k = round((1−s)·N) lowest scores; the reference keeps
    its threshold entry too (one more weight).
    """
    _check_positive("samples_per_class of pruner 'grasp'", samples_per_class)
    _check_positive("bn_batches of pruner 'grasp'", bn_batches)
    model.train()
    if reinit:
        _kaiming_redraw(model, pruner_seed(seed, "grasp:reinit"))
    x, y = class_balanced_sample(
        model, data, samples_per_class, num_classes, batch_size, pruner_seed(seed, "grasp")
    )
    scores = grasp_scores(model, x, y, temperature=temperature, bn_batches=bn_batches, chunk_size=chunk_size)
    return global_topk_masks({n: -s for n, s in scores.items()}, sparsity)


def grasp_scores(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    temperature: float = 200.0,
    bn_batches: int = 1,
    chunk_size: int | None = None,
) -> Tensors:
    """−w ⊙ (H g) per prunable weight (model in its current mode), summed over ``bn_batches`` parts.

    The batch is cut into parts [⌊iN/P⌋, ⌊(i+1)N/P⌋) (P = ``bn_batches``; P = 2 gives the reference's
    halves [0, N/2), [N/2, N)); L_p = mean CE(model(x_p)/T, y_p) on part p, one forward pass each;
    g = Σ_p ∇_w L_p, Hg = Σ_p ∇_w (g · ∇_w L_p) with g held constant. With P = 1 this is the textbook
    −w ⊙ Hg of the mean loss; with P = 2 and no batch statistics it is 4× the one of the mean of the two
    half-losses (the reference's scaling; masks do not depend on it).
    """
    _check_positive("bn_batches", bn_batches)
    weights = prunable_parameters(model)
    params = dict(model.named_parameters())
    names = list(weights)
    parts = _parts(x, y, int(bn_batches))
    g = _summed(
        _mean_grads(model, params, names, xp, yp, chunk_size, temperature=temperature) for xp, yp in parts
    )
    hg = _summed(
        _mean_hvp(model, params, names, xp, yp, g, chunk_size, temperature=temperature) for xp, yp in parts
    )
    return {n: -(weights[n].detach() * hg[n]) for n in names}


def _parts(x: torch.Tensor, y: torch.Tensor, count: int) -> list[Batch]:
    """``count`` contiguous parts with boundaries ⌊iN/count⌋ (the reference's N//2 for two halves)."""
    n = x.shape[0]
    if count > n:
        raise InvalidValueError("bn_batches", count, f"at most the number of samples ({n})")
    cuts = [i * n // count for i in range(count + 1)]
    return [(x[a:b], y[a:b]) for a, b in itertools.pairwise(cuts)]


def _summed(terms: Iterator[Tensors]) -> Tensors:
    total: Tensors = {}
    for term in terms:
        for n, t in term.items():
            total[n] = total[n] + t if n in total else t
    return total


def class_balanced_sample(
    model: nn.Module,
    data: object,
    samples_per_class: int,
    num_classes: int | None,
    batch_size: int,
    seed: int,
) -> Batch:
    """``samples_per_class`` samples of each class, first come first taken, returned sorted by class."""
    xs, ys = [], []
    counts = None
    for x, y in one_pass(data, batch_size, seed, what="pruner 'grasp'"):
        if counts is None:
            classes = num_classes if num_classes is not None else _output_width(model, x)
            counts = torch.zeros(classes, dtype=torch.long)
        if ((y < 0) | (y >= len(counts))).any():
            raise InvalidValueError(
                "labels for pruner 'grasp'", sorted(set(y.tolist())), f"0..{len(counts) - 1}"
            )
        # Rank of each sample among the samples of its class in this batch (vectorised stable-sort trick).
        order = torch.argsort(y, stable=True)
        sorted_y = y[order]
        rank = torch.empty_like(y)
        rank[order] = torch.arange(len(y)) - torch.searchsorted(sorted_y, sorted_y)
        take = counts[y] + rank < samples_per_class
        xs.append(x[take])
        ys.append(y[take])
        counts += torch.bincount(y[take], minlength=len(counts))
        if bool((counts == samples_per_class).all()):
            break
    if counts is None or not bool((counts == samples_per_class).all()):
        found = {} if counts is None else {c: int(k) for c, k in enumerate(counts) if k < samples_per_class}
        raise InvalidValueError(
            "data for pruner 'grasp'", f"too few samples of some classes (class: count {found})",
            f"{samples_per_class} samples of each class (option samples_per_class)",
        )  # fmt: skip
    x, y = torch.cat(xs), torch.cat(ys)
    order = torch.argsort(y, stable=True)
    return x[order], y[order]


# ----------------------------------------------------------------------------------------------- SynFlow
@register_pruner("synflow")
def synflow(
    model: nn.Module,
    sparsity: float,
    data: object,
    seed: int,
    *,
    iterations: int = 100,
    input_shape: Sequence[int] | None = None,
    prune_biases: bool = True,
    dtype: str = "float64",
) -> Masks:
    """SynFlow (Tanaka et al. 2020) as the MGE code runs it: iterative, data-free synaptic-flow pruning.

    ``iterations`` rounds (100); each round scores |θ ⊙ ∂R/∂θ| of the |θ|-linearised network (every
    parameter and buffer replaced by its absolute value, eval mode, pruned entries zero) with R = sum of
    the outputs for an all-ones input of ``input_shape`` (default: the shape of a sample of ``data``;
    needed when data is None), then removes the lowest-scoring ``round(a × remaining)`` still-kept entries
    with a = 1 − (1−s)^{1/iterations} (:func:`synflow_schedule`, the reference's ``torch.nn.utils.prune``
    rule). The last round keeps exactly round((1−s)·N), where the reference's rule ends a few entries above.
    ``prune_biases`` (True, as the MGE code): the Conv/Linear biases are scored and pruned with the weights
    (docs/method/pruners.md). ``dtype`` float64 by default: R grows like a product over the layers (≈2e36
    for WRN-28-2 at 32×32, a factor 150 below float32's limit), so deeper or wider nets overflow float32.
    """
    _check_positive("iterations of pruner 'synflow'", iterations)
    shape = _input_shape(input_shape, data)
    net, params = _linearised(model, dtype, prune_biases)
    init = {n: p.detach().clone() for n, p in params.items()}
    masks = {n: torch.ones_like(p, dtype=torch.bool) for n, p in init.items()}
    total = sum(p.numel() for p in init.values())
    ones = torch.ones((1, *shape), dtype=init[next(iter(init))].dtype, device=_device(net))
    for i, keep in enumerate(synflow_schedule(total, sparsity, iterations)):
        if i and keep == total:
            continue
        scores = _synflow_round(net, params, init, masks, ones)
        masks = global_topk_masks(
            {n: torch.where(masks[n], s, -torch.inf) for n, s in scores.items()}, keep=keep
        )
    return masks


def synflow_schedule(total: int, sparsity: float, iterations: int) -> list[int]:
    """Kept counts after each SynFlow round: remove ``round(a·remaining)`` per round, the last round exact.

    a = 1 − (1−s)^{1/n}. Python's ``round`` (halves to even), as ``torch.nn.utils.prune`` computes the
    number of entries to prune from a fractional amount, so rounds 1…n−1 equal the reference's counts.
    (On tiny layers, rounding up in many rounds could undershoot the final count; no round goes below it.)
    """
    n = int(iterations)
    a = 1.0 - (1.0 - float(sparsity)) ** (1.0 / n)
    final = keep_count(total, sparsity)
    counts, remaining = [], int(total)
    for _ in range(n - 1):
        remaining -= round(a * remaining)
        counts.append(max(remaining, final))
    return [*counts, final]


def synflow_scores(
    model: nn.Module,
    input_shape: Sequence[int],
    masks: Mapping[str, torch.Tensor] | None = None,
    *,
    prune_biases: bool = True,
    dtype: str = "float64",
) -> Tensors:
    """One round of synaptic-flow scores |θ ⊙ ∂R/∂θ| on a linearised copy of ``model``, masked by ``masks``.

    Used by the tests to check SynFlow's conservation law; the pruner repeats it ``iterations`` times.
    """
    net, params = _linearised(copy.deepcopy(model), dtype, prune_biases)
    init = {n: p.detach().clone() for n, p in params.items()}
    full = {n: torch.ones_like(p, dtype=torch.bool) for n, p in init.items()}
    for n, m in (masks or {}).items():
        full[n] = m.to(device=init[n].device, dtype=torch.bool)
    ones = torch.ones((1, *[int(s) for s in input_shape]), dtype=_DTYPES[dtype], device=_device(net))
    return _synflow_round(net, params, init, full, ones)


def _synflow_round(
    net: nn.Module,
    params: Mapping[str, nn.Parameter],
    init: Tensors,
    masks: Mapping[str, torch.Tensor],
    ones: torch.Tensor,
) -> Tensors:
    with torch.no_grad():
        for n, p in params.items():
            p.copy_(init[n] * masks[n])
    r = net(ones).sum()
    grads = torch.autograd.grad(r, list(params.values()), allow_unused=True)
    return {
        n: (p.detach() * (torch.zeros_like(p) if g is None else g)).abs()
        for (n, p), g in zip(params.items(), grads, strict=True)
    }


def _linearised(
    model: nn.Module, dtype: str, prune_biases: bool
) -> tuple[nn.Module, dict[str, nn.Parameter]]:
    """Turn ``model`` (modified in place) into its |θ| version in eval mode; returns it and the scored set."""
    if dtype not in _DTYPES:
        raise InvalidValueError("dtype of pruner 'synflow'", dtype, ", ".join(_DTYPES))
    model.to(_DTYPES[dtype]).eval()
    with torch.no_grad():
        for t in [*model.parameters(), *model.buffers()]:
            if t.is_floating_point():
                t.abs_()
    params = dict(prunable_parameters(model))
    if prune_biases:
        params.update(_prunable_biases(model))
    for p in params.values():
        p.requires_grad_(True)
    return model, params


# ------------------------------------------------------------------------------------------------ ProsPr
#: ``meta_gradient`` options of ProsPr: whose derivative through the inner SGD steps is taken.
META_GRADIENTS = ("reference", "exact")


@register_pruner("prospr")
def prospr(
    model: nn.Module,
    sparsity: float,
    data: object,
    seed: int,
    *,
    meta_steps: int = 3,
    inner_lr: float = 0.5,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    batch_size: int = 512,
    meta_gradient: str = "reference",
    chunk_size: int | None = None,
) -> Masks:
    """ProsPr (Alizadeh et al. 2022): |∂L_meta/∂m| through ``meta_steps`` SGD steps of the masked network.

    From θ₀ = w ⊙ m (all-ones m; other parameters as they are), take ``meta_steps`` (3) steps of SGD with
    ``momentum`` (0.9), ``inner_lr`` (0.5) and ``weight_decay`` (0) on successive batches of
    ``batch_size`` (512; each batch one BatchNorm batch), then differentiate the loss on one more batch
    with respect to m through the trajectory. Training mode throughout. ``meta_gradient``:
    ``reference`` (default) differentiates what the published code (mil-ad/prospr, copied in mge-snn)
    differentiates: its first momentum buffer is a detached copy of the first gradient, so no
    second-order term flows through step 0; ``exact`` is the full meta-gradient (a different quantity:
    on the reference fixture their top-10 % share only about half of the weights). ``chunk_size`` (None)
    bounds memory by splitting batches; it changes the estimator under BatchNorm (module docstring).
    """
    _check_positive("meta_steps of pruner 'prospr'", meta_steps)
    stream = batch_stream(data, batch_size, pruner_seed(seed, "prospr"), what="pruner 'prospr'")
    batches = [next(stream) for _ in range(int(meta_steps) + 1)]
    scores = prospr_scores(
        model, batches, inner_lr=inner_lr, momentum=momentum, weight_decay=weight_decay,
        meta_gradient=meta_gradient, chunk_size=chunk_size,
    )  # fmt: skip
    return global_topk_masks(scores, sparsity)


def prospr_scores(
    model: nn.Module,
    batches: Sequence[Batch],
    *,
    inner_lr: float = 0.5,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    meta_gradient: str = "reference",
    chunk_size: int | None = None,
) -> Tensors:
    """|w ⊙ ∂L_K(θ_K)/∂θ₀| for the prunable weights, θ_K after len(batches)−1 momentum-SGD steps from θ₀.

    Forward: d_t = ∇L_t(θ_t) + λθ_t; b₁ = d₀, b_{t+1} = μ b_t + d_t; θ_{t+1} = θ_t − η b_{t+1}
    (batch t for step t). Reverse (adjoints ā of θ, b̄ of b): start ā = ∇L_K(θ_K), b̄ = 0; for
    t = K−1 … 0: b̄ ← b̄ − η ā; ā ← ā + H_t(θ_t) b̄ + λ b̄; b̄ ← μ b̄. Then ∂L/∂m = w ⊙ ā (θ₀ = w ⊙ m).
    ``meta_gradient="reference"`` treats b₁ = d₀ as a constant (the published code's
    ``clone(grad).detach()``), i.e. drops the t = 0 term H₀ b̄ + λ b̄; ``"exact"`` keeps it.
    """
    if meta_gradient not in META_GRADIENTS:
        raise InvalidValueError("meta_gradient of pruner 'prospr'", meta_gradient, ", ".join(META_GRADIENTS))
    if len(batches) < 2:
        raise InvalidValueError(
            "batches for ProsPr", len(batches), "at least 2 (one inner step and the meta batch)"
        )
    model.train()
    names = [n for n, p in model.named_parameters()]
    theta = [{n: p.detach().clone() for n, p in model.named_parameters()}]
    buf = {n: torch.zeros_like(p) for n, p in theta[0].items()}
    lr, mu, wd = float(inner_lr), float(momentum), float(weight_decay)
    for x, y in batches[:-1]:
        current = theta[-1]
        g = _mean_grads(model, current, names, x, y, chunk_size)
        buf = {n: mu * buf[n] + g[n] + wd * current[n] for n in names}
        theta.append({n: current[n] - lr * buf[n] for n in names})
    adj = _mean_grads(model, theta[-1], names, *batches[-1], chunk_size)
    adj_buf = {n: torch.zeros_like(p) for n, p in adj.items()}
    first = 1 if meta_gradient == "reference" else 0  # the reference's b₁ is detached: no term at t = 0
    for t in range(len(batches) - 2, -1, -1):
        adj_buf = {n: adj_buf[n] - lr * adj[n] for n in names}
        if t < first:
            continue
        hv = _mean_hvp(model, theta[t], names, *batches[t], adj_buf, chunk_size)
        adj = {n: adj[n] + hv[n] + wd * adj_buf[n] for n in names}
        adj_buf = {n: mu * adj_buf[n] for n in names}
    return {n: (theta[0][n] * adj[n]).abs() for n in prunable_parameters(model)}


# --------------------------------------------------------------------------------------------- internals
def _loss(
    model: nn.Module, params: Mapping[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor, temperature: float
) -> torch.Tensor:
    out = functional_call(model, dict(params), (x,))
    return F.cross_entropy(out / temperature if temperature != 1.0 else out, y)


def _leaves(params: Mapping[str, torch.Tensor], names: Sequence[str]) -> dict[str, torch.Tensor]:
    """Fresh leaf tensors for the differentiated ``names``, the other parameters detached."""
    return {n: p.detach().requires_grad_(n in names) for n, p in params.items()}


def _to(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs on the model's device and in its floating dtype."""
    p = next(model.parameters())
    return x.to(device=p.device, dtype=p.dtype), y.to(p.device)


def _mean_grads(
    model: nn.Module,
    params: Mapping[str, torch.Tensor],
    names: Sequence[str],
    x: torch.Tensor,
    y: torch.Tensor,
    chunk_size: int | None,
    *,
    temperature: float = 1.0,
) -> Tensors:
    """∇ of the mean loss over the batch w.r.t. ``names``, accumulated chunk by chunk."""
    leaves = _leaves(params, names)
    wrt = [leaves[n] for n in names]
    total = [torch.zeros_like(t) for t in wrt]
    for xc, yc, share in chunks(*_to(model, x, y), chunk_size):
        grads = torch.autograd.grad(_loss(model, leaves, xc, yc, temperature), wrt, allow_unused=True)
        for acc, g in zip(total, grads, strict=True):
            if g is not None:
                acc.add_(g, alpha=share)
    return dict(zip(names, total, strict=True))


def _mean_hvp(
    model: nn.Module,
    params: Mapping[str, torch.Tensor],
    names: Sequence[str],
    x: torch.Tensor,
    y: torch.Tensor,
    vector: Mapping[str, torch.Tensor],
    chunk_size: int | None,
    *,
    temperature: float = 1.0,
) -> Tensors:
    """H·v of the mean loss (Hessian w.r.t. ``names``), one chunk's double-backward graph at a time."""
    leaves = _leaves(params, names)
    wrt = [leaves[n] for n in names]
    vec = [vector[n].detach() for n in names]
    total = [torch.zeros_like(t) for t in wrt]
    for xc, yc, share in chunks(*_to(model, x, y), chunk_size):
        grads = torch.autograd.grad(
            _loss(model, leaves, xc, yc, temperature), wrt, create_graph=True, allow_unused=True
        )
        dot = sum((g * v).sum() for g, v in zip(grads, vec, strict=True) if g is not None)
        if not isinstance(dot, torch.Tensor) or not dot.requires_grad:
            continue  # the loss is linear in these parameters: zero Hessian
        hv = torch.autograd.grad(dot, wrt, allow_unused=True)
        for acc, h in zip(total, hv, strict=True):
            if h is not None:
                acc.add_(h, alpha=share)
    return dict(zip(names, total, strict=True))


def _schedule(total: int, sparsity: float, iterations: int) -> Iterator[int]:
    """Kept counts of an exponential schedule: round i keeps round(N·(1−s)^{i/n}); the last is exact."""
    n = int(iterations)
    for i in range(1, n + 1):
        yield keep_count(total, sparsity) if i == n else keep_count(total, 1.0 - (1.0 - sparsity) ** (i / n))


def _kaiming_redraw(model: nn.Module, seed: int) -> None:
    """Fresh Kaiming-normal (fan_in, ReLU gain) Conv/Linear weights from a generator seeded by ``seed``."""
    gen = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for w in prunable_parameters(model).values():
            std = (2.0 / w[0].numel()) ** 0.5
            w.copy_(torch.randn(w.shape, generator=gen, dtype=w.dtype).to(w.device) * std)


def _output_width(model: nn.Module, x: torch.Tensor) -> int:
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = model(_to(model, x[:1], x.new_zeros(1))[0])
    model.train(was_training)
    return int(out.shape[-1])


def _input_shape(input_shape: Sequence[int] | None, data: object) -> tuple[int, ...]:
    if input_shape is not None:
        shape = tuple(int(s) for s in input_shape)
    elif data is None:
        raise InvalidValueError("input_shape of pruner 'synflow'", None, "(C, H, W), or data to read it from")
    elif is_dataset(data):
        shape = tuple(torch.as_tensor(data[0][0]).shape)  # type: ignore[index]
    else:
        shape = tuple(as_batch(next(iter(data)))[0].shape[1:])  # type: ignore[call-overload]
    if not shape or min(shape) < 1:
        raise InvalidValueError("input_shape of pruner 'synflow'", shape, "positive sizes, e.g. (3, 32, 32)")
    return shape


def _device(model: nn.Module) -> torch.device:
    return next((p.device for p in model.parameters()), torch.device("cpu"))


def _check_positive(what: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidValueError(what, value, "a positive integer")
