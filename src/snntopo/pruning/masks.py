"""Masks: the unit passed between pruning, training and encoding.

``Masks`` maps a parameter name (as in ``model.named_parameters()``) to a bool tensor of the parameter's
shape; True = kept. The keys are the :func:`~snntopo.models.prunable_parameters` keys (the weight of every
Conv2d and Linear, in module order), plus the biases of those modules when a pruner was asked to prune
biases too.

On disk a mask is ``mask.pt`` = ``torch.save({"masks": {name: bool tensor}, "summary": {...}})`` with the
summary also written as ``mask.json`` beside it (see :func:`summarize` for its fields). A mask chosen on
weights other than the shared initialisation (fullspectrum's warm-up) also holds ``"start_state"``, the
``state_dict`` training starts from (:func:`load_start_state`; its checksum is the summary's
``start_weights.checksum``).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from snntopo.errors import CheckpointError, InvalidValueError, check_fraction
from snntopo.models import prunable_parameters
from snntopo.utils import atomic_path, tensors_checksum, write_json

Masks = dict[str, torch.Tensor]

#: Bumped when the layout of ``mask.pt`` / ``mask.json`` changes incompatibly.
MASK_FORMAT_VERSION = 1


def keep_count(total: int, sparsity: float) -> int:
    """Number of entries kept out of ``total`` at ``sparsity``: ``round((1 − s)·total)``, halves rounded up.

    The single definition of "exact global sparsity" used by every pruner and by the tests.
    """
    return math.floor((1.0 - float(sparsity)) * int(total) + 0.5)


def global_topk_masks(
    scores: Mapping[str, torch.Tensor], sparsity: float | None = None, *, keep: int | None = None
) -> Masks:
    """Keep the ``keep`` (or ``keep_count(N, sparsity)``) highest scores over all tensors jointly.

    One concatenated score vector and one ``kthvalue`` select the threshold; ties at the threshold are
    broken deterministically in favour of the earlier position (tensor order, then row-major order), so
    the kept count is exact and the same scores always give the same mask. ``-inf`` scores are allowed
    (used to keep pruned weights pruned); NaN scores are an error naming the tensor.
    """
    if (sparsity is None) == (keep is None):
        raise TypeError("global_topk_masks needs exactly one of sparsity and keep")
    names = list(scores)
    for name in names:
        if torch.isnan(scores[name]).any():
            raise InvalidValueError(f"scores of {name!r}", "NaN", "finite or -inf scores")
    flat = torch.cat([scores[n].detach().reshape(-1) for n in names]) if names else torch.zeros(0)
    total = flat.numel()
    k = keep_count(total, check_fraction("sparsity", sparsity)) if keep is None else int(keep)
    if not 0 <= k <= total:
        raise InvalidValueError("number of kept entries", k, f"an integer in [0, {total}]")
    if k == total:
        kept = torch.ones(total, dtype=torch.bool, device=flat.device)
    elif k == 0:
        kept = torch.zeros(total, dtype=torch.bool, device=flat.device)
    else:
        # k-th largest = (total − k + 1)-th smallest.
        threshold = torch.kthvalue(flat, total - k + 1).values
        kept = flat > threshold
        missing = k - int(kept.sum())
        at_threshold = flat == threshold
        kept |= at_threshold & (torch.cumsum(at_threshold, 0) <= missing)
    return split_flat(kept, {n: scores[n].shape for n in names})


def split_flat(flat: torch.Tensor, shapes: Mapping[str, torch.Size | tuple[int, ...]]) -> Masks:
    """Cut a flat bool vector into tensors of ``shapes`` (in mapping order)."""
    out: Masks = {}
    offset = 0
    for name, shape in shapes.items():
        n = math.prod(shape)
        out[name] = flat[offset : offset + n].reshape(shape).clone()
        offset += n
    if offset != flat.numel():
        raise ValueError(f"flat vector has {flat.numel()} entries, shapes need {offset}")
    return out


def check_masks(masks: Mapping[str, torch.Tensor], model: nn.Module, *, source: str = "masks") -> None:
    """Raise :class:`CheckpointError` naming the layer when ``masks`` does not fit ``model``.

    Every prunable weight must have a mask; extra keys may only be biases of Conv2d/Linear modules;
    shapes must match and masks must be bool.
    """
    params = dict(model.named_parameters())
    prunable = prunable_parameters(model)
    biases = _prunable_biases(model)
    missing = [n for n in prunable if n not in masks]
    if missing:
        raise CheckpointError(f"{source}: no mask for layer(s) {', '.join(missing)} of the model")
    unexpected = [n for n in masks if n not in prunable and n not in biases]
    if unexpected:
        raise CheckpointError(
            f"{source}: mask(s) for {', '.join(unexpected)}, which the model has no prunable parameter for"
        )
    for name, mask in masks.items():
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
            raise CheckpointError(f"{source}: mask of layer {name!r} is not a bool tensor")
        if tuple(mask.shape) != tuple(params[name].shape):
            raise CheckpointError(
                f"{source}: mask of layer {name!r} has shape {tuple(mask.shape)}, "
                f"the model's parameter has {tuple(params[name].shape)}"
            )


def apply_masks(model: nn.Module, masks: Mapping[str, torch.Tensor]) -> nn.Module:
    """Zero the pruned entries of ``model``'s parameters in place (no autograd history); returns ``model``."""
    check_masks(masks, model)
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, mask in masks.items():
            p = params[name]
            p.mul_(mask.to(device=p.device, dtype=p.dtype))
    return model


def collapsed_layers(masks: Mapping[str, torch.Tensor]) -> list[str]:
    """Names of the weight masks with no kept entry (a layer that disconnects input from output)."""
    return [n for n, m in masks.items() if not n.endswith("bias") and not bool(m.any())]


def summarize(
    masks: Mapping[str, torch.Tensor],
    model: nn.Module | None = None,
    *,
    pruner: str | None = None,
    sparsity: float | None = None,
    seed: int | None = None,
    options: Mapping[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """JSON-able summary of a mask (the content of ``mask.json``).

    Fields: ``format_version``; ``pruner``, ``options`` (every option, defaults filled in), ``seed``,
    ``sparsity_requested``; ``layers`` (list in module order: ``index``, ``name``, ``shape``, ``numel``,
    ``kept``, ``density``) over the weight masks; ``global`` (``total``, ``kept``, ``sparsity``,
    ``density`` over the weight masks, i.e. all Conv2d/Linear weights); ``biases`` (same four numbers over
    bias masks, only when biases were pruned); ``collapsed_layers``; ``mask_checksum``
    (:func:`snntopo.utils.tensors_checksum` of the masks) and ``init_checksum`` (of ``model.state_dict()``,
    the same checksum as the ``init.pt`` it was computed from; None without a model); plus ``extra``.
    """
    weights = {n: m for n, m in masks.items() if not n.endswith("bias")}
    biases = {n: m for n, m in masks.items() if n.endswith("bias")}
    layers = []
    for index, (name, mask) in enumerate(weights.items()):
        kept = int(mask.sum())
        layers.append(
            {
                "index": index,
                "name": name,
                "shape": list(mask.shape),
                "numel": mask.numel(),
                "kept": kept,
                "density": kept / mask.numel(),
            }
        )
    summary: dict[str, Any] = {
        "format_version": MASK_FORMAT_VERSION,
        "pruner": pruner,
        "options": _jsonable(dict(options or {})),
        "seed": seed,
        "sparsity_requested": None if sparsity is None else float(sparsity),
        "layers": layers,
        "global": _totals(weights),
        "collapsed_layers": collapsed_layers(masks),
        "mask_checksum": tensors_checksum(dict(masks)),
        "init_checksum": None if model is None else tensors_checksum(model.state_dict()),
    }
    if biases:
        summary["biases"] = _totals(biases)
    summary.update(_jsonable(extra))
    return summary


def save_masks(
    path: str | os.PathLike[str],
    masks: Mapping[str, torch.Tensor],
    summary: Mapping[str, Any],
    start_state: Mapping[str, torch.Tensor] | None = None,
) -> None:
    """Write ``mask.pt`` at ``path`` and the summary as JSON beside it (same stem, ``.json``), atomically.

    ``start_state``: the weights training must start from, when they are not the initialisation.
    """
    path = Path(path)
    payload: dict[str, Any] = {
        "masks": {n: m.detach().to("cpu", torch.bool).contiguous() for n, m in masks.items()},
        "summary": _jsonable(dict(summary)),
    }
    if start_state is not None:
        payload["start_state"] = {k: v.detach().to("cpu").contiguous() for k, v in start_state.items()}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    write_json(path.with_suffix(".json"), payload["summary"])


def load_masks(path: str | os.PathLike[str], model: nn.Module | None = None) -> Masks:
    """Read the masks of ``mask.pt``; with ``model``, check keys and shapes against it.

    Raises :class:`CheckpointError` naming the file when it is missing, corrupt or not a mask file, and
    naming the layer when it does not fit ``model``.
    """
    masks = _read(path)["masks"]
    if model is not None:
        check_masks(masks, model, source=str(path))
    return masks


def load_start_state(path: str | os.PathLike[str]) -> dict[str, torch.Tensor] | None:
    """The ``state_dict`` stored with the mask for training to start from, or None (start from the init).

    Raises CheckpointError when the stored weights do not match the summary's checksum.
    """
    payload = _read(path)
    state = payload.get("start_state")
    if state is None:
        return None
    expected = payload["summary"].get("start_weights", {}).get("checksum")
    if expected != tensors_checksum(state):
        raise CheckpointError(f"mask file {str(path)!r}: start weights do not match their checksum")
    return state


def start_from_mask(model: nn.Module, path: str | os.PathLike[str]) -> bool:
    """Load into ``model`` the weights stored with the mask at ``path`` for training to start from (a
    full-spectrum warm-up), if there are any; whether it did. Training, measuring and the DST topology
    all start from the same weights this way (a point's own ``mask.pt``, not an evolved final mask)."""
    state = load_start_state(path)
    if state is None:
        return False
    model.load_state_dict(state)
    return True


def load_mask_summary(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The summary stored inside ``mask.pt`` (identical to the ``mask.json`` beside it)."""
    return _read(path)["summary"]


def _read(path: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"mask file {str(path)!r} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several unrelated types for a damaged file
        raise CheckpointError(f"mask file {str(path)!r} is corrupt or not a torch file ({err})") from None
    if not (isinstance(payload, dict) and isinstance(payload.get("masks"), dict) and "summary" in payload):
        raise CheckpointError(
            f"mask file {str(path)!r} is not a mask file (expected keys 'masks', 'summary')"
        )
    for name, mask in payload["masks"].items():
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
            raise CheckpointError(f"mask file {str(path)!r}: entry {name!r} is not a bool tensor")
    return payload


def prunable_biases(model: nn.Module) -> dict[str, nn.Parameter]:
    """The bias of every Conv2d and Linear that has one, keyed like ``named_parameters()``.

    The only parameters besides :func:`~snntopo.models.prunable_parameters` a mask may cover.
    """
    return {
        f"{name}.bias" if name else "bias": module.bias
        for name, module in model.named_modules()
        if isinstance(module, nn.Conv2d | nn.Linear) and module.bias is not None
    }


_prunable_biases = prunable_biases  # the name used inside the pruning package


def _totals(masks: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    total = sum(m.numel() for m in masks.values())
    kept = sum(int(m.sum()) for m in masks.values())
    return {
        "total": total,
        "kept": kept,
        "sparsity": 1.0 - kept / total if total else 0.0,
        "density": kept / total if total else 1.0,
    }


def _jsonable(obj: Any) -> Any:
    """Tuples → lists, tensors/NumPy scalars → numbers, so that the summary round-trips through JSON."""
    return json.loads(json.dumps(obj, default=_default))


def _default(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path | torch.device | torch.dtype):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
