"""What every dataset loader returns, plus the pieces loaders share.

- ``DatasetBundle``: train/test ``torch.utils.data.Dataset`` pair with the facts models are built from
  (``input_shape``, ``num_classes``) and the normalisation used; ``info()`` is its JSON summary.
- ``InMemoryDataset``: a split held as one normalised float tensor, for small data sets (digits), so that
  training does no decoding or per-item conversion.
- ``TensorRandomCrop``: random crop with padding (and optional horizontal flip) on a C×H×W tensor, using
  only torch's global RNG so that DataLoader worker seeding makes augmentation reproducible.
- option checkers raising ``InvalidValueError`` with the accepted values.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset, Subset

from snntopo.errors import InvalidValueError

#: Environment variable naming the directory that holds downloaded/extracted data sets.
DATA_ENV = "SNNTOPO_DATA"


def default_root() -> Path:
    """Data directory used when no ``root`` is given: ``$SNNTOPO_DATA`` if set, else ``data/`` in the cwd."""
    return Path(os.environ.get(DATA_ENV) or "data")


@dataclass
class DatasetBundle:
    """A train/test pair and the facts the rest of the pipeline needs about it.

    ``train`` and ``test`` yield ``(float tensor of shape input_shape, int label)``; ``mean``/``std`` are
    the per-channel constants already applied by their transforms (recorded for provenance and for code
    that must undo the normalisation, e.g. to build an all-ones input in pixel space).
    """

    name: str
    train: Dataset
    test: Dataset
    input_shape: tuple[int, int, int]
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    classes: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)

    def info(self, checksum: bool = True) -> dict[str, Any]:
        """JSON-ready summary: sizes, per-class counts, shapes, normalisation and a test-split checksum.

        The checksum is a SHA-256 over the test items exactly as a model sees them (after resizing and
        normalisation) and their labels, so two runs that report the same checksum evaluated on the same
        inputs. It decodes the whole test split once; pass ``checksum=False`` to skip it.
        """
        train_targets = dataset_targets(self.train)
        test_targets = dataset_targets(self.test)
        out: dict[str, Any] = {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "mean": list(self.mean),
            "std": list(self.std),
            "train_size": len(self.train),
            "test_size": len(self.test),
            "train_class_counts": torch.bincount(train_targets, minlength=self.num_classes).tolist(),
            "test_class_counts": torch.bincount(test_targets, minlength=self.num_classes).tolist(),
            "options": dict(self.options),
        }
        if checksum:
            out["test_checksum"] = split_checksum(self.test)
        return out


class InMemoryDataset(Dataset):
    """A split held as tensors: ``images`` (N, C, H, W) float32, already normalised; ``targets`` (N,) int64.

    ``indices`` records which rows of the source data set the split holds (for split-determinism checks
    and provenance). ``transform`` (augmentation) is applied per item to a C×H×W tensor.
    """

    def __init__(
        self,
        images: torch.Tensor,
        targets: torch.Tensor,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        indices: torch.Tensor | None = None,
    ):
        if images.ndim != 4 or targets.ndim != 1 or len(images) != len(targets):
            raise ValueError(
                "images must be (N, C, H, W) and targets (N,); "
                f"got {tuple(images.shape)}, {tuple(targets.shape)}"
            )
        self.images = images.to(torch.float32).contiguous()
        self.targets = targets.to(torch.int64)
        self.transform = transform
        self.indices = indices

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        x = self.images[index]
        if self.transform is not None:
            x = self.transform(x)
        return x, int(self.targets[index])


class TensorRandomCrop:
    """Random crop of a C×H×W tensor after padding each side by ``padding`` pixels, optional h-flip.

    The padding value is given per channel (``fill``) because the stored tensors are already normalised:
    padding with ``-mean/std`` is the same as torchvision padding the raw image with black (0) and then
    normalising. Only torch's global RNG is drawn from, so DataLoader worker seeding governs it.
    """

    def __init__(self, padding: int, fill: Sequence[float], flip: bool = False):
        self.padding = int(padding)
        self.fill = torch.as_tensor(list(fill), dtype=torch.float32)
        self.flip = flip

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        p = self.padding
        if p > 0:
            c, h, w = x.shape
            padded = self.fill.to(x.dtype).view(c, 1, 1).expand(c, h + 2 * p, w + 2 * p).clone()
            padded[:, p : p + h, p : p + w] = x
            i, j = torch.randint(0, 2 * p + 1, (2,)).tolist()
            x = padded[:, i : i + h, j : j + w]
        if self.flip and bool(torch.rand(()) < 0.5):
            x = x.flip(-1)
        return x

    def __repr__(self) -> str:
        return f"{type(self).__name__}(padding={self.padding}, flip={self.flip})"


def dataset_targets(ds: Dataset) -> torch.Tensor:
    """Labels of a dataset as an int64 tensor, without decoding images where the dataset exposes them.

    Uses ``ds.targets`` (torchvision datasets, ``InMemoryDataset``, Tiny-ImageNet), follows ``Subset``,
    and falls back to reading every item.
    """
    if isinstance(ds, Subset):
        base = dataset_targets(ds.dataset)
        return base[torch.as_tensor(list(ds.indices), dtype=torch.int64)]
    targets = getattr(ds, "targets", None)
    if targets is not None:
        return torch.as_tensor(targets, dtype=torch.int64)
    return torch.as_tensor([int(ds[i][1]) for i in range(len(ds))], dtype=torch.int64)


def split_checksum(ds: Dataset) -> str:
    """SHA-256 over the items of a split in order: every image's float32 bytes, then all labels.

    For an ``InMemoryDataset`` without transform the image bytes are hashed in one go; the byte stream
    is the same as item by item, so both paths give the same digest.
    """
    h = hashlib.sha256()
    if isinstance(ds, InMemoryDataset) and ds.transform is None:
        h.update(ds.images.numpy().tobytes())
        labels = ds.targets
    else:
        label_list = []
        for i in range(len(ds)):
            x, y = ds[i]
            h.update(torch.as_tensor(x, dtype=torch.float32).contiguous().numpy().tobytes())
            label_list.append(int(y))
        labels = torch.as_tensor(label_list, dtype=torch.int64)
    h.update(labels.numpy().astype("<i8").tobytes())
    return h.hexdigest()


# ---------------------------------------------------------------- option checkers


def check_bool(what: str, value: object) -> bool:
    """Accept a real bool only (a YAML ``"no"`` string or 0/1 is more likely a config slip)."""
    if not isinstance(value, bool):
        raise InvalidValueError(what, value, "true or false")
    return value


def check_int(
    what: str, value: object, *, minimum: int | None = None, choices: Iterable[int] | None = None
) -> int:
    """Accept an int (not bool) at least ``minimum`` and, if given, one of ``choices``."""
    allowed = sorted(choices) if choices is not None else None
    if allowed is not None:
        accepted = "one of " + ", ".join(map(str, allowed))
    else:
        accepted = "an integer" + (f" >= {minimum}" if minimum is not None else "")
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValueError(what, value, accepted)
    if (minimum is not None and value < minimum) or (allowed is not None and value not in allowed):
        raise InvalidValueError(what, value, accepted)
    return value


def check_choice(what: str, value: object, choices: Iterable[str]) -> str:
    """Accept one of a closed set of strings."""
    allowed = sorted(choices)
    if value not in allowed:
        raise InvalidValueError(what, value, "one of " + ", ".join(allowed))
    return str(value)


def check_channel_stats(what: str, value: object, channels: int, *, positive: bool) -> tuple[float, ...]:
    """Accept a per-channel sequence of ``channels`` numbers (all > 0 for a std)."""
    accepted = f"a list of {channels} numbers" + (" > 0" if positive else "")
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != channels:
        raise InvalidValueError(what, value, accepted)
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise InvalidValueError(what, value, accepted) from None
    if positive and not all(v > 0 for v in out):
        raise InvalidValueError(what, value, accepted)
    return out
