"""snntopo.data: data sets by name, as train/test torch Datasets plus the facts models are built from.

``load_dataset(name, root=None, download=False, **options) -> DatasetBundle``. Names (registry
``DATASETS``): ``digits`` (offline scikit-learn digits, the default), ``cifar10``, ``cifar100``,
``tinyimagenet``, ``imagefolder``. Each loader's keyword-only parameters are its options;
``dataset_options(name)`` lists them with their defaults.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any

from snntopo.data import cifar, digits, imagefolder, tinyimagenet  # noqa: F401  (register the loaders)
from snntopo.data.base import (
    DATA_ENV,
    DatasetBundle,
    InMemoryDataset,
    TensorRandomCrop,
    dataset_targets,
    default_root,
    split_checksum,
)
from snntopo.data.registry import DATASETS, register_dataset
from snntopo.errors import InvalidValueError

__all__ = [
    "DATASETS",
    "DATA_ENV",
    "DatasetBundle",
    "InMemoryDataset",
    "TensorRandomCrop",
    "dataset_options",
    "dataset_targets",
    "default_root",
    "load_dataset",
    "register_dataset",
    "split_checksum",
]


def dataset_options(name: str) -> dict[str, Any]:
    """Options accepted by dataset ``name`` (its loader's keyword-only parameters) and their defaults."""
    params = inspect.signature(DATASETS.get(name)).parameters.values()
    return {p.name: p.default for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}


def load_dataset(
    name: str, root: str | os.PathLike[str] | None = None, download: bool = False, **options: Any
) -> DatasetBundle:
    """Load data set ``name`` with its ``options``.

    ``root``: directory holding the data (default ``$SNNTOPO_DATA`` or ``data/`` in the cwd); ``download``:
    whether a loader may fetch a missing data set (only CIFAR can). Raises ``UnknownNameError`` for an
    unknown name, ``InvalidValueError`` for an unknown or invalid option (naming the accepted ones) and
    ``DatasetNotFoundError`` when the data are not on disk, saying where it looked and how to get them.
    """
    loader = DATASETS.get(name)
    accepted = dataset_options(name)
    for key in options:
        if key not in accepted:
            raise InvalidValueError(
                f"option of dataset {name!r}", key, ", ".join(sorted(accepted)) or "no options"
            )
    if not isinstance(download, bool):
        raise InvalidValueError("download", download, "true or false")
    root_path = Path(root) if root is not None else default_root()
    return loader(root_path, download, **options)
