"""End-of-epoch checkpoints: atomic, self-verifying, and tied to the run they belong to.

File format (``checkpoint.pt``)::

    b"SNNTOPO-CKPT 1\\n" + sha256(payload).hexdigest() + b"\\n" + payload

where ``payload`` is a ``torch.save`` of a dict of tensors and plain Python values (loaded with
``weights_only=True``). The digest catches truncation and bit rot that ``torch.load`` might not; the
``fingerprint`` entry ties the file to one run (model architecture, initial weights, mask, recipe, seed,
dataset), so a checkpoint of another run is named and refused instead of being loaded.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from snntopo.errors import CheckpointError
from snntopo.utils import atomic_path

MAGIC = b"SNNTOPO-CKPT 1\n"
_DIGEST_LEN = 64


def save_checkpoint(path: str | os.PathLike[str], payload: Mapping[str, Any]) -> None:
    """Write ``payload`` atomically (temp file, fsync, rename): a kill leaves the old file or the new one."""
    buf = io.BytesIO()
    torch.save(dict(payload), buf)
    data = buf.getvalue()
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(MAGIC + hashlib.sha256(data).hexdigest().encode() + b"\n" + data)
        f.flush()
        os.fsync(f.fileno())


def load_checkpoint(
    path: str | os.PathLike[str], fingerprint: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Read and verify a checkpoint; tensors are loaded on the CPU.

    Raises CheckpointError naming the file when it is unreadable, truncated or corrupt, and naming the
    differing field(s) when ``fingerprint`` is given and the file belongs to another run.
    """
    path = Path(path)
    hint = "; delete it or start over with restart=True"
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise CheckpointError(f"checkpoint {path} is unreadable: {err}{hint}") from None
    head = len(MAGIC) + _DIGEST_LEN + 1
    if not raw.startswith(MAGIC):
        raise CheckpointError(f"checkpoint {path} is not an snntopo checkpoint (bad header){hint}")
    if len(raw) < head:
        raise CheckpointError(f"checkpoint {path} is truncated ({len(raw)} bytes){hint}")
    digest, data = raw[len(MAGIC) : head - 1].decode("ascii", "replace"), raw[head:]
    if hashlib.sha256(data).hexdigest() != digest:
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated (SHA-256 mismatch){hint}")
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as err:  # any decoding failure means the same thing to the caller
        raise CheckpointError(f"checkpoint {path} cannot be decoded: {err}{hint}") from None
    if not isinstance(payload, dict) or "fingerprint" not in payload:
        raise CheckpointError(f"checkpoint {path} has no fingerprint{hint}")
    if fingerprint is not None:
        differences = fingerprint_differences(payload["fingerprint"], fingerprint)
        if differences:
            raise CheckpointError(
                f"checkpoint {path} belongs to another run: "
                + "; ".join(differences)
                + "; refusing to resume (start over with restart=True)"
            )
    return payload


def fingerprint_differences(stored: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """One line per differing field, e.g. ``mask: checkpoint 3fa2…, this run 91bc…``; nested dicts by key."""
    out: list[str] = []
    for key in sorted(set(stored) | set(current)):
        a, b = stored.get(key, "<absent>"), current.get(key, "<absent>")
        if a == b:
            continue
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out += [f"{key}.{line}" for line in fingerprint_differences(a, b)]
        else:
            out.append(f"{key}: checkpoint {_short(a)}, this run {_short(b)}")
    return out


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def rng_states() -> dict[str, Any]:
    """Python, NumPy and torch (CPU and every CUDA device) RNG states, in weights_only-loadable types."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_states(states: Mapping[str, Any]) -> None:
    """Inverse of :func:`rng_states` (CUDA states are restored only when the device count matches)."""
    random.setstate(_as_tuple(states["python"]))
    n = states["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    np.random.set_state((n["kind"], keys, n["pos"], n["has_gauss"], n["cached_gaussian"]))
    torch.set_rng_state(states["torch"])
    cuda = states.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


def _as_tuple(value: Any) -> Any:
    """torch.save keeps tuples, but be lenient with lists (random.setstate needs tuples throughout)."""
    return tuple(_as_tuple(v) for v in value) if isinstance(value, list | tuple) else value
