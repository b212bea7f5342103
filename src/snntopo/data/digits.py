"""``digits``: scikit-learn's 8×8 handwritten digits (1,797 images, 10 classes), the offline default.

The images ship inside scikit-learn, so this data set needs no network and no ``root``. Pixel values
0..16 are scaled to [0, 1], optionally upsampled once (bilinear, vectorised) to 16×16 or 32×32, split
with a stratified, seeded ``train_test_split`` and normalised with the train split's mean/std. Both
splits are held as tensors (``InMemoryDataset``) because the whole set is < 8 MB even at 32×32.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from snntopo.data.base import DatasetBundle, InMemoryDataset, TensorRandomCrop, check_bool, check_int
from snntopo.data.registry import register_dataset
from snntopo.errors import InvalidValueError

DIGITS_SIZES = (8, 16, 32)
NUM_CLASSES = 10


@register_dataset("digits")
def load_digits_dataset(
    root: Path,
    download: bool,
    *,
    size: int = 8,
    test_fraction: float = 0.2,
    split_seed: int = 0,
    augment: bool = False,
) -> DatasetBundle:
    """Load the scikit-learn digits as a ``DatasetBundle`` with input shape (1, size, size).

    ``root`` and ``download`` are ignored (the data ship with scikit-learn). ``augment`` adds a random
    crop with padding ``size // 8`` to the train split; never a flip, which would turn digits into
    other glyphs.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    size = check_int("digits option 'size'", size, choices=DIGITS_SIZES)
    split_seed = check_int("digits option 'split_seed'", split_seed, minimum=0)
    augment = check_bool("digits option 'augment'", augment)

    raw = load_digits()
    n = len(raw.target)
    # Both splits must hold every class for a stratified split (sklearn rounds the test size up).
    fraction = math.nan
    if not isinstance(test_fraction, bool):
        with contextlib.suppress(TypeError, ValueError):
            fraction = float(test_fraction)
    n_test = math.ceil(fraction * n) if 0.0 < fraction < 1.0 else 0
    if n_test < NUM_CLASSES or n - n_test < NUM_CLASSES:
        lo, hi = NUM_CLASSES / n, 1 - NUM_CLASSES / n
        raise InvalidValueError(
            "digits option 'test_fraction'",
            test_fraction,
            f"a number in [{lo:.4f}, {hi:.4f}] (>= 10 images per split)",
        )
    test_fraction = fraction

    images = torch.from_numpy(raw.images.astype(np.float32) / 16.0).unsqueeze(1)  # (N, 1, 8, 8) in [0, 1]
    if size != 8:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    targets = torch.from_numpy(raw.target.astype(np.int64))

    train_idx, test_idx = train_test_split(
        np.arange(n), test_size=test_fraction, stratify=raw.target, random_state=split_seed, shuffle=True
    )
    # Canonical (sorted) order: the split is defined by the seed, not by sklearn's internal permutation.
    train_idx = torch.from_numpy(np.sort(train_idx))
    test_idx = torch.from_numpy(np.sort(test_idx))

    # Population statistics of the train pixels (float64 to avoid summation error), one channel.
    train_pixels = images[train_idx].to(torch.float64)
    mean = float(train_pixels.mean())
    std = float(train_pixels.std(unbiased=False))
    normalised = (images - mean) / std

    transform = None
    if augment:
        # Padding with the normalised value of a blank (0) pixel, i.e. background.
        transform = TensorRandomCrop(padding=size // 8, fill=[(0.0 - mean) / std], flip=False)

    train = InMemoryDataset(normalised[train_idx], targets[train_idx], transform=transform, indices=train_idx)
    test = InMemoryDataset(normalised[test_idx], targets[test_idx], transform=None, indices=test_idx)
    return DatasetBundle(
        name="digits",
        train=train,
        test=test,
        input_shape=(1, size, size),
        num_classes=NUM_CLASSES,
        mean=(mean,),
        std=(std,),
        classes=[str(i) for i in range(NUM_CLASSES)],
        options={"size": size, "test_fraction": test_fraction, "split_seed": split_seed, "augment": augment},
    )
