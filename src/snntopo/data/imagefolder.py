"""``imagefolder``: any class-per-folder image tree, ``root/train/<class>/*`` and ``root/test/<class>/*``
(or ``root/val/<class>/*``), resized to ``size``×``size`` RGB.

Class indices are those of the train split (sorted folder names, as torchvision's ``ImageFolder``); the
test split reuses that map, so a test tree that lacks a class (small held-out sets often do) still gets
the right labels, and a test class unknown to the train split is an error. Plain ``ImageFolder`` on the
test tree would silently renumber the classes in both cases.

Normalisation: ``mean``/``std`` from the config, else computed once from (up to ``stats_samples``,
evenly spaced) train images after resizing, before augmentation.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from snntopo.data.base import (
    DATA_ENV,
    DatasetBundle,
    check_bool,
    check_channel_stats,
    check_choice,
    check_int,
)
from snntopo.data.registry import register_dataset
from snntopo.data.transforms import INTERPOLATIONS, interpolation_mode, vision_transforms
from snntopo.errors import DatasetNotFoundError, InvalidValueError

if TYPE_CHECKING:
    from torchvision.datasets import ImageFolder

TEST_DIRS = ("test", "val")


@functools.cache
def _class_mapped_image_folder() -> type[ImageFolder]:
    """The ImageFolder subclass below, defined on first use: torchvision's import costs ~2 s of CPU."""
    from torchvision.datasets import ImageFolder

    class ClassMappedImageFolder(ImageFolder):
        """``ImageFolder`` with a given class → index map (the train split's) instead of its own scan."""

        def __init__(self, root: str | Path, class_to_idx: dict[str, int], **kwargs):
            self._fixed_class_to_idx = dict(class_to_idx)
            super().__init__(root, allow_empty=True, **kwargs)

        def find_classes(self, directory: str | Path) -> tuple[list[str], dict[str, int]]:
            found = {entry.name for entry in os.scandir(directory) if entry.is_dir()}
            unknown = sorted(found - set(self._fixed_class_to_idx))
            if unknown:
                raise InvalidValueError(
                    f"class folders of {directory}",
                    unknown,
                    "only classes of the train split: " + ", ".join(self._fixed_class_to_idx),
                )
            classes = sorted(self._fixed_class_to_idx, key=self._fixed_class_to_idx.__getitem__)
            return classes, dict(self._fixed_class_to_idx)

    ClassMappedImageFolder.__qualname__ = "ClassMappedImageFolder"
    return ClassMappedImageFolder


def __getattr__(name: str) -> type:
    """``ClassMappedImageFolder`` as a module attribute (PEP 562), created on first access, so that pickle
    finds it by name: DataLoader workers started with ``spawn`` unpickle the test split."""
    if name == "ClassMappedImageFolder":
        return _class_mapped_image_folder()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def channel_stats(
    ds: ImageFolder, size: int, interpolation: str, max_samples: int
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel population mean/std of up to ``max_samples`` evenly spaced images, resized, in [0, 1]."""
    from torchvision import transforms as T

    resize = T.Resize((size, size), interpolation=interpolation_mode(interpolation))
    to_tensor = T.Compose([resize, T.ToTensor()])
    idx = torch.linspace(0, len(ds) - 1, min(max_samples, len(ds))).round().long().unique().tolist()
    total = torch.zeros(3, dtype=torch.float64)
    total_sq = torch.zeros(3, dtype=torch.float64)
    for i in idx:  # one image at a time bounds memory; the per-image reduction is vectorised
        x = to_tensor(ds.loader(ds.samples[i][0])).to(torch.float64).flatten(1)
        total += x.sum(1)
        total_sq += (x * x).sum(1)
    count = len(idx) * size * size
    mean = total / count
    std = (total_sq / count - mean * mean).clamp_min(0).sqrt().clamp_min(1e-6)  # blank images: avoid /0
    return tuple(mean.tolist()), tuple(std.tolist())


@register_dataset("imagefolder")
def load_imagefolder(
    root: Path,
    download: bool,
    *,
    size: int = 32,
    augment: bool = True,
    interpolation: str = "bilinear",
    mean: list[float] | None = None,
    std: list[float] | None = None,
    test_dir: str | None = None,
    stats_samples: int = 2000,
) -> DatasetBundle:
    """A class-per-folder tree under ``root`` (``train/`` and ``test/`` or ``val/``) as 3×size×size inputs.

    ``download`` is accepted for a uniform interface; there is nothing to download.
    """
    size = check_int("imagefolder option 'size'", size, minimum=1)
    augment = check_bool("imagefolder option 'augment'", augment)
    interpolation = check_choice("imagefolder option 'interpolation'", interpolation, INTERPOLATIONS)
    stats_samples = check_int("imagefolder option 'stats_samples'", stats_samples, minimum=1)
    if test_dir is not None:
        test_dir = check_choice("imagefolder option 'test_dir'", test_dir, TEST_DIRS)

    train_root = root / "train"
    test_candidates = [test_dir] if test_dir is not None else list(TEST_DIRS)
    test_root = next((root / d for d in test_candidates if (root / d).is_dir()), None)
    if not train_root.is_dir() or test_root is None:
        looked = [train_root] + [root / d for d in test_candidates]
        raise DatasetNotFoundError(
            f"image folder dataset not found: looked for {', '.join(str(p.resolve()) for p in looked)} "
            f"(need train/ and {' or '.join(d + '/' for d in test_candidates)}, each with one folder "
            f"of images per class). Nothing can be downloaded for 'imagefolder' (download: true does not "
            f"apply); create the tree or point `root` / ${DATA_ENV} at it."
        )
    mean_t = (
        check_channel_stats("imagefolder option 'mean'", mean, 3, positive=False)
        if mean is not None
        else None
    )
    std_t = (
        check_channel_stats("imagefolder option 'std'", std, 3, positive=True) if std is not None else None
    )
    from torchvision.datasets import ImageFolder

    try:
        train = ImageFolder(train_root)
    except FileNotFoundError as err:
        raise DatasetNotFoundError(f"no usable images in {train_root.resolve()}: {err}") from err
    if mean_t is None or std_t is None:
        stats_mean, stats_std = channel_stats(train, size, interpolation, stats_samples)
        mean_t = mean_t or stats_mean
        std_t = std_t or stats_std

    train_tf, test_tf = vision_transforms(
        size, mean_t, std_t, augment=augment, resize=True, interpolation=interpolation
    )
    train.transform = train_tf  # set after the statistics pass, which must see un-augmented images
    test = _class_mapped_image_folder()(test_root, train.class_to_idx, transform=test_tf)
    return DatasetBundle(
        name="imagefolder",
        train=train,
        test=test,
        input_shape=(3, size, size),
        num_classes=len(train.classes),
        mean=mean_t,
        std=std_t,
        classes=list(train.classes),
        options={
            "size": size,
            "augment": augment,
            "interpolation": interpolation,
            "test_dir": test_root.name,
        },
    )
