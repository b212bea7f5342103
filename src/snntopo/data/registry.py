"""The dataset registry: one config name → one loader function.

A loader has the signature ``loader(root: Path, download: bool, *, option=default, ...) -> DatasetBundle``.
Its keyword-only parameters are the dataset's options: ``load_dataset`` validates a config against them
and the config schema can list them, so a loader's signature is the single place they are declared.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from snntopo.registry import Registry

if TYPE_CHECKING:
    from snntopo.data.base import DatasetBundle

Loader = Callable[..., "DatasetBundle"]

DATASETS: Registry[Loader] = Registry("dataset")


def register_dataset(name: str) -> Callable[[Loader], Loader]:
    """Decorator registering a dataset loader under ``name`` (the name used in configs)."""
    return DATASETS.register(name)
