"""torchvision transform pipelines shared by the image data sets (CIFAR, Tiny-ImageNet, ImageFolder).

Train: [Resize] → RandomCrop(size, padding=size // 8) → RandomHorizontalFlip → ToTensor → Normalize; the
padding is 4 for 32×32 inputs, the standard CIFAR recipe (METHOD §5.1). Test: [Resize] → ToTensor →
Normalize, never random. torchvision's random transforms draw from torch's global RNG, so the training
stage's seeding (and DataLoader worker seeding) makes augmentation reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence

from torchvision import transforms as T

INTERPOLATIONS = {
    "box": T.InterpolationMode.BOX,
    "bilinear": T.InterpolationMode.BILINEAR,
    "bicubic": T.InterpolationMode.BICUBIC,
    "nearest": T.InterpolationMode.NEAREST,
    "lanczos": T.InterpolationMode.LANCZOS,
    "hamming": T.InterpolationMode.HAMMING,
}


def vision_transforms(
    size: int,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    augment: bool,
    resize: bool,
    interpolation: str = "bilinear",
) -> tuple[T.Compose, T.Compose]:
    """(train, test) transforms for PIL images; ``resize`` forces every image to ``size``×``size`` first."""
    head = [T.Resize((size, size), interpolation=INTERPOLATIONS[interpolation])] if resize else []
    tail = [T.ToTensor(), T.Normalize(list(mean), list(std))]
    train = (
        head + ([T.RandomCrop(size, padding=size // 8), T.RandomHorizontalFlip()] if augment else []) + tail
    )
    return T.Compose(train), T.Compose(head + tail)
