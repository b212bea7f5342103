"""Where data-dependent pruners get their batches from.

A pruner receives ``data`` as either a map-style :class:`torch.utils.data.Dataset` (the training split of
the sweep point's dataset) — then batches of the pruner's ``batch_size`` are drawn at random with a
generator seeded by the pruning seed — or any iterable of ``(x, y)`` batches (a DataLoader, a list), which
is consumed as is, in its own order and batch size.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch.utils.data import Dataset, IterableDataset, default_collate

from snntopo.errors import InvalidValueError

Batch = tuple[torch.Tensor, torch.Tensor]
DATA_ACCEPTED = "a map-style torch Dataset or an iterable of (x, y) batches"


def is_dataset(data: object) -> bool:
    """True for a map-style Dataset (sampled by us); False for iterables of ready-made batches."""
    return isinstance(data, Dataset) and not isinstance(data, IterableDataset) and hasattr(data, "__len__")


def sample_batches(dataset: Dataset, batch_size: int, n: int | None = None, seed: int = 0) -> Iterator[Batch]:
    """Yield ``n`` (or, with None, endlessly many) random batches of ``dataset``, reproducibly from ``seed``.

    Samples are drawn without replacement within a pass (a fresh permutation per pass), like a shuffled
    DataLoader, but from a private generator: the caller's RNG state is neither used nor changed.
    """
    size = len(dataset)  # type: ignore[arg-type]
    if size == 0:
        raise InvalidValueError("dataset", "empty", "a dataset with at least one sample")
    if int(batch_size) < 1:
        raise InvalidValueError("batch_size", batch_size, "a positive integer")
    gen = torch.Generator().manual_seed(int(seed))
    order = torch.randperm(size, generator=gen)
    pos, produced = 0, 0
    while n is None or produced < n:
        take: list[torch.Tensor] = []
        need = int(batch_size)
        while need:
            if pos == size:
                order, pos = torch.randperm(size, generator=gen), 0
            chunk = order[pos : pos + need]
            take.append(chunk)
            pos += len(chunk)
            need -= len(chunk)
        idx = torch.cat(take).tolist()
        yield as_batch(default_collate([dataset[i] for i in idx]))
        produced += 1


def as_batch(batch: Any) -> Batch:
    """``(x, y)`` from a collated batch (tuple, list, or anything indexable by 0 and 1); y as int64."""
    try:
        x, y = batch[0], batch[1]
    except (TypeError, IndexError, KeyError):
        raise InvalidValueError("batch", type(batch).__name__, "an (x, y) pair of tensors") from None
    x = torch.as_tensor(x)
    y = torch.as_tensor(y).long().reshape(-1)
    if x.shape[0] != y.shape[0]:
        raise InvalidValueError("batch", f"{x.shape[0]} inputs and {y.shape[0]} labels", "as many of each")
    return x.float() if not x.is_floating_point() else x, y


def batch_stream(data: object, batch_size: int, seed: int, *, what: str) -> Iterator[Batch]:
    """Endless batches: seeded random batches of a Dataset, or the given iterable cycled as is."""
    if data is None:
        raise InvalidValueError(f"data for {what}", None, DATA_ACCEPTED)
    if is_dataset(data):
        yield from sample_batches(data, batch_size, None, seed)  # type: ignore[arg-type]
        return
    if not isinstance(data, Iterable):
        raise InvalidValueError(f"data for {what}", type(data).__name__, DATA_ACCEPTED)
    while True:
        empty = True
        for batch in data:
            empty = False
            yield as_batch(batch)
        if empty:
            raise InvalidValueError(f"data for {what}", "an empty iterable", DATA_ACCEPTED)


def one_pass(data: object, batch_size: int, seed: int, *, what: str) -> Iterator[Batch]:
    """One pass over the data: every sample of a Dataset once in seeded random order, or the iterable once."""
    if data is None:
        raise InvalidValueError(f"data for {what}", None, DATA_ACCEPTED)
    if is_dataset(data):
        n = -(-len(data) // int(batch_size))  # type: ignore[arg-type]
        yield from sample_batches(data, batch_size, n, seed)  # type: ignore[arg-type]
        return
    if not isinstance(data, Iterable):
        raise InvalidValueError(f"data for {what}", type(data).__name__, DATA_ACCEPTED)
    for batch in data:
        yield as_batch(batch)


def chunks(
    x: torch.Tensor, y: torch.Tensor, chunk_size: int | None
) -> Iterator[tuple[torch.Tensor, torch.Tensor, float]]:
    """Split a batch into chunks of at most ``chunk_size`` samples; the float is the chunk's share n_c/n.

    Summing ``share × (chunk mean)`` reproduces the batch mean, so gradient accumulation over chunks equals
    the full-batch gradient for networks without batch statistics (with BatchNorm in training mode, each
    chunk is normalised by its own statistics: "ghost" batch norm).
    """
    n = x.shape[0]
    step = n if chunk_size is None else max(1, int(chunk_size))
    for start in range(0, n, step):
        xs, ys = x[start : start + step], y[start : start + step]
        yield xs, ys, xs.shape[0] / n
