"""The initialisation file shared by every pruner, sparsity and metric job of a (dataset, model, seed)."""

from __future__ import annotations

import os
import pickle
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from snntopo.errors import CheckpointError
from snntopo.models.registry import build_model, init_model
from snntopo.utils import atomic_path, tensors_checksum


def save_init(
    path: str | os.PathLike[str], name: str, input_shape: Sequence[int], num_classes: int, seed: int
) -> nn.Module:
    """Initialise ``name`` with ``seed`` and save weights plus everything needed to rebuild it."""
    model = init_model(name, input_shape, num_classes, seed=seed)
    state = model.state_dict()
    payload = {
        "model": name,
        "input_shape": [int(s) for s in input_shape],
        "num_classes": int(num_classes),
        "seed": int(seed),
        "state_dict": state,
        "checksum": tensors_checksum(state),
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return model


def load_init(path: str | os.PathLike[str]) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model saved by :func:`save_init`; a corrupt or tampered file raises CheckpointError."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        model = build_model(payload["model"], payload["input_shape"], payload["num_classes"])
        model.load_state_dict(payload["state_dict"])
    except (OSError, RuntimeError, KeyError, EOFError, ValueError, TypeError, pickle.UnpicklingError) as err:
        raise CheckpointError(f"cannot read initialisation {os.fspath(path)!r}: {err}") from None
    if tensors_checksum(payload["state_dict"]) != payload["checksum"]:
        raise CheckpointError(f"initialisation {os.fspath(path)!r} does not match its checksum")
    info = {k: payload[k] for k in ("model", "input_shape", "num_classes", "seed", "checksum")}
    return model, info
