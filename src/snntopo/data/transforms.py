"""torchvision transform pipelines shared by the image data sets (CIFAR, Tiny-ImageNet, ImageFolder).

Train: [Resize] → RandomCrop(size, padding=size // 8) → RandomHorizontalFlip → ToTensor → Normalize; the
padding is 4 for 32×32 inputs, the standard CIFAR recipe (docs/method/training.md). Test: [Resize] → ToTensor
→
Normalize, never random. torchvision's random transforms draw from torch's global RNG, so the training
stage's seeding (and DataLoader worker seeding) makes augmentation reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torchvision import transforms as T

# Names of torchvision's InterpolationMode members accepted as options. torchvision itself is imported
# only when transforms are built: its import costs ~2 s of CPU, which every job of a digits sweep would
# otherwise pay.
INTERPOLATIONS = ("box", "bilinear", "bicubic", "nearest", "lanczos", "hamming")


def interpolation_mode(name: str) -> Any:
    """torchvision's ``InterpolationMode`` member called ``name`` (one of :data:`INTERPOLATIONS`)."""
    from torchvision.transforms import InterpolationMode

    return InterpolationMode[name.upper()]


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
    from torchvision import transforms as T

    head = [T.Resize((size, size), interpolation=interpolation_mode(interpolation))] if resize else []
    tail = [T.ToTensor(), T.Normalize(list(mean), list(std))]
    train = (
        head + ([T.RandomCrop(size, padding=size // 8), T.RandomHorizontalFlip()] if augment else []) + tail
    )
    return T.Compose(train), T.Compose(head + tail)
