"""Tests of snntopo.data: real torchvision readers on small trees written here in the official formats."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from sklearn.datasets import load_digits
from torch.utils.data import DataLoader

from snntopo.data import (
    DATASETS,
    InMemoryDataset,
    TensorRandomCrop,
    dataset_options,
    load_dataset,
    split_checksum,
)
from snntopo.data.cifar import CIFAR10_MEAN, CIFAR10_STD, CIFAR100_MEAN, CIFAR100_STD
from snntopo.data.tinyimagenet import TINY_MEAN, TINY_STD
from snntopo.errors import DatasetNotFoundError, InvalidValueError, UnknownNameError

# ---------------------------------------------------------------- helpers writing official on-disk formats


def _pickle(path: Path, obj: dict) -> None:
    # The official files are Python-2 pickles with str keys; torchvision reads them with encoding="latin1".
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def write_fake_cifar10(root: Path, per_batch: int = 4, n_test: int = 6, seed: int = 0) -> dict:
    """cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}; rows are R|G|B planes, row-major."""
    rng = np.random.default_rng(seed)
    base = root / "cifar-10-batches-py"
    base.mkdir(parents=True)
    train_data, train_labels = [], []
    for b in range(1, 6):
        data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=per_batch)]
        _pickle(
            base / f"data_batch_{b}",
            {
                "batch_label": f"training batch {b} of 5",
                "labels": labels,
                "data": data,
                "filenames": [f"img_{b}_{i}.png" for i in range(per_batch)],
            },
        )
        train_data.append(data)
        train_labels += labels
    test_data = rng.integers(0, 256, size=(n_test, 3072), dtype=np.uint8)
    test_labels = [int(v) for v in rng.integers(0, 10, size=n_test)]
    _pickle(
        base / "test_batch",
        {
            "batch_label": "testing batch 1 of 1",
            "labels": test_labels,
            "data": test_data,
            "filenames": [f"t{i}.png" for i in range(n_test)],
        },
    )
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    _pickle(base / "batches.meta", {"num_cases_per_batch": per_batch, "label_names": names, "num_vis": 3072})
    return {
        "train_data": np.vstack(train_data),
        "train_labels": train_labels,
        "test_data": test_data,
        "test_labels": test_labels,
        "names": names,
    }


def write_fake_cifar100(root: Path, n_train: int = 12, n_test: int = 5, seed: int = 1) -> dict:
    """cifar-100-python/{train, test, meta} with fine and coarse labels."""
    rng = np.random.default_rng(seed)
    base = root / "cifar-100-python"
    base.mkdir(parents=True)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        fine = [int(v) for v in rng.integers(0, 100, size=n)]
        coarse = [f // 5 for f in fine]  # deliberately different from fine: the loader must use fine labels
        _pickle(
            base / split,
            {
                "filenames": [f"{split}{i}.png" for i in range(n)],
                "batch_label": split,
                "fine_labels": fine,
                "coarse_labels": coarse,
                "data": data,
            },
        )
        out[split] = (data, fine)
    fine_names = [f"fine{i:02d}" for i in range(100)]
    _pickle(
        base / "meta", {"fine_label_names": fine_names, "coarse_label_names": [f"c{i}" for i in range(20)]}
    )
    out["names"] = fine_names
    return out


TINY_WNIDS = ["n03444034", "n01443537", "n02124075"]  # deliberately unsorted in wnids.txt
TINY_COLOURS = {"n01443537": (230, 20, 20), "n02124075": (20, 230, 20), "n03444034": (20, 20, 230)}


def write_fake_tiny(root: Path) -> list[tuple[str, str]]:
    """tiny-imagenet-200/{wnids.txt, train/<wnid>/images/*.JPEG, val/images/*.JPEG, val/val_annotations.txt}.

    Each class's images are a solid colour, so an item's pixels tell which label it must carry.
    """
    base = root / "tiny-imagenet-200"
    (base / "val" / "images").mkdir(parents=True)
    (base / "wnids.txt").write_text("\n".join(TINY_WNIDS) + "\n")
    for wnid in TINY_WNIDS:
        images = base / "train" / wnid / "images"
        images.mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (64, 64), TINY_COLOURS[wnid]).save(images / f"{wnid}_{i}.JPEG", quality=95)
        (base / "train" / wnid / f"{wnid}_boxes.txt").write_text(f"{wnid}_0.JPEG\t0\t0\t63\t63\n")
    val = [
        ("val_0.JPEG", "n02124075"),
        ("val_1.JPEG", "n03444034"),
        ("val_2.JPEG", "n01443537"),
        ("val_3.JPEG", "n02124075"),
    ]
    lines = []
    for name, wnid in reversed(val):  # annotation order differs from file order
        Image.new("RGB", (64, 64), TINY_COLOURS[wnid]).save(base / "val" / "images" / name, quality=95)
        lines.append(f"{name}\t{wnid}\t0\t0\t63\t63")
    (base / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    return val


# ---------------------------------------------------------------- digits


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def raw_digits():
    d = load_digits()
    return d.images.astype(np.float32) / 16.0, d.target


def test_digits_shapes_and_sizes(digits):
    assert digits.input_shape == (1, 8, 8) and digits.num_classes == 10
    assert len(digits.train) + len(digits.test) == 1797
    assert len(digits.test) == 360  # ceil(0.2 * 1797)
    x, y = digits.train[0]
    assert x.shape == (1, 8, 8) and x.dtype == torch.float32 and isinstance(y, int)
    for size in (16, 32):
        b = load_dataset("digits", size=size)
        assert b.input_shape == (1, size, size)
        assert b.train[0][0].shape == (1, size, size) and b.test[5][0].shape == (1, size, size)


def test_digits_partition_and_stratification(digits, raw_digits):
    _, target = raw_digits
    tr, te = digits.train.indices, digits.test.indices
    assert len(set(tr.tolist()) | set(te.tolist())) == 1797 and not set(tr.tolist()) & set(te.tolist())
    assert torch.equal(digits.test.targets, torch.from_numpy(target[te.numpy()]))
    totals = np.bincount(target, minlength=10)
    test_counts = np.bincount(target[te.numpy()], minlength=10)
    # stratified: each class's test share is 20 % of that class up to rounding
    assert np.all(np.abs(test_counts - 0.2 * totals) <= 1)


def test_digits_split_determinism(digits):
    same = load_dataset("digits", split_seed=0)
    other = load_dataset("digits", split_seed=1)
    assert torch.equal(same.test.indices, digits.test.indices)
    assert torch.equal(same.train.indices, digits.train.indices)
    assert torch.equal(same.test.images, digits.test.images)
    assert not torch.equal(other.test.indices, digits.test.indices)
    assert len(other.test) == len(digits.test)


def test_digits_normalisation_against_raw_data(digits, raw_digits):
    images, _ = raw_digits
    train = digits.train.images.double()
    assert abs(train.mean().item()) < 1e-6 and abs(train.std(unbiased=False).item() - 1) < 1e-6
    (mean,), (std,) = digits.mean, digits.std
    # independent oracle: the train pixels' own statistics, and the raw sklearn values for the test split
    raw_train = images[digits.train.indices.numpy()].astype(np.float64)
    assert mean == pytest.approx(raw_train.mean(), abs=1e-9) and std == pytest.approx(
        raw_train.std(), abs=1e-9
    )
    expected = (images[digits.test.indices.numpy()] - mean) / std
    np.testing.assert_allclose(digits.test.images[:, 0].numpy(), expected, atol=1e-5)


def test_digits_bilinear_upsampling_by_hand(raw_digits):
    images, _ = raw_digits
    b = load_dataset("digits", size=16)
    raw = b.test.images[:, 0].double() * b.std[0] + b.mean[0]  # undo normalisation → [0, 1] upsampled pixels
    src = torch.from_numpy(images[b.test.indices.numpy()]).double()
    # align_corners=False, factor 2: output 0 samples source -0.25 (clamped to 0), output 1 samples 0.25
    torch.testing.assert_close(raw[:, 0, 0], src[:, 0, 0])
    torch.testing.assert_close(raw[:, 0, 1], 0.75 * src[:, 0, 0] + 0.25 * src[:, 0, 1], atol=1e-6, rtol=0)
    torch.testing.assert_close(
        raw[:, 1, 1],
        0.5625 * src[:, 0, 0] + 0.1875 * (src[:, 0, 1] + src[:, 1, 0]) + 0.0625 * src[:, 1, 1],
        atol=1e-6,
        rtol=0,
    )
    assert raw.min() >= -1e-6 and raw.max() <= 1 + 1e-6


def test_digits_augmentation_off_by_default_and_reproducible(digits):
    assert torch.equal(digits.train[3][0], digits.train[3][0])
    b = load_dataset("digits", augment=True)
    draws = [b.train[3][0] for _ in range(20)]
    assert all(d.shape == (1, 8, 8) for d in draws)
    assert any(not torch.equal(d, draws[0]) for d in draws)
    torch.manual_seed(123)
    first = [b.train[i][0] for i in range(10)]
    torch.manual_seed(123)
    again = [b.train[i][0] for i in range(10)]
    assert all(torch.equal(u, v) for u, v in zip(first, again, strict=True))
    assert torch.equal(b.test[3][0], b.test[3][0])  # test split never augments


def test_tensor_random_crop_matches_padded_window():
    x = torch.arange(2 * 3 * 4, dtype=torch.float32).view(2, 3, 4)
    crop = TensorRandomCrop(padding=1, fill=[-1.0, -2.0])
    torch.manual_seed(7)
    i, j = torch.randint(0, 3, (2,)).tolist()
    torch.manual_seed(7)
    out = crop(x)
    padded = torch.stack([F.pad(x[0], (1, 1, 1, 1), value=-1.0), F.pad(x[1], (1, 1, 1, 1), value=-2.0)])
    assert torch.equal(out, padded[:, i : i + 3, j : j + 4])
    flipper = TensorRandomCrop(padding=0, fill=[0.0, 0.0], flip=True)
    outs = {bool(torch.equal(flipper(x), x.flip(-1))) for _ in range(30)}
    assert outs == {True, False}


def test_info_and_checksum(digits):
    info = digits.info()
    assert info["train_size"] + info["test_size"] == 1797
    assert sum(info["test_class_counts"]) == info["test_size"] and len(info["train_class_counts"]) == 10
    assert info["input_shape"] == [1, 8, 8]
    assert info["test_checksum"] == load_dataset("digits").info()["test_checksum"]
    assert info["test_checksum"] != load_dataset("digits", split_seed=1).info()["test_checksum"]
    # the fast tensor path and the generic item-by-item path hash the same byte stream
    slow = InMemoryDataset(digits.test.images, digits.test.targets, transform=lambda t: t)
    assert split_checksum(slow) == info["test_checksum"]


# ---------------------------------------------------------------- CIFAR


def _expected_cifar(row: np.ndarray, mean, std) -> torch.Tensor:
    img = torch.from_numpy(row.reshape(3, 32, 32).astype(np.float32) / 255.0)
    return (img - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)


def test_cifar10_official_format(tmp_path):
    fake = write_fake_cifar10(tmp_path)
    b = load_dataset("cifar10", root=tmp_path, verify_checksums=False)
    assert b.input_shape == (3, 32, 32) and b.num_classes == 10 and b.classes == fake["names"]
    assert len(b.train) == 20 and len(b.test) == 6
    assert (b.mean, b.std) == (CIFAR10_MEAN, CIFAR10_STD)
    for k in range(6):
        x, y = b.test[k]
        assert y == fake["test_labels"][k]
        torch.testing.assert_close(x, _expected_cifar(fake["test_data"][k], CIFAR10_MEAN, CIFAR10_STD))
    assert torch.equal(b.test[2][0], b.test[2][0])
    assert b.train[13][1] == fake["train_labels"][13]
    draws = [b.train[13][0] for _ in range(10)]
    assert all(d.shape == (3, 32, 32) for d in draws) and any(not torch.equal(d, draws[0]) for d in draws)
    info = b.info()
    assert info["test_class_counts"] == np.bincount(fake["test_labels"], minlength=10).tolist()


def test_cifar10_md5_verification_rejects_modified_copy(tmp_path):
    write_fake_cifar10(tmp_path)
    with pytest.raises(DatasetNotFoundError, match="MD5") as err:
        load_dataset("cifar10", root=tmp_path)  # verify_checksums defaults to True
    assert "verify_checksums" in str(err.value)


def test_cifar100_official_format_uses_fine_labels(tmp_path):
    fake = write_fake_cifar100(tmp_path)
    b = load_dataset("cifar100", root=tmp_path, verify_checksums=False, augment=False)
    assert b.input_shape == (3, 32, 32) and b.num_classes == 100 and len(b.train) == 12 and len(b.test) == 5
    data, fine = fake["test"]
    for k in range(5):
        x, y = b.test[k]
        assert y == fine[k]
        torch.testing.assert_close(x, _expected_cifar(data[k], CIFAR100_MEAN, CIFAR100_STD))
    assert torch.equal(b.train[0][0], b.train[0][0])  # augment: false


@pytest.mark.parametrize(
    ("name", "folder"), [("cifar10", "cifar-10-batches-py"), ("cifar100", "cifar-100-python")]
)
def test_cifar_missing_error_says_where_and_how(tmp_path, name, folder):
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset(name, root=tmp_path)
    msg = str(err.value)
    assert str(tmp_path / folder) in msg and "download" in msg


def test_default_root_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SNNTOPO_DATA", str(tmp_path))
    with pytest.raises(DatasetNotFoundError, match=str(tmp_path / "cifar-10-batches-py")):
        load_dataset("cifar10")
    write_fake_cifar10(tmp_path)
    assert len(load_dataset("cifar10", verify_checksums=False).test) == 6


# ---------------------------------------------------------------- Tiny-ImageNet


def _solid(colour, mean, std) -> torch.Tensor:
    return (torch.tensor(colour) / 255.0 - torch.tensor(mean)) / torch.tensor(std)


def test_tinyimagenet_official_layout(tmp_path):
    val = write_fake_tiny(tmp_path)
    b = load_dataset("tinyimagenet", root=tmp_path)
    assert b.input_shape == (3, 32, 32) and b.num_classes == 3
    assert b.classes == sorted(TINY_WNIDS) and len(b.train) == 6 and len(b.test) == 4
    label = {w: i for i, w in enumerate(sorted(TINY_WNIDS))}
    assert b.test.targets == [label[w] for _, w in val]  # from val_annotations.txt, file order
    for k, (_, wnid) in enumerate(val):
        x, y = b.test[k]
        assert x.shape == (3, 32, 32) and y == label[wnid]
        # solid-colour JPEG, BOX-resized: every pixel is the class colour up to JPEG rounding
        expected = _solid(TINY_COLOURS[wnid], TINY_MEAN, TINY_STD).view(3, 1, 1).expand(3, 32, 32)
        torch.testing.assert_close(x, expected, atol=0.05, rtol=0)
        assert torch.equal(x, b.test[k][0])
    for k in range(len(b.train)):
        x, y = b.train[k]
        assert x.shape == (3, 32, 32)
        # augmented (padding shows as black), but the centre pixel is always the class colour
        centre = _solid(TINY_COLOURS[b.classes[y]], TINY_MEAN, TINY_STD)
        torch.testing.assert_close(x[:, 16, 16], centre, atol=0.05, rtol=0)
    assert load_dataset("tinyimagenet", root=tmp_path / "tiny-imagenet-200", size=16).input_shape == (
        3,
        16,
        16,
    )


def test_tinyimagenet_missing_and_broken(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset("tinyimagenet", root=tmp_path, download=True)
    assert str(tmp_path / "tiny-imagenet-200") in str(err.value) and "download" in str(err.value)
    write_fake_tiny(tmp_path)
    (tmp_path / "tiny-imagenet-200" / "val" / "images" / "val_2.JPEG").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"val_2\.JPEG"):
        load_dataset("tinyimagenet", root=tmp_path)


# ---------------------------------------------------------------- ImageFolder


def write_fake_imagefolder(root: Path) -> None:
    colours = {"cat": (255, 0, 0), "dog": (0, 255, 0), "emu": (0, 0, 255)}
    layout = {
        "train": {"cat": [(20, 10), (40, 40)], "dog": [(12, 30)], "emu": [(16, 16)]},
        "test": {"cat": [(33, 17)], "emu": [(8, 8), (50, 20)]},
    }  # test lacks "dog"
    for split, classes in layout.items():
        for cls, sizes in classes.items():
            (root / split / cls).mkdir(parents=True)
            for i, wh in enumerate(sizes):
                Image.new("RGB", wh, colours[cls]).save(root / split / cls / f"{i}.png")
    Image.new("L", (9, 9), 128).save(root / "test" / "cat" / "grey.png")  # greyscale → RGB


def test_imagefolder_labels_stats_and_shapes(tmp_path):
    write_fake_imagefolder(tmp_path)
    b = load_dataset("imagefolder", root=tmp_path, size=16)
    assert b.input_shape == (3, 16, 16) and b.num_classes == 3 and b.classes == ["cat", "dog", "emu"]
    assert len(b.train) == 4 and len(b.test) == 4
    # the test tree has no "dog": "emu" must keep the train index 2
    assert sorted(b.test.targets) == [0, 0, 2, 2]
    # statistics by hand over 4 solid train images (2 red, 1 green, 1 blue)
    np.testing.assert_allclose(b.mean, [0.5, 0.25, 0.25], atol=1e-6)
    np.testing.assert_allclose(b.std, [0.5, np.sqrt(0.25 - 0.0625), np.sqrt(0.25 - 0.0625)], atol=1e-6)
    for k in range(len(b.test)):
        x, _ = b.test[k]
        assert x.shape == (3, 16, 16) and torch.equal(x, b.test[k][0])
    grey = next(k for k, (p, _) in enumerate(b.test.samples) if p.endswith("grey.png"))
    expected = (128 / 255 - torch.tensor(b.mean)) / torch.tensor(b.std)
    torch.testing.assert_close(b.test[grey][0][:, 3, 3], expected.float(), atol=1e-5, rtol=0)
    fixed = load_dataset(
        "imagefolder", root=tmp_path, mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25], augment=False
    )
    assert fixed.input_shape == (3, 32, 32) and fixed.mean == (0.5, 0.5, 0.5)
    red = fixed.train[0][0]
    torch.testing.assert_close(red[:, 0, 0], torch.tensor([2.0, -2.0, -2.0]))
    assert torch.equal(red, fixed.train[0][0])


def test_imagefolder_unknown_test_class_and_missing_tree(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset("imagefolder", root=tmp_path)
    assert str(tmp_path / "train") in str(err.value) and "download" in str(err.value)
    write_fake_imagefolder(tmp_path)
    (tmp_path / "test" / "yak").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "test" / "yak" / "0.png")
    with pytest.raises(InvalidValueError, match="yak"):
        load_dataset("imagefolder", root=tmp_path)


def test_lazily_defined_dataset_classes_unpickle_in_a_fresh_interpreter(tmp_path):
    """DataLoader workers started with ``spawn`` (macOS, Windows) unpickle the data set in a new process,
    where the torchvision subclasses, defined on first use, must still be found by name."""
    write_fake_cifar10(tmp_path / "cifar")
    write_fake_imagefolder(tmp_path / "folder")
    datasets = [
        load_dataset("cifar10", root=tmp_path / "cifar", verify_checksums=False, augment=False).train,
        load_dataset("imagefolder", root=tmp_path / "folder", size=8).test,
    ]
    assert [type(d).__name__ for d in datasets] == ["LocalCIFAR10", "ClassMappedImageFolder"]
    for k, d in enumerate(datasets):
        torch.save(d[1][0], tmp_path / f"x{k}.pt")
    (tmp_path / "datasets.pkl").write_bytes(pickle.dumps(datasets))
    code = (
        "import pickle, sys, torch; from pathlib import Path; p = Path(sys.argv[1]); "
        "ds = pickle.loads((p / 'datasets.pkl').read_bytes()); "
        "assert all(torch.equal(d[1][0], torch.load(p / f'x{k}.pt')) for k, d in enumerate(ds)); "
        "print([type(d).__name__ for d in ds])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "['LocalCIFAR10', 'ClassMappedImageFolder']"


# ---------------------------------------------------------------- registry and option validation


def test_registry_and_unknown_names():
    assert DATASETS.names() == ["cifar10", "cifar100", "digits", "imagefolder", "tinyimagenet"]
    with pytest.raises(UnknownNameError) as err:
        load_dataset("mnist")
    assert "digits" in str(err.value) and "tinyimagenet" in str(err.value)
    with pytest.raises(InvalidValueError) as err:
        load_dataset("digits", sise=16)
    msg = str(err.value)
    assert "sise" in msg and all(k in msg for k in ("size", "test_fraction", "split_seed", "augment"))
    assert dataset_options("digits") == {"size": 8, "test_fraction": 0.2, "split_seed": 0, "augment": False}


@pytest.mark.parametrize(
    ("options", "culprit"),
    [
        ({"size": 12}, "8, 16, 32"),
        ({"size": True}, "8, 16, 32"),
        ({"test_fraction": 0.0}, "test_fraction"),
        ({"test_fraction": 1.5}, "test_fraction"),
        ({"test_fraction": "a"}, "test_fraction"),
        ({"augment": "yes"}, "true or false"),
        ({"split_seed": -1}, "split_seed"),
    ],
)
def test_digits_invalid_values(options, culprit):
    with pytest.raises(InvalidValueError, match=culprit):
        load_dataset("digits", **options)


def test_augmentation_reproducible_under_dataloader_workers():
    b = load_dataset("digits", augment=True)

    def first_batch(seed: int) -> torch.Tensor:
        # DataLoader derives each worker's torch seed from its generator, so one seed fixes every crop
        loader = DataLoader(
            b.train, batch_size=64, shuffle=True, num_workers=2, generator=torch.Generator().manual_seed(seed)
        )
        return next(iter(loader))[0]

    assert torch.equal(first_batch(0), first_batch(0))
    assert not torch.equal(first_batch(0), first_batch(1))
