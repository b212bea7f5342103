"""Pruner registry and the front door :func:`prune` that every caller goes through.

A pruner is one function ``fn(model, sparsity, data, seed, **options) -> Masks`` registered with
``@register_pruner("name")``; a pruner with more to tell (e.g. the search trace of a sampling pruner)
returns a :class:`PrunerOutput` instead, whose ``extras`` :func:`prune_and_summarize` puts into the
summary. Its keyword options and their defaults are read from its signature, so the
front door can reject unknown options (naming the accepted ones) and record every option in the summary.
The front door, not the pruner, validates the sparsity, works on a copy of the model, seeds torch without
disturbing the caller's RNG, checks the result (keys, shapes, exact global count) and detects layer
collapse.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import inspect
import numbers
import time
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from snntopo.errors import InvalidValueError, LayerCollapseError, check_fraction
from snntopo.models import prunable_parameters
from snntopo.pruning.masks import Masks, check_masks, collapsed_layers, keep_count, summarize
from snntopo.registry import Registry
from snntopo.utils import tensors_checksum


@dataclasses.dataclass
class PrunerOutput:
    """Masks plus JSON-able ``extras``, stored by :func:`prune_and_summarize` as ``summary["extras"]``.

    ``exact_count`` False: the pruner reproduces a method whose kept count is only right in expectation
    (e.g. Bernoulli draws); the front door then skips the exact-count check, and the summary's ``global``
    block records the sparsity actually reached (never re-filled to the requested one).
    ``state``: the model ``state_dict`` the mask was chosen on when it is not the given initialisation
    (a warm-up before pruning); training must start from it (stored in ``mask.pt`` by the prune step).
    """

    masks: Masks
    extras: dict[str, Any] = dataclasses.field(default_factory=dict)
    exact_count: bool = True
    state: dict[str, torch.Tensor] | None = None


Pruner = Callable[..., Masks | PrunerOutput]
PRUNERS: Registry[Pruner] = Registry("pruner")

#: Options handled by :func:`prune` itself, accepted by every pruner.
FRONT_DOOR_OPTIONS = {"allow_collapse": False}
_POSITIONAL = ("model", "sparsity", "data", "seed")


def pruner_seed(seed: int, name: str) -> int:
    """A 63-bit seed derived from (``seed``, pruner ``name``): every random draw of a pruner starts here.

    Two pruners run at the same sweep seed thus never share a random stream (ER and ERK at equal densities
    would otherwise draw identical masks), while the same (seed, name) always gives the same stream.
    """
    digest = hashlib.sha256(f"snntopo-pruner:{name}:{int(seed)}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def register_pruner(name: str) -> Callable[[Pruner], Pruner]:
    """Register ``fn(model, sparsity, data, seed, *, option=default, ...) -> Masks`` under ``name``.

    The function may modify ``model`` freely (it receives a private copy) and must return bool masks for
    exactly the prunable weights (plus Conv/Linear biases if it prunes those) with the exact global count,
    or a :class:`PrunerOutput` with ``exact_count=False`` when its reference only meets the count in
    expectation. Random draws must come from generators seeded by :func:`pruner_seed`.
    """

    def decorate(fn: Pruner) -> Pruner:
        params = list(inspect.signature(fn).parameters.values())
        if tuple(p.name for p in params[:4]) != _POSITIONAL or any(
            p.kind is not inspect.Parameter.KEYWORD_ONLY or p.default is inspect.Parameter.empty
            for p in params[4:]
        ):
            raise TypeError(
                f"pruner {name!r}: signature must be (model, sparsity, data, seed, *, option=default...)"
            )
        return PRUNERS.register(name)(fn)

    return decorate


def pruner_options(name: str, **options: Any) -> dict[str, Any]:
    """Every option of pruner ``name`` with defaults filled in (front-door options included), validated.

    Raises UnknownNameError for an unknown pruner and InvalidValueError naming unknown options and the
    accepted ones.
    """
    fn = PRUNERS.get(name)
    defaults = {**_defaults(fn), **FRONT_DOOR_OPTIONS}
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise InvalidValueError(
            f"option(s) of pruner {name!r}",
            ", ".join(unknown),
            "options " + (", ".join(sorted(defaults)) or "none"),
        )
    return {**defaults, **options}


def prune(
    name: str, model: nn.Module, sparsity: float, data: object = None, seed: int = 0, **options: Any
) -> Masks:
    """Prune a copy of ``model`` to global ``sparsity`` over all Conv2d/Linear weights with pruner ``name``.

    ``data``: a map-style Dataset (batches are drawn from it with a generator seeded by
    :func:`pruner_seed` of ``seed`` and ``name``) or an iterable of ``(x, y)`` batches used as given;
    ignored by data-free pruners. Every random choice of the pruner is seeded from (``seed``, ``name``);
    the caller's torch RNG state is left untouched and ``model`` is not modified.
    ``allow_collapse`` (default False): accept a mask that leaves a layer without any weight; otherwise
    :class:`LayerCollapseError` names the layer(s). Returns bool masks on the CPU, keyed and ordered as
    :func:`snntopo.models.prunable_parameters` (biases appended when the pruner prunes them).
    """
    return _prune(name, model, sparsity, data, seed, **options).masks


def _prune(
    name: str, model: nn.Module, sparsity: float, data: object = None, seed: int = 0, **options: Any
) -> PrunerOutput:
    """:func:`prune`, keeping the pruner's extras."""
    fn = PRUNERS.get(name)
    s = check_fraction("sparsity", sparsity)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise InvalidValueError("seed", seed, "a non-negative integer")
    seed = int(seed)
    resolved = pruner_options(name, **options)
    allow_collapse = bool(resolved.pop("allow_collapse"))
    pruner_kwargs = {k: v for k, v in options.items() if k in resolved}

    work = copy.deepcopy(model)
    device = next((p.device for p in work.parameters()), torch.device("cpu"))
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(pruner_seed(seed, name))
        result = fn(work, s, data, seed, **pruner_kwargs)

    if not isinstance(result, PrunerOutput):
        result = PrunerOutput(result)
    masks = _finalise(name, result.masks, model, s, exact=result.exact_count)
    collapsed = collapsed_layers(masks)
    if collapsed and not allow_collapse:
        raise LayerCollapseError(
            f"pruner {name!r} at sparsity {s} left layer(s) {', '.join(collapsed)} without any weight "
            "(no path from input to output); pass allow_collapse=True to accept it"
        )
    state = None
    if result.state is not None:
        state = {k: v.detach().to("cpu").clone().contiguous() for k, v in result.state.items()}
    return PrunerOutput(masks, result.extras, result.exact_count, state)


def prune_and_summarize(
    name: str, model: nn.Module, sparsity: float, data: object = None, seed: int = 0, **options: Any
) -> tuple[Masks, dict[str, Any]]:
    """:func:`prune`, then :func:`summarize` with every option (defaults filled in) and the time taken.

    A pruner's extras (:class:`PrunerOutput`) appear as ``summary["extras"]``.
    """
    masks, summary, _ = prune_for_training(name, model, sparsity, data, seed, **options)
    return masks, summary


def prune_for_training(
    name: str, model: nn.Module, sparsity: float, data: object = None, seed: int = 0, **options: Any
) -> tuple[Masks, dict[str, Any], dict[str, torch.Tensor] | None]:
    """:func:`prune_and_summarize` plus the ``state_dict`` training must start from (None: the given model).

    A pruner that changes the weights before choosing the mask (fullspectrum's warm-up) returns them;
    the summary then records their checksum as ``start_weights``.
    """
    start = time.perf_counter()
    result = _prune(name, model, sparsity, data, seed, **options)
    masks = result.masks
    extra: dict[str, Any] = {"extras": result.extras} if result.extras else {}
    if result.state is not None:
        extra["start_weights"] = {"source": f"pruner {name!r}", "checksum": tensors_checksum(result.state)}
    summary = summarize(
        masks,
        model,
        pruner=name,
        sparsity=sparsity,
        seed=seed,
        options=pruner_options(name, **options),
        time_s=round(time.perf_counter() - start, 3),
        **extra,
    )
    return masks, summary, result.state


def _defaults(fn: Pruner) -> dict[str, Any]:
    return {p.name: p.default for p in list(inspect.signature(fn).parameters.values())[4:]}


def _finalise(
    name: str, masks: Mapping[str, torch.Tensor], model: nn.Module, sparsity: float, *, exact: bool = True
) -> Masks:
    """Bool CPU tensors in module order; checks that the pruner kept exactly the requested number.

    ``exact`` False (a pruner whose reference keeps the requested count only in expectation) skips the
    count check; the achieved sparsity is what the summary then reports.
    """
    masks = {n: m.detach().to("cpu", torch.bool) for n, m in masks.items()}
    check_masks(masks, model, source=f"pruner {name!r}")
    weights = list(prunable_parameters(model))
    order = weights + sorted(set(masks) - set(weights), key=list(dict(model.named_parameters())).index)
    masks = {n: masks[n] for n in order if n in masks}
    total = sum(m.numel() for m in masks.values())
    kept = sum(int(m.sum()) for m in masks.values())
    if exact and kept != keep_count(total, sparsity):
        raise RuntimeError(
            f"pruner {name!r} kept {kept} of {total} entries, expected {keep_count(total, sparsity)} "
            f"for sparsity {sparsity} (a bug in the pruner)"
        )
    return masks
