"""Full-spectrum mask sampling (Hoang et al., NeurIPS 2023; METHOD.md §2.3): pruner ``fullspectrum``.

A base pruner (SNIP, GraSP, SynFlow, ERK, random, … any registered pruner but ``dense``) is run once as
is (sample 0, the incumbent: exactly the mask ``prune(base, …, seed)`` gives) and then ``samples`` more
times on other seeds, mini-batches or noisy weights. Every candidate's layers are scored by their
full-spectrum coordinate ``v = (Δr, λ, Δr_iter, λ_iter)`` (:func:`snntopo.metrics.fullspectrum.
layer_coordinate`, computed with the scoring weights: the initialisation, or the weights after
``warmup_iterations`` dense SGD steps), and every layer independently keeps the best candidate so far
under the acceptance rule (registry :data:`ACCEPTANCE`):

* ``loose`` (the paper's default): Δr_iter(new) ≥ Δr_iter(best) and ‖v‖(new) ≥ ‖v‖(best);
* ``alt`` (``--alt``): Δr(new) < Δr(best) and ‖v‖(new) ≥ ‖v‖(best);
* ``l2``: ‖v‖(new) ≥ ‖v‖(best).

So every layer's ‖v‖ (and Δr_iter under ``loose``) of the composite is ≥ the base pruner's. The composite
mixes layers of different samples, so its global count is only approximately the target; the paper
leaves it so. Here it is then corrected to the exact count (:func:`correct_density`): surplus weights are
removed smallest-|w| first, missing ones added largest-|w| first, over all layers jointly (|w| of the
scoring weights; deterministic ties). The ≥ property is a property of the composite *before* that
correction.

Diversity of the samples (sample t ≥ 1, seed derived from ``(seed, t)``): a seed-dependent base (random,
ERK, SNIP's batch draw, GraSP's class-balanced draw and re-initialisation) gets the sample's seed; a
data-dependent base draws ``batches_per_sample`` × ``batch_size`` samples (the paper: 2 mini-batches of
100) as its batch when it has a ``batch_size`` option not set in ``base_options`` (from a Dataset), or gets
the next ``batches_per_sample`` batches, concatenated into one, when ``data`` is an iterable of ready
batches; ``noise`` adds
Gaussian noise of ``noise`` × the layer's weight std (≈ the initialisation's std) to a copy of the
weights the base prunes (the scores still use the clean weights). ``noise=None`` means 1.0 for the bases
that would otherwise give the same mask every time (synflow, magnitude, as the paper's SynFlow), else 0.

Only weights are sampled: bias masks of a base that prunes biases (``prune_biases``) are not kept, so the
composite and its exact count are over the Conv/Linear weights, like every other pruner's default.

Warm-up (``warmup_iterations`` > 0, the paper: 500): that many SGD steps (lr ``warmup_lr``, momentum 0.9,
weight decay 5e-4, batches of ``batch_size`` from ``data``) on the dense model before sampling; the base
pruner and the scores then see the warmed-up weights. The returned mask is applied, like every mask of the
pipeline, to the shared initialisation for training (the paper trains from the warmed-up weights).

The search trace is returned as ``summary["extras"]["fullspectrum"]`` (a :class:`~snntopo.pruning.
registry.PrunerOutput`, so ``mask.json`` carries it): ``columns`` and ``rows`` (one row per sample and
layer: sample, layer index, layer name, candidate density, dr, lam, dr_iter, lam_iter, norm, accepted),
``selected`` (layer → sample index kept), ``before_correction`` (per layer: the composite's coordinate and
kept count; global kept and target) and ``correction`` (weights added / removed).
:func:`search_table` turns it into row dicts for plotting.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import math
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from snntopo.errors import InvalidValueError
from snntopo.models import prunable_parameters
from snntopo.pruning.batches import as_batch, batch_stream, is_dataset
from snntopo.pruning.masks import Masks, global_topk_masks, keep_count
from snntopo.pruning.registry import PRUNERS, PrunerOutput, _prune, pruner_options, register_pruner
from snntopo.registry import Registry

COORDINATE = ("dr", "lam", "dr_iter", "lam_iter", "norm")
TRACE_COLUMNS = ("sample", "layer_index", "layer", "density", *COORDINATE, "accepted")
#: Bases that give the same mask at every seed: noise is what diversifies their samples by default.
_DETERMINISTIC_BASES = frozenset({"synflow", "magnitude"})

Scores = dict[str, float]
AcceptanceRule = Callable[[Scores, Scores], bool]
ACCEPTANCE: Registry[AcceptanceRule] = Registry("acceptance rule")


@ACCEPTANCE.register("loose")
def _loose(new: Scores, best: Scores) -> bool:
    return new["dr_iter"] >= best["dr_iter"] and new["norm"] >= best["norm"]


@ACCEPTANCE.register("alt")
def _alt(new: Scores, best: Scores) -> bool:
    return new["dr"] < best["dr"] and new["norm"] >= best["norm"]


@ACCEPTANCE.register("l2")
def _l2(new: Scores, best: Scores) -> bool:
    return new["norm"] >= best["norm"]


@dataclasses.dataclass
class SearchResult:
    """The composite mask before density correction, with the search trace."""

    masks: Masks
    scores: dict[str, Scores]  # the composite's per-layer coordinate
    selected: dict[str, int]  # layer → sample whose layer mask was kept
    rows: list[list[Any]]  # TRACE_COLUMNS


@register_pruner("fullspectrum")
def fullspectrum(
    model: nn.Module,
    sparsity: float,
    data: object,
    seed: int,
    *,
    base: str = "snip",
    samples: int = 20,
    acceptance: str = "loose",
    warmup_iterations: int = 0,
    warmup_lr: float = 0.1,
    batch_size: int = 100,
    batches_per_sample: int = 2,
    noise: float | None = None,
    encoding: str = "rolled",
    base_options: dict[str, Any] | None = None,
) -> PrunerOutput:
    """Full-spectrum mask sampling around pruner ``base`` (module docstring), exact global count.

    ``samples`` (20; the paper 2000–3000) candidates after the incumbent; ``acceptance`` one of
    :data:`ACCEPTANCE`; ``base_options`` are passed to the base pruner (validated by it).
    """
    _check_int("samples of pruner 'fullspectrum'", samples, 0)
    _check_int("warmup_iterations of pruner 'fullspectrum'", warmup_iterations, 0)
    if warmup_iterations:
        warm_up(model, data, warmup_iterations, lr=warmup_lr, batch_size=batch_size, seed=seed)
    result = fullspectrum_search(
        model, sparsity, data, seed, base=base, samples=samples, acceptance=acceptance,
        batch_size=batch_size, batches_per_sample=batches_per_sample, noise=noise, encoding=encoding,
        base_options=base_options,
    )  # fmt: skip
    weights = {n: p.detach() for n, p in prunable_parameters(model).items()}
    target = keep_count(sum(w.numel() for w in weights.values()), sparsity)
    masks, added, removed = correct_density(result.masks, weights, target)
    trace = {
        "base": base,
        "columns": list(TRACE_COLUMNS),
        "rows": result.rows,
        "selected": result.selected,
        "before_correction": {
            "kept": sum(int(m.sum()) for m in result.masks.values()),
            "target": target,
            "layers": {n: {**result.scores[n], "kept": int(result.masks[n].sum())} for n in result.masks},
        },
        "correction": {"added": added, "removed": removed},
    }
    return PrunerOutput(masks, {"fullspectrum": trace})


def fullspectrum_search(
    model: nn.Module,
    sparsity: float,
    data: object,
    seed: int,
    *,
    base: str = "snip",
    samples: int = 20,
    acceptance: str = "loose",
    batch_size: int = 100,
    batches_per_sample: int = 2,
    noise: float | None = None,
    encoding: str = "rolled",
    base_options: Mapping[str, Any] | None = None,
) -> SearchResult:
    """Draw the incumbent and ``samples`` candidates from ``base`` and keep the best layers (no correction).

    Scores use ``model``'s current weights, which are not modified.
    """
    if base not in PRUNERS or base in ("dense", "fullspectrum"):
        accepted = ", ".join(n for n in PRUNERS.names() if n not in ("dense", "fullspectrum"))
        raise InvalidValueError("base of pruner 'fullspectrum'", base, accepted)
    accept = ACCEPTANCE.get(acceptance)
    _check_int("samples of pruner 'fullspectrum'", samples, 0)
    _check_int("batch_size of pruner 'fullspectrum'", batch_size, 1)
    _check_int("batches_per_sample of pruner 'fullspectrum'", batches_per_sample, 1)
    base_options = dict(base_options or {})
    pruner_options(base, **base_options)  # unknown base options fail before any work, naming them
    noise = (1.0 if base in _DETERMINISTIC_BASES else 0.0) if noise is None else float(noise)
    if not math.isfinite(noise) or noise < 0:
        raise InvalidValueError("noise of pruner 'fullspectrum'", noise, "a number >= 0, or null (auto)")
    # Candidates may collapse a layer: the composite is checked by the outer front door instead.
    base_options.setdefault("allow_collapse", True)
    sample_batch = batch_size * batches_per_sample
    sized = "batch_size" in pruner_options(base) and "batch_size" not in base_options
    needed = samples * batches_per_sample
    ready = None if data is None or is_dataset(data) else _ready_batches(data, needed)

    weights = {n: p.detach().clone() for n, p in prunable_parameters(model).items()}
    groups = _groups(model)
    best: Masks = {}
    best_scores: dict[str, Scores] = {}
    selected: dict[str, int] = {}
    rows: list[list[Any]] = []
    bar = tqdm(range(samples + 1), desc=f"fullspectrum({base})", leave=False,
               disable=not sys.stderr.isatty(), file=sys.stderr)  # fmt: skip
    for t in bar:
        if t == 0:  # the incumbent: the plain base pruner
            masks = _prune(base, model, sparsity, data, seed, **base_options).masks
        else:
            t_seed = sample_seed(seed, t)
            options = dict(base_options, batch_size=sample_batch) if sized and ready is None else base_options
            t_data = data if ready is None else _rotate(ready, t, batches_per_sample)
            target = _noisy_copy(model, weights, noise, t_seed) if noise else model
            masks = _prune(base, target, sparsity, t_data, t_seed, **options).masks
        scores = score_layers(weights, masks, encoding=encoding, groups=groups)
        for index, name in enumerate(weights):
            take = t == 0 or accept(scores[name], best_scores[name])
            if take:
                best[name], best_scores[name], selected[name] = masks[name], scores[name], t
            density = int(masks[name].sum()) / masks[name].numel()
            rows.append([t, index, name, density, *(scores[name][k] for k in COORDINATE), bool(take)])
    return SearchResult(best, best_scores, selected, rows)


def score_layers(
    weights: Mapping[str, torch.Tensor],
    masks: Mapping[str, torch.Tensor],
    *,
    encoding: str = "rolled",
    groups: Mapping[str, int] | None = None,
) -> dict[str, Scores]:
    """Full-spectrum coordinate (dr, lam, dr_iter, lam_iter, norm) of every layer of ``masks``."""
    from snntopo.metrics.fullspectrum import layer_coordinate  # the metrics stage owns the definition

    groups = groups or {}
    out = {}
    for name, mask in masks.items():
        if name not in weights:
            continue  # bias masks (a base that prunes biases) are not layers
        row = layer_coordinate(weights[name].cpu(), mask.cpu(), encoding=encoding, groups=groups.get(name, 1))
        out[name] = {k: float(row[k]) for k in COORDINATE}
    return out


def correct_density(
    masks: Mapping[str, torch.Tensor], weights: Mapping[str, torch.Tensor], keep: int
) -> tuple[Masks, int, int]:
    """Exactly ``keep`` kept entries: drop the smallest-|w| kept or add the largest-|w| pruned ones.

    Only entries on the side that must change move (kept ones stay kept when adding, pruned ones stay
    pruned when removing), over all layers jointly, ties deterministic. Returns (masks, added, removed).
    """
    names = list(masks)
    kept = sum(int(masks[n].sum()) for n in names)
    if kept == keep:
        return {n: masks[n].clone() for n in names}, 0, 0
    magnitude = {n: weights[n].detach().abs().float().cpu() for n in names}
    if kept > keep:
        scores = {n: torch.where(masks[n], magnitude[n], -torch.inf) for n in names}
    else:
        scores = {n: torch.where(masks[n], torch.inf, magnitude[n]) for n in names}
    out = global_topk_masks(scores, keep=keep)
    return out, max(keep - kept, 0), max(kept - keep, 0)


def warm_up(
    model: nn.Module, data: object, iterations: int, *, lr: float = 0.1, batch_size: int = 100, seed: int = 0
) -> None:
    """``iterations`` dense SGD steps (momentum 0.9, weight decay 5e-4, cross-entropy) on ``model``."""
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=float(lr), momentum=0.9, weight_decay=5e-4)
    stream = batch_stream(data, batch_size, seed, what="warm-up of pruner 'fullspectrum'")
    device = next(model.parameters()).device
    model.train()
    for _ in range(int(iterations)):
        x, y = next(stream)
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x.to(device)), y.to(device)).backward()
        opt.step()


def sample_seed(seed: int, t: int) -> int:
    """Seed of sample ``t`` ≥ 1: independent, well mixed, non-negative (SeedSequence of (seed, t))."""
    return int(np.random.SeedSequence([int(seed), int(t)]).generate_state(1, dtype=np.uint64)[0]) >> 1


def search_table(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The per-sample, per-layer trace of a ``fullspectrum`` mask summary as row dicts (for plots)."""
    trace = summary.get("extras", {}).get("fullspectrum")
    if trace is None:
        raise InvalidValueError("mask summary", summary.get("pruner"), "the summary of a 'fullspectrum' mask")
    return [dict(zip(trace["columns"], row, strict=True)) for row in trace["rows"]]


def _ready_batches(data: object, needed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The first ``needed`` batches of an iterable (fewer if it is shorter: samples then cycle)."""
    if not isinstance(data, Iterable):
        return []  # the base pruner reports the bad data itself
    batches = [as_batch(b) for b in itertools.islice(data, max(needed, 1))]
    if not batches:
        raise InvalidValueError("data for pruner 'fullspectrum'", "an empty iterable", "at least one batch")
    return batches


def _rotate(batches: list, t: int, n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Sample t's ``n`` ready batches (cycling: t = 1 takes 0..n-1, t = 2 n..2n-1, …) as one batch.

    One batch, so that a single-batch base (SNIP) sees all of them, like the paper's accumulation.
    """
    chosen = [batches[((t - 1) * n + i) % len(batches)] for i in range(n)]
    return [(torch.cat([x for x, _ in chosen]), torch.cat([y for _, y in chosen]))]


def _noisy_copy(model: nn.Module, weights: Mapping[str, torch.Tensor], scale: float, seed: int) -> nn.Module:
    """A copy of ``model`` whose prunable weights carry Gaussian noise of ``scale`` × the layer's std."""
    noisy = copy.deepcopy(model)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in prunable_parameters(noisy).items():
            w = weights[name]
            std = float(w.float().std()) if w.numel() > 1 else 0.0
            p.add_(torch.randn(w.shape, generator=gen, dtype=w.dtype).to(p.device) * (scale * std))
    return noisy


def _groups(model: nn.Module) -> dict[str, int]:
    return {
        f"{name}.weight" if name else "weight": int(getattr(module, "groups", 1))
        for name, module in model.named_modules()
        if isinstance(module, nn.Conv2d | nn.Linear)
    }


def _check_int(what: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidValueError(what, value, f"an integer >= {minimum}")
