"""Full-spectrum mask sampling (Hoang et al., NeurIPS 2023; docs/method/metrics.md): pruner ``fullspectrum``.

A base pruner (SNIP, iterSNIP, GraSP, SynFlow, ERK, random, … any registered pruner but ``dense``) draws
an incumbent mask and then ``samples`` candidates. Every candidate's layers are scored by their
full-spectrum coordinate ``v = (Δr, λ, Δr_iter, λ_iter)`` (:func:`snntopo.metrics.fullspectrum.
layer_coordinate`, computed with the scoring weights: the initialisation, or the weights after
``warmup_iterations`` dense SGD steps), and every layer independently keeps the best candidate so far
under the acceptance rule (registry :data:`ACCEPTANCE`):

* ``loose`` (the reference's default): Δr_iter(new) ≥ Δr_iter(best) and ‖v‖(new) ≥ ‖v‖(best);
* ``alt`` (``--alt``): Δr(new) < Δr(best) and ‖v‖(new) ≥ ‖v‖(best), where an invalid Δr stays +inf (as
  in the reference, which maps inf to 0 only inside ‖v‖ and Δr_iter): an invalid candidate never
  replaces anything, and any valid one beats an invalid incumbent;
* ``l2``: ‖v‖(new) ≥ ‖v‖(best).

How the base pruner is run follows the reference (``lth_tickets_generation.py`` and
``extended_core.get_pai_sparse_model`` of ScottHoang/dst-ram-pruning) by default:

* **Incumbent over the whole training set**: SNIP and iterSNIP score the incumbent on one pass over
  ``data`` (every round, for iterSNIP); ``incumbent_batches`` bounds that to that many batches.
* **Samples**: ``batches_per_sample`` batches of ``batch_size`` (4 of 100: the reference's
  ``--num-iteration 2`` stops after batch index 3); a Dataset is drawn from with the sample's seed, ready
  batches rotate (sample 1 gets batches 0…3, sample 2 the next four, cycling).
* **Eval-mode BatchNorm** (``bn_mode: eval``): the reference scores in eval mode; the BatchNorm layers
  of the model given to the base pruner are locked in eval mode (:func:`~snntopo.pruning.perturb.
  lock_bn_eval`), also for pruners that call ``model.train()`` themselves. ``train`` leaves each base
  pruner to its own mode.
* **Per-base protocol** (registry :data:`BASE_PROTOCOLS`): ``snip`` is scored as iterSNIP with one round
  (gradients of the per-batch mean losses summed over the batches, as the reference accumulates them);
  ``iter_snip`` with its ``neurips2023`` preset (10 rounds); ``synflow`` with 10 rounds (the reference's
  sampling, not the 100 rounds of SynFlow on its own). Other bases run as registered (seed-dependent
  bases get the sample's seed; a base with a ``batch_size`` option draws ``batches_per_sample`` ×
  ``batch_size`` samples). ``base_options`` override the protocol's options.
* **Noise** (``noise``, in units of the initialisation's std, :func:`~snntopo.pruning.perturb.
  add_init_noise`): added to a copy of the weights the base prunes for every sample (not the incumbent);
  the coordinates use the clean weights. ``null`` = 1.0 for ``iter_snip`` and ``synflow`` (where the
  reference adds it) and ``magnitude`` (which would otherwise repeat one mask), 0 for the others.

**Exact density.** The composite mixes layers of different samples, so its global count is only
approximately the target (the reference keeps it so). It is corrected to the exact count
(:func:`correct_density`, ``correction``): ``proportional`` (default) spreads the surplus or deficit over
the layers in proportion to their kept counts (every layer's density moves by the same factor, within one
weight), inside a layer dropping the smallest |w| or adding the largest |w| (scoring weights);
``global`` moves the smallest/largest |w| over all layers jointly (can move one layer a lot). The
coordinates of the corrected layers are then recomputed: ``summary["extras"]["fullspectrum"]["layers"]``
holds the coordinate, kept count and density of every layer of the returned mask, and
``before_correction`` those of the composite.

**Warm-up** (``warmup_iterations`` > 0, the reference: 500): that many SGD steps (lr ``warmup_lr``,
Nesterov momentum 0.9, weight decay 5e-4, batches of ``batch_size`` from ``data``) on the dense model before
sampling; the base pruner and the scores see the warmed-up weights, and the warmed-up ``state_dict`` is
returned with the mask (:class:`~snntopo.pruning.registry.PrunerOutput` ``state``), stored in
``mask.pt`` and loaded by training as its starting point (:func:`snntopo.pruning.load_start_state`), as
the reference trains its tickets from the pre-trained weights.

The search trace is ``summary["extras"]["fullspectrum"]``: ``columns`` and ``rows`` (one row per sample
and layer: sample, layer index, layer name, candidate density, dr, lam, dr_iter, lam_iter, norm,
accepted; +inf written as the string ``"inf"``), ``selected`` (layer → sample index kept), ``protocol``
(the pruner and options actually run for the incumbent and the samples), ``layers``,
``before_correction`` and ``correction`` (weights added / removed per layer and in total).
:func:`search_table` turns the rows into dicts for plotting.
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
from snntopo.pruning.perturb import BN_MODES, add_init_noise, check_noise, lock_bn_eval
from snntopo.pruning.random import apportion
from snntopo.pruning.registry import (
    PRUNERS,
    PrunerOutput,
    _prune,
    pruner_options,
    pruner_seed,
    register_pruner,
)
from snntopo.registry import Registry

COORDINATE = ("dr", "lam", "dr_iter", "lam_iter", "norm")
TRACE_COLUMNS = ("sample", "layer_index", "layer", "density", *COORDINATE, "accepted")
#: Bases that get noise by default: where the reference adds it (iterSNIP, SynFlow), and magnitude,
#: which would otherwise give the same mask every time.
_NOISY_BASES = frozenset({"iter_snip", "synflow", "magnitude"})

Scores = dict[str, float]
AcceptanceRule = Callable[[Scores, Scores], bool]
ACCEPTANCE: Registry[AcceptanceRule] = Registry("acceptance rule")


@ACCEPTANCE.register("loose")
def _loose(new: Scores, best: Scores) -> bool:
    return new["dr_iter"] >= best["dr_iter"] and new["norm"] >= best["norm"]


@ACCEPTANCE.register("alt")
def _alt(new: Scores, best: Scores) -> bool:
    return new["dr"] < best["dr"] and new["norm"] >= best["norm"]  # +inf (invalid) never wins


@ACCEPTANCE.register("l2")
def _l2(new: Scores, best: Scores) -> bool:
    return new["norm"] >= best["norm"]


@dataclasses.dataclass(frozen=True)
class Draw:
    """One call of the base pruner: the incumbent or a sample, and the data it may consume."""

    incumbent: bool
    batches: int | str  # batches per scoring pass, or "all" (one pass over the data)
    batch_size: int
    bn_mode: str


#: base name → (pruner actually run, its options) for one draw; bases not listed run as registered.
BASE_PROTOCOLS: Registry[Callable[[Draw], tuple[str, dict[str, Any]]]] = Registry(
    "fullspectrum base protocol"
)


@BASE_PROTOCOLS.register("snip")
def _snip_protocol(draw: Draw) -> tuple[str, dict[str, Any]]:
    # The reference's SNIP scorer accumulates the gradients of every batch it is given: one iterSNIP round.
    return "iter_snip", {"preset": "iclr2023", "iterations": 1, "batches_per_round": draw.batches,
                         "batch_size": draw.batch_size, "bn_mode": draw.bn_mode, "noise": 0.0}  # fmt: skip


@BASE_PROTOCOLS.register("iter_snip")
def _iter_snip_protocol(draw: Draw) -> tuple[str, dict[str, Any]]:
    # Noise is added by the sampler itself (to every noisy base alike), so none inside iter_snip.
    return "iter_snip", {"preset": "neurips2023", "batches_per_round": draw.batches,
                         "batch_size": draw.batch_size, "bn_mode": draw.bn_mode, "noise": 0.0}  # fmt: skip


@BASE_PROTOCOLS.register("synflow")
def _synflow_protocol(draw: Draw) -> tuple[str, dict[str, Any]]:
    return "synflow", {"iterations": 10}


@dataclasses.dataclass
class SearchResult:
    """The composite mask before density correction, with the search trace."""

    masks: Masks
    scores: dict[str, Scores]  # the composite's per-layer coordinate
    selected: dict[str, int]  # layer → sample whose layer mask was kept
    rows: list[list[Any]]  # TRACE_COLUMNS
    protocol: dict[str, Any] = dataclasses.field(default_factory=dict)  # what the base calls ran


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
    batches_per_sample: int = 4,
    incumbent_batches: int | None = None,
    noise: float | None = None,
    bn_mode: str = "eval",
    correction: str = "proportional",
    encoding: str = "rolled",
    base_options: dict[str, Any] | None = None,
) -> PrunerOutput:
    """Full-spectrum mask sampling around pruner ``base`` (module docstring), exact global count.

    ``samples`` (20; the paper 2000–3000) candidates after the incumbent; ``acceptance`` one of
    :data:`ACCEPTANCE`; ``base_options`` are passed to the base pruner (validated by it).
    """
    _check_int("samples of pruner 'fullspectrum'", samples, 0)
    _check_int("warmup_iterations of pruner 'fullspectrum'", warmup_iterations, 0)
    CORRECTIONS.get(correction)  # an unknown rule fails before any work
    if warmup_iterations:
        warm_up(
            model, data, warmup_iterations, lr=warmup_lr, batch_size=batch_size,
            seed=pruner_seed(seed, "fullspectrum:warmup"),
        )  # fmt: skip
    result = fullspectrum_search(
        model, sparsity, data, seed, base=base, samples=samples, acceptance=acceptance,
        batch_size=batch_size, batches_per_sample=batches_per_sample, incumbent_batches=incumbent_batches,
        noise=noise, bn_mode=bn_mode, encoding=encoding, base_options=base_options,
    )  # fmt: skip
    weights = {n: p.detach() for n, p in prunable_parameters(model).items()}
    target = keep_count(sum(w.numel() for w in weights.values()), sparsity)
    masks, moved = correct_density(result.masks, weights, target, mode=correction)
    changed = {n: m for n, m in masks.items() if moved[n]}
    final = {**result.scores, **score_layers(weights, changed, encoding=encoding, groups=_groups(model))}
    trace = {
        "base": base,
        "protocol": result.protocol,
        "columns": list(TRACE_COLUMNS),
        "rows": [[_finite_or_text(v) for v in row] for row in result.rows],
        "selected": result.selected,
        "layers": {n: _layer_entry(final[n], masks[n], result.selected[n]) for n in masks},
        "before_correction": {
            "kept": sum(int(m.sum()) for m in result.masks.values()),
            "target": target,
            "layers": {n: _layer_entry(result.scores[n], result.masks[n], result.selected[n]) for n in masks},
        },
        "correction": {
            "rule": correction,
            "added": sum(max(v, 0) for v in moved.values()),
            "removed": sum(max(-v, 0) for v in moved.values()),
            "per_layer": moved,
        },
    }
    state = copy.deepcopy(model.state_dict()) if warmup_iterations else None
    return PrunerOutput(masks, {"fullspectrum": trace}, state=state)


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
    batches_per_sample: int = 4,
    incumbent_batches: int | None = None,
    noise: float | None = None,
    bn_mode: str = "eval",
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
    if incumbent_batches is not None:
        _check_int("incumbent_batches of pruner 'fullspectrum'", incumbent_batches, 1)
    if bn_mode not in BN_MODES:
        raise InvalidValueError("bn_mode of pruner 'fullspectrum'", bn_mode, ", ".join(BN_MODES.names()))
    noise = check_noise(
        (1.0 if base in _NOISY_BASES else 0.0) if noise is None else noise, "noise of pruner 'fullspectrum'"
    )
    base_options = dict(base_options or {})
    incumbent = _base_call(base, Draw(True, incumbent_batches or "all", batch_size, bn_mode), base_options)
    sample = _base_call(base, Draw(False, batches_per_sample, batch_size, bn_mode), base_options)
    pruner_options(incumbent[0], **incumbent[1])  # unknown base options fail before any work, naming them
    mapped = base in BASE_PROTOCOLS
    sized = not mapped and "batch_size" in pruner_options(base) and "batch_size" not in base_options
    ready = None if data is None or is_dataset(data) else _ready_batches(data, samples * batches_per_sample)

    weights = {n: p.detach().clone() for n, p in prunable_parameters(model).items()}
    groups = _groups(model)
    scorer = lock_bn_eval(copy.deepcopy(model)) if bn_mode == "eval" else model
    best: Masks = {}
    best_scores: dict[str, Scores] = {}
    selected: dict[str, int] = {}
    rows: list[list[Any]] = []
    bar = tqdm(range(samples + 1), desc=f"fullspectrum({base})", leave=False,
               disable=not sys.stderr.isatty(), file=sys.stderr)  # fmt: skip
    for t in bar:
        if t == 0:  # the incumbent: no noise, the whole training set (or incumbent_batches)
            masks = _prune(incumbent[0], scorer, sparsity, data, seed, **incumbent[1]).masks
        else:
            t_seed = sample_seed(seed, t)
            name, options = sample
            if sized and ready is None:
                options = dict(options, batch_size=batch_size * batches_per_sample)
            t_data = data if ready is None else _rotate(ready, t, batches_per_sample, concatenate=not mapped)
            target = scorer
            if noise:
                target = copy.deepcopy(scorer)
                add_init_noise(target, noise, t_seed)
            masks = _prune(name, target, sparsity, t_data, t_seed, **options).masks
        scores = score_layers(weights, masks, encoding=encoding, groups=groups)
        for index, layer in enumerate(weights):
            take = t == 0 or accept(scores[layer], best_scores[layer])
            if take:
                best[layer], best_scores[layer], selected[layer] = masks[layer], scores[layer], t
            density = int(masks[layer].sum()) / masks[layer].numel()
            rows.append([t, index, layer, density, *(scores[layer][k] for k in COORDINATE), bool(take)])
    protocol = {
        "incumbent": {"pruner": incumbent[0], "options": incumbent[1]},
        "samples": {"pruner": sample[0], "options": sample[1]},
        "noise": noise,
        "bn_mode": bn_mode,
    }
    return SearchResult(best, best_scores, selected, rows, protocol)


def _base_call(base: str, draw: Draw, base_options: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The pruner and options of one draw: the base's protocol (if any) with ``base_options`` on top."""
    name, options = BASE_PROTOCOLS.get(base)(draw) if base in BASE_PROTOCOLS else (base, {})
    # Candidates may collapse a layer: the composite is checked by the outer front door instead.
    return name, {**options, "allow_collapse": True, **base_options}


def score_layers(
    weights: Mapping[str, torch.Tensor],
    masks: Mapping[str, torch.Tensor],
    *,
    encoding: str = "rolled",
    groups: Mapping[str, int] | None = None,
) -> dict[str, Scores]:
    """Full-spectrum coordinate (dr, lam, dr_iter, lam_iter, norm) of every layer of ``masks``.

    ``dr`` is +inf for a layer whose Δr is invalid (as the reference's acceptance sees it); ``norm`` and
    the other components count an invalid value as 0.
    """
    from snntopo.metrics.fullspectrum import layer_coordinate  # the metrics stage owns the definition

    groups = groups or {}
    out = {}
    for name, mask in masks.items():
        if name not in weights:
            continue  # bias masks (a base that prunes biases) are not layers
        row = layer_coordinate(
            weights[name].cpu(), mask.cpu(), encoding=encoding, groups=groups.get(name, 1), keep_inf=True
        )
        out[name] = {k: float(row[k]) for k in COORDINATE}
    return out


CORRECTIONS: Registry[str] = Registry("density correction")
CORRECTIONS.register("proportional")("per layer, in proportion to the layer's kept count")
CORRECTIONS.register("global")("over all layers jointly, by |w|")


def correct_density(
    masks: Mapping[str, torch.Tensor],
    weights: Mapping[str, torch.Tensor],
    keep: int,
    *,
    mode: str = "proportional",
) -> tuple[Masks, dict[str, int]]:
    """Exactly ``keep`` kept entries: drop the smallest-|w| kept or add the largest-|w| pruned ones.

    ``proportional``: layer l changes by its share k_l / Σk of the difference (largest remainder, capped
    by its free positions when adding), so every layer's density moves by the same factor; ``global``: one
    ranking over all layers. Only entries on the side that must change move; ties deterministic. Returns
    the masks and the signed change of every layer's kept count (+ added, − removed).
    """
    CORRECTIONS.get(mode)
    names = [n for n in masks if n in weights]
    kept = {n: int(masks[n].sum()) for n in names}
    diff = keep - sum(kept.values())
    out = {n: masks[n].clone() for n in masks}
    if diff == 0:
        return out, dict.fromkeys(names, 0)
    magnitude = {n: weights[n].detach().abs().float().cpu() for n in names}
    if diff < 0:
        scores = {n: torch.where(masks[n], magnitude[n], -torch.inf) for n in names}
    else:
        scores = {n: torch.where(masks[n], torch.inf, magnitude[n]) for n in names}
    if mode == "global":
        out.update(global_topk_masks(scores, keep=keep))
    else:
        room = {n: kept[n] if diff < 0 else masks[n].numel() - kept[n] for n in names}
        total = sum(kept.values())
        share = {n: abs(diff) * (kept[n] / total if total else masks[n].numel()) for n in names}
        counts = apportion(share, room, abs(diff))
        sign = 1 if diff > 0 else -1
        for n in names:
            out[n] = global_topk_masks({n: scores[n]}, keep=kept[n] + sign * counts[n])[n]
    return out, {n: int(out[n].sum()) - kept[n] for n in names}


def warm_up(
    model: nn.Module, data: object, iterations: int, *, lr: float = 0.1, batch_size: int = 100, seed: int = 0
) -> None:
    """``iterations`` dense SGD steps (Nesterov momentum 0.9, weight decay 5e-4, cross-entropy) on ``model``.

    The reference's pre-training (``lth_tickets_pretraining.py``) settings, lr 0.1 and batch 100.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=float(lr), momentum=0.9, weight_decay=5e-4, nesterov=True)
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
    return [
        {k: math.inf if v == "inf" else v for k, v in zip(trace["columns"], row, strict=True)}
        for row in trace["rows"]
    ]


def _layer_entry(scores: Scores, mask: torch.Tensor, sample: int) -> dict[str, Any]:
    kept = int(mask.sum())
    entry = {k: _finite_or_text(scores[k]) for k in COORDINATE}
    return {**entry, "kept": kept, "density": kept / mask.numel(), "sample": sample}


def _finite_or_text(value: Any) -> Any:
    """+inf as the string "inf" (strict JSON has no infinity); everything else unchanged."""
    return "inf" if isinstance(value, float) and math.isinf(value) and value > 0 else value


def _ready_batches(data: object, needed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The first ``needed`` batches of an iterable (fewer if it is shorter: samples then cycle)."""
    if not isinstance(data, Iterable):
        return []  # the base pruner reports the bad data itself
    batches = [as_batch(b) for b in itertools.islice(data, max(needed, 1))]
    if not batches:
        raise InvalidValueError("data for pruner 'fullspectrum'", "an empty iterable", "at least one batch")
    return batches


def _rotate(batches: list, t: int, n: int, *, concatenate: bool) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Sample t's ``n`` ready batches (cycling: t = 1 takes 0..n-1, t = 2 n..2n-1, …).

    As given for a base that accumulates over batches (SNIP, iterSNIP); else as one batch, so that a
    single-batch base (GraSP, ProsPr) sees all of them.
    """
    chosen = [batches[((t - 1) * n + i) % len(batches)] for i in range(n)]
    if not concatenate:
        return chosen
    return [(torch.cat([x for x, _ in chosen]), torch.cat([y for _, y in chosen]))]


def _groups(model: nn.Module) -> dict[str, int]:
    return {
        f"{name}.weight" if name else "weight": int(getattr(module, "groups", 1))
        for name, module in model.named_modules()
        if isinstance(module, nn.Conv2d | nn.Linear)
    }


def _check_int(what: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidValueError(what, value, f"an integer >= {minimum}")
