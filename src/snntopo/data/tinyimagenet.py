"""``tinyimagenet``: Tiny-ImageNet-200 in its official folder layout, resized to 32×32 as in the MGE study.

Layout (as extracted from ``tiny-imagenet-200.zip``)::

    root/tiny-imagenet-200/wnids.txt                      200 WordNet ids, one per line
    root/tiny-imagenet-200/train/<wnid>/images/*.JPEG     500 per class
    root/tiny-imagenet-200/val/images/*.JPEG              10,000 images
    root/tiny-imagenet-200/val/val_annotations.txt        <file>\\t<wnid>\\t<x0>\\t<y0>\\t<x1>\\t<y1>

Labels are the positions of the wnids in sorted order (what ``ImageFolder`` on ``train/`` gives, as in the
study); validation labels come from ``val_annotations.txt``, and the validation split is the test set
(the official test split has no labels). Images are 64×64 and resized with BOX interpolation
(docs/method/training.md).
torchvision has no Tiny-ImageNet class and nothing is downloaded: a missing copy raises an error that
says where to get it.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from torch.utils.data import Dataset

from snntopo.data.base import DATA_ENV, DatasetBundle, check_bool, check_int
from snntopo.data.registry import register_dataset
from snntopo.data.transforms import vision_transforms
from snntopo.errors import DatasetNotFoundError

FOLDER = "tiny-imagenet-200"
URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
# Constants of the MGE study's code (tinyimagenet/tiny_imagenet.py), for identical inputs on re-runs.
TINY_MEAN = (0.48024578664982126, 0.44807218089384643, 0.3975477478649648)
TINY_STD = (0.2769864069088257, 0.26906448510256, 0.282081906210584)


class TinyImageNet(Dataset):
    """One split of Tiny-ImageNet as a list of (path, label); images are decoded (as RGB) per item.

    A few Tiny-ImageNet images are greyscale JPEGs, hence the RGB conversion.
    """

    def __init__(self, base: Path, split: str, transform=None):
        if split not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', not {split!r}")
        self.base = Path(base)
        self.split = split
        self.transform = transform
        self.classes = read_wnids(self.base)
        self.class_to_idx = {wnid: i for i, wnid in enumerate(self.classes)}
        self.samples = self._train_samples() if split == "train" else self._val_samples()
        self.targets = [label for _, label in self.samples]

    def _train_samples(self) -> list[tuple[Path, int]]:
        train = self.base / "train"
        samples: list[tuple[Path, int]] = []
        empty = []
        for wnid, label in self.class_to_idx.items():
            files = sorted((train / wnid / "images").glob("*.JPEG"))
            if not files:
                empty.append(wnid)
            samples.extend((f, label) for f in files)
        if empty:
            raise DatasetNotFoundError(
                f"Tiny-ImageNet train split incomplete: no {train}/<wnid>/images/*.JPEG for {len(empty)} "
                f"of the {len(self.classes)} classes in wnids.txt (e.g. {', '.join(empty[:5])}). "
                f"Re-extract {URL}."
            )
        return samples

    def _val_samples(self) -> list[tuple[Path, int]]:
        ann = self.base / "val" / "val_annotations.txt"
        images = self.base / "val" / "images"
        if not ann.is_file() or not images.is_dir():
            raise DatasetNotFoundError(
                f"Tiny-ImageNet validation split not found: looked for {ann} and {images}/ (official layout, "
                f"not re-sorted into class folders). Re-extract {URL}."
            )
        samples = []
        for lineno, line in enumerate(ann.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) < 2 or fields[1] not in self.class_to_idx:
                raise DatasetNotFoundError(
                    f"{ann}:{lineno}: expected '<file>\\t<wnid>\\t...' with a wnid listed in wnids.txt, "
                    f"got {line!r}"
                )
            samples.append((images / fields[0], self.class_to_idx[fields[1]]))
        samples.sort(key=lambda s: s[0].name)  # file order, independent of the annotation file's order
        present = {p.name for p in images.iterdir()}
        missing = [p.name for p, _ in samples if p.name not in present]
        if missing:
            raise DatasetNotFoundError(
                f"{len(missing)} validation images listed in {ann} are missing from {images} "
                f"(e.g. {', '.join(missing[:5])}). Re-extract {URL}."
            )
        return samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        path, label = self.samples[index]
        with Image.open(path) as img:
            x = img.convert("RGB")
        if self.transform is not None:
            x = self.transform(x)
        return x, label


def read_wnids(base: Path) -> list[str]:
    """Sorted WordNet ids from ``base/wnids.txt`` (label i = i-th id in sorted order)."""
    wnids = sorted({line.strip() for line in (base / "wnids.txt").read_text().splitlines() if line.strip()})
    if not wnids:
        raise DatasetNotFoundError(f"{base / 'wnids.txt'} lists no class")
    return wnids


def find_tinyimagenet(root: Path) -> Path:
    """``root/tiny-imagenet-200`` (or ``root`` itself if it is that folder), else DatasetNotFoundError."""
    for base in (root / FOLDER, root):
        if (base / "wnids.txt").is_file():
            return base
    raise DatasetNotFoundError(
        f"Tiny-ImageNet not found: looked for {(root / FOLDER / 'wnids.txt').resolve()}. torchvision cannot "
        f"download it (download: true does not help); download {URL} and unzip it into {root.resolve()} "
        f"(giving {FOLDER}/ with wnids.txt, train/, val/), or point `root` / ${DATA_ENV} at its parent."
    )


@register_dataset("tinyimagenet")
def load_tinyimagenet(root: Path, download: bool, *, size: int = 32, augment: bool = True) -> DatasetBundle:
    """Tiny-ImageNet-200: 100,000 train / 10,000 val (used as test) images, 200 classes, resized to ``size``.

    ``download`` is accepted for a uniform interface but cannot be honoured: Tiny-ImageNet is not on
    torchvision, so a missing copy always raises DatasetNotFoundError with the address to get it from.
    """
    size = check_int("tinyimagenet option 'size'", size, minimum=8)
    augment = check_bool("tinyimagenet option 'augment'", augment)
    base = find_tinyimagenet(root)
    train_tf, test_tf = vision_transforms(
        size, TINY_MEAN, TINY_STD, augment=augment, resize=True, interpolation="box"
    )
    train = TinyImageNet(base, "train", transform=train_tf)
    test = TinyImageNet(base, "val", transform=test_tf)
    return DatasetBundle(
        name="tinyimagenet",
        train=train,
        test=test,
        input_shape=(3, size, size),
        num_classes=len(train.classes),
        mean=TINY_MEAN,
        std=TINY_STD,
        classes=list(train.classes),
        options={"size": size, "augment": augment},
    )
