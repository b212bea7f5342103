"""Typed errors. Each one names the offending value and, where there is a closed set, what is accepted."""

from __future__ import annotations

from collections.abc import Iterable


class SnntopoError(Exception):
    """Base class of every error raised on purpose by snntopo."""


class UnknownNameError(SnntopoError, KeyError):
    """A name looked up in a registry (pruner, model, dataset, metric, ...) does not exist."""

    def __init__(self, kind: str, name: object, known: Iterable[str]):
        self.kind, self.name, self.known = kind, name, sorted(known)
        super().__init__(f"unknown {kind} {name!r}; known {kind}s: {', '.join(self.known)}")

    def __str__(self) -> str:  # KeyError would otherwise wrap the message in quotes
        return self.args[0]


class InvalidValueError(SnntopoError, ValueError):
    """A parameter is out of range or of the wrong kind."""

    def __init__(self, what: str, value: object, accepted: str):
        self.what, self.value, self.accepted = what, value, accepted
        super().__init__(f"invalid {what}: {value!r}; accepted: {accepted}")


class DatasetNotFoundError(SnntopoError, FileNotFoundError):
    """A dataset is not on disk and downloading is disabled or impossible."""


class CheckpointError(SnntopoError):
    """A checkpoint is corrupt or belongs to another run (other model, mask or recipe)."""


class TrainingDivergedError(SnntopoError):
    """The loss became NaN or infinite."""


class LayerCollapseError(SnntopoError):
    """Pruning left a layer without any weight, so no path connects input and output."""


class GraphTooLargeError(SnntopoError, MemoryError):
    """A graph would not fit in the memory budget; raised before anything is allocated."""


def check_fraction(what: str, value: float, *, upper_inclusive: bool = False) -> float:
    """Return ``value`` as a float if it lies in [0, 1) (or [0, 1]), else raise InvalidValueError."""
    accepted = "a number in [0, 1" + ("]" if upper_inclusive else ")")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise InvalidValueError(what, value, accepted) from None
    if not (0.0 <= x <= 1.0 if upper_inclusive else 0.0 <= x < 1.0):
        raise InvalidValueError(what, value, accepted)
    return x
