"""``cifar10`` and ``cifar100`` through torchvision, from a local ``root`` or downloaded when allowed.

On disk (the official "python version"): ``root/cifar-10-batches-py/{data_batch_1..5, test_batch,
batches.meta}`` and ``root/cifar-100-python/{train, test, meta}``.

Checksums. torchvision's ``CIFAR10._check_integrity`` runs ``check_integrity(path, md5)`` on every file of
``train_list + test_list`` (and ``_load_meta`` on the meta file), i.e. it computes each file's MD5 and
compares it with the official release's; any copy that is not byte-identical is reported as "not found
or corrupted". That is right for a fresh download, but it rejects legitimate local copies (re-pickled by
another Python, a class-balanced subset for quick runs, the small trees the tests write in the official
format). ``verify_checksums: false`` therefore loads through ``LocalCIFAR10``/``LocalCIFAR100``, which set
the expected MD5s to ``None``: torchvision's ``check_integrity(path, None)`` then only requires the file
to exist, and the files are still parsed by torchvision's own reader. Downloads are still verified
(the archive's MD5 is checked by ``download_and_extract_archive``).

Normalisation constants are those of the MGE study's code (``utils/datasets.py``, docs/method/training.md),
so that
re-runs feed the networks the same inputs: CIFAR-10 uses the widespread (0.2023, 0.1994, 0.2010) "std",
which is not the population std of CIFAR-10 (≈ 0.247, 0.243, 0.261) but is what the study trained with.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from snntopo.data.base import DATA_ENV, DatasetBundle, check_bool
from snntopo.data.registry import register_dataset
from snntopo.data.transforms import vision_transforms
from snntopo.errors import DatasetNotFoundError

if TYPE_CHECKING:
    from torchvision.datasets import CIFAR10

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2023, 0.1994, 0.2010)
CIFAR100_MEAN = (0.5071, 0.4867, 0.4408)
CIFAR100_STD = (0.2675, 0.2565, 0.2761)


def _without_md5(files: list[list[Any]]) -> list[list[Any]]:
    return [[name, None] for name, _md5 in files]


@functools.cache
def _cifar_classes(name: str) -> tuple[type[CIFAR10], type[CIFAR10]]:
    """torchvision's class for ``name`` and a subclass that accepts any copy in the official format
    (existence check, no MD5). Imported on first use: torchvision's import costs ~2 s of CPU, which
    every job of a digits sweep would otherwise pay."""
    from torchvision.datasets import CIFAR10, CIFAR100

    verified = {"cifar10": CIFAR10, "cifar100": CIFAR100}[name]

    class Local(verified):  # type: ignore[misc, valid-type]
        train_list = _without_md5(verified.train_list)
        test_list = _without_md5(verified.test_list)
        meta: ClassVar[dict[str, Any]] = {**verified.meta, "md5": None}

    Local.__name__ = Local.__qualname__ = f"Local{verified.__name__}"
    return verified, Local


_LOCAL_CLASSES = {"LocalCIFAR10": "cifar10", "LocalCIFAR100": "cifar100"}


def __getattr__(name: str) -> Any:
    """``LocalCIFAR10`` / ``LocalCIFAR100`` as module attributes (PEP 562), created on first access, so
    that pickle finds them by name: DataLoader workers started with ``spawn`` unpickle the data set."""
    if name in _LOCAL_CLASSES:
        return _cifar_classes(_LOCAL_CLASSES[name])[1]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _not_found_message(label: str, cls: type[CIFAR10], root: Path, download: bool) -> str:
    """Say where we looked, what is missing (or that checksums differ) and how to get the data."""
    base = root / cls.base_folder
    expected = [name for name, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]]
    missing = [name for name in expected if not (base / name).is_file()]
    if missing:
        how = (
            f"the download into {root} did not produce them"
            if download
            else "set `download: true` in the dataset config (download=True) to fetch it"
        )
        return (
            f"{label} not found: looked in {base.resolve()} (missing: {', '.join(missing)}). "
            f"To get it, {how}, "
            f"or download {cls.url} yourself and extract it into {root.resolve()} so that {base.name}/ holds "
            f"the python version's files; a different location can be given as `root` or with ${DATA_ENV}."
        )
    return (
        f"{label} files are present in {base.resolve()} but do not match the MD5 checksums of the official "
        f"release (corrupted or modified copy). Delete them and re-download (`download: true`), or set "
        f"`verify_checksums: false` to use this local copy as it is."
    )


def _load_cifar(
    label: str,
    name: str,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    root: Path,
    download: bool,
    augment: bool,
    verify_checksums: bool,
) -> DatasetBundle:
    augment = check_bool(f"{name} option 'augment'", augment)
    verify_checksums = check_bool(f"{name} option 'verify_checksums'", verify_checksums)
    verified, local = _cifar_classes(name)
    cls = verified if verify_checksums else local
    train_tf, test_tf = vision_transforms(32, mean, std, augment=augment, resize=False)
    try:
        train = cls(root, train=True, transform=train_tf, download=download)
        test = cls(root, train=False, transform=test_tf, download=False)
    except RuntimeError as err:  # torchvision's "Dataset not found or corrupted"
        raise DatasetNotFoundError(_not_found_message(label, verified, root, download)) from err
    except OSError as err:  # no network, DNS, HTTP errors while downloading
        if not download:
            raise
        raise DatasetNotFoundError(
            f"could not download {label} from {verified.url} into {root.resolve()}: {err}. Without network, "
            f"download the archive elsewhere and extract it there so that {verified.base_folder}/ holds the "
            f"python version's files."
        ) from err
    return DatasetBundle(
        name=name,
        train=train,
        test=test,
        input_shape=(3, 32, 32),
        num_classes=len(train.classes),
        mean=mean,
        std=std,
        classes=list(train.classes),
        options={"augment": augment, "verify_checksums": verify_checksums},
    )


@register_dataset("cifar10")
def load_cifar10(
    root: Path, download: bool, *, augment: bool = True, verify_checksums: bool = True
) -> DatasetBundle:
    """CIFAR-10 (50,000 train / 10,000 test 32×32 RGB images, 10 classes), ``root/cifar-10-batches-py``."""
    return _load_cifar(
        "CIFAR-10",
        "cifar10",
        CIFAR10_MEAN,
        CIFAR10_STD,
        root,
        download,
        augment,
        verify_checksums,
    )


@register_dataset("cifar100")
def load_cifar100(
    root: Path, download: bool, *, augment: bool = True, verify_checksums: bool = True
) -> DatasetBundle:
    """CIFAR-100 (50,000 train / 10,000 test 32×32 RGB images, 100 fine classes), ``root/cifar-100-python``.

    The test transform never augments, unlike the MGE study's code, whose CIFAR-100 *test* transform
    also applied random crop + flip (docs/method/training.md, a quirk not reproduced).
    """
    return _load_cifar(
        "CIFAR-100",
        "cifar100",
        CIFAR100_MEAN,
        CIFAR100_STD,
        root,
        download,
        augment,
        verify_checksums,
    )
