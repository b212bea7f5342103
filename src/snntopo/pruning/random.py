"""Data-free random pruners: dense, uniform, random (global), ER and ERK.

Per-layer densities are closed forms; per-layer kept counts are then made integral by largest-remainder
apportionment so that the global count is exact, and each layer keeps a uniformly random subset of that
size (one seeded permutation per layer). The MGE study drew Bernoulli masks instead, whose global count is
only approximately right (docs/method/pruners.md); the per-layer densities here are the expectations of
theirs.
The exception is ``er`` with ``variant: mge``, which reproduces the MGE code's ER draw as it is (its
missed budget included). Every generator is seeded from (seed, pruner name) (:func:`pruner_seed`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import nn

from snntopo.errors import InvalidValueError
from snntopo.models import prunable_parameters
from snntopo.pruning.masks import Masks, _prunable_biases, keep_count, split_flat
from snntopo.pruning.registry import PrunerOutput, pruner_seed, register_pruner


@register_pruner("dense")
def dense(model: nn.Module, sparsity: float, data: object, seed: int) -> Masks:
    """Keep everything: the dense baseline, sparsity 0 only."""
    if sparsity != 0.0:
        raise InvalidValueError("sparsity for pruner 'dense'", sparsity, "0 (use another pruner for s > 0)")
    return {n: torch.ones_like(p, dtype=torch.bool) for n, p in prunable_parameters(model).items()}


@register_pruner("random")
def random_global(
    model: nn.Module, sparsity: float, data: object, seed: int, *, prune_biases: bool = False
) -> Masks:
    """Keep a uniformly random subset of exactly ``round((1−s)·N)`` of all N weights (one global draw).

    Per-layer densities are then hypergeometric around 1−s. ``prune_biases``: draw over the Conv/Linear
    biases too (the MGE study's "Uniform", ``global_unstructured(RandomUnstructured)`` over weights and
    biases, docs/method/pruners.md).
    """
    params = dict(prunable_parameters(model))
    if prune_biases:
        params.update(_prunable_biases(model))
    shapes = {n: p.shape for n, p in params.items()}
    total = sum(p.numel() for p in params.values())
    gen = torch.Generator().manual_seed(pruner_seed(seed, "random"))
    flat = torch.zeros(total, dtype=torch.bool)
    flat[torch.randperm(total, generator=gen)[: keep_count(total, sparsity)]] = True
    return split_flat(flat, shapes)


@register_pruner("uniform")
def uniform(model: nn.Module, sparsity: float, data: object, seed: int) -> Masks:
    """Every layer keeps the same fraction 1−s of its weights (to within one weight), at random.

    Not the MGE study's "Uniform", which was one global random draw over weights and biases (equal
    densities only in expectation): that is ``random`` with ``prune_biases=True``.
    """
    params = prunable_parameters(model)
    sizes = {n: p.numel() for n, p in params.items()}
    targets = {n: (1.0 - sparsity) * k for n, k in sizes.items()}
    counts = apportion(targets, sizes, keep_count(sum(sizes.values()), sparsity))
    return _random_layer_masks(params, counts, pruner_seed(seed, "uniform"))


@register_pruner("er")
def er(
    model: nn.Module, sparsity: float, data: object, seed: int, *, variant: str = "rigl"
) -> Masks | PrunerOutput:
    """Erdős–Rényi: density_l ∝ ε·Σ(shape_l)/Π(shape_l); ``variant`` chooses whose ER (:data:`ER_VARIANTS`).

    ``rigl`` (default): the ER of SET/RigL, over the two channel dimensions only,
    (C_out + C_in)/(C_out·C_in) for convolutions too; layers that would exceed density 1 are made dense
    and ε re-solved, so the global count is exact. It differs from ERK, which counts the kernel dims.
    ``mge``: the MGE study's ER as its code draws it (:func:`mge_er_probabilities`): kernel dims counted,
    ε by a multiplicative search on the uncapped expected count, no capping, one Bernoulli draw per
    weight. It keeps fewer weights than asked (expected global density 0.345 / 0.094 / 0.0196 at sparsity
    0.6 / 0.9 / 0.98 on ResNet-20); the achieved sparsity is recorded, never re-filled.
    """
    if variant not in ER_VARIANTS:
        raise InvalidValueError("variant of pruner 'er'", variant, ", ".join(ER_VARIANTS))
    return ER_VARIANTS[variant](prunable_parameters(model), sparsity, pruner_seed(seed, "er"))


def _er_rigl(params: Mapping[str, nn.Parameter], sparsity: float, seed: int) -> Masks:
    raw = {
        n: (p.shape[0] + _fan_in_channels(p)) / (p.shape[0] * _fan_in_channels(p)) for n, p in params.items()
    }
    return _density_masks(params, raw, sparsity, seed)


def _er_mge(params: Mapping[str, nn.Parameter], sparsity: float, seed: int) -> PrunerOutput:
    probabilities, eps = mge_er_probabilities({n: tuple(p.shape) for n, p in params.items()}, 1.0 - sparsity)
    gen = torch.Generator().manual_seed(seed)
    masks = {n: torch.rand(p.shape, generator=gen, dtype=torch.float64) < probabilities[n]
             for n, p in params.items()}  # fmt: skip
    expected = sum(min(1.0, probabilities[n]) * p.numel() for n, p in params.items())
    total = sum(p.numel() for p in params.values())
    extras = {"er_epsilon": eps, "expected_density": expected / total,
              "expected_layer_density": {n: min(1.0, q) for n, q in probabilities.items()}}  # fmt: skip
    return PrunerOutput(masks, extras, exact_count=False)


def _fan_in_channels(p: torch.Tensor) -> int:
    return int(p.shape[1]) if p.dim() > 1 else 1


ER_VARIANTS = {"rigl": _er_rigl, "mge": _er_mge}


def mge_er_probabilities(
    shapes: Mapping[str, tuple[int, ...]], density: float, *, tolerance: float = 5.0
) -> tuple[dict[str, float], float]:
    """Per-layer keep probabilities ε·Σshape_l/Πshape_l of the MGE code's ER (uncapped) and ε.

    ε starts at 10 with step factor f = 0.5. Each step computes the uncapped expected count
    c = ε·Σ_l Σshape_l, multiplies ε by (1 − f) if c exceeds the target (1−s)·N, by (1 + f) otherwise,
    and shrinks f by 0.95; the search stops when the c computed *before* the last update was within
    ``tolerance`` weights of the target, so the ε returned is one update past it, as in the reference.
    Probabilities above 1 are returned as they are: such a layer is simply dense, and the weights ε
    meant for it are lost, which is why the MGE ER keeps fewer weights than asked.
    """
    target = sum(math.prod(s) for s in shapes.values()) * float(density)
    shape_sum = sum(sum(s) for s in shapes.values())
    eps, factor, count = 10.0, 0.5, 0.0
    while not (count + tolerance > target and count - tolerance < target):
        count = eps * shape_sum
        eps *= 1.0 - factor if count > target else 1.0 + factor
        factor *= 0.95
    return {n: eps * sum(s) / math.prod(s) for n, s in shapes.items()}, eps


@register_pruner("erk")
def erk(model: nn.Module, sparsity: float, data: object, seed: int, *, power: float = 1.0) -> Masks:
    """Erdős–Rényi-Kernel: density_l = ε·(Σ(shape_l)/Π(shape_l))^power over all dims (incl. kernel).

    Layers whose density would exceed 1 are made dense and ε is re-solved over the rest (RigL's rule), so
    that Σ_l density_l·n_l = (1−s)·N.
    """
    params = prunable_parameters(model)
    raw = {n: (sum(p.shape) / p.numel()) ** float(power) for n, p in params.items()}
    return _density_masks(params, raw, sparsity, pruner_seed(seed, "erk"))


def erdos_renyi_densities(
    raw: Mapping[str, float], sizes: Mapping[str, int], sparsity: float
) -> tuple[dict[str, float], float]:
    """Densities ε·raw_l capped at 1, with ε solved so that Σ density_l·n_l = (1−s)·Σ n_l; returns (d, ε).

    Solving: ε = (budget − Σ_dense n_l) / Σ_rest raw_l·n_l. Making a layer dense can only increase ε, so every
    layer that is over-full for the current ε is over-full for the final one: mark them all and repeat.
    """
    budget = (1.0 - sparsity) * sum(sizes.values())
    dense: set[str] = set()
    eps = math.inf
    while True:
        rest = [n for n in raw if n not in dense]
        if not rest:  # everything dense: only possible at sparsity 0
            break
        eps = (budget - sum(sizes[n] for n in dense)) / sum(raw[n] * sizes[n] for n in rest)
        over = [n for n in rest if eps * raw[n] > 1.0]
        if not over:
            break
        dense.update(over)
    return {n: 1.0 if n in dense else eps * raw[n] for n in raw}, eps


def apportion(targets: Mapping[str, float], sizes: Mapping[str, int], total: int) -> dict[str, int]:
    """Integer counts c_l ≤ n_l near real targets t_l with Σ c_l = ``total`` exactly (largest remainder).

    Each c_l is floor(t_l) or ceil(t_l), so per-layer densities stay within one weight of the closed form.
    Remainders are handed out by decreasing fractional part, ties in layer order.
    """
    floor = {n: min(sizes[n], max(0, math.floor(t))) for n, t in targets.items()}
    left = total - sum(floor.values())
    position = {n: i for i, n in enumerate(targets)}
    frac = sorted(targets, key=lambda n: (math.floor(targets[n]) - targets[n], position[n]))
    step = 1 if left > 0 else -1
    while left:  # only a few rounds: |left| ≤ number of layers up to float error
        changed = False
        for n in frac if step > 0 else reversed(frac):
            if left and 0 <= floor[n] + step <= sizes[n]:
                floor[n] += step
                left -= step
                changed = True
        if not changed:
            raise ValueError(f"cannot apportion {total} over layers of sizes {dict(sizes)}")
    return floor


def _density_masks(
    params: Mapping[str, nn.Parameter], raw: Mapping[str, float], sparsity: float, seed: int
) -> Masks:
    sizes = {n: p.numel() for n, p in params.items()}
    densities, _ = erdos_renyi_densities(raw, sizes, sparsity)
    counts = apportion(
        {n: densities[n] * sizes[n] for n in sizes}, sizes, keep_count(sum(sizes.values()), sparsity)
    )
    return _random_layer_masks(params, counts, seed)


def _random_layer_masks(params: Mapping[str, nn.Parameter], counts: Mapping[str, int], seed: int) -> Masks:
    """Per layer, a uniformly random subset of ``counts[name]`` entries (seeded permutation per layer)."""
    gen = torch.Generator().manual_seed(seed)
    masks: Masks = {}
    for name, p in params.items():
        flat = torch.zeros(p.numel(), dtype=torch.bool)
        flat[torch.randperm(p.numel(), generator=gen)[: counts[name]]] = True
        masks[name] = flat.reshape(p.shape)
    return masks
