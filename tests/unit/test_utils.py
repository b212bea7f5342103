"""Atomic writes and checksums."""

import os
import stat

import pytest
import torch

from snntopo.utils import atomic_path, tensors_checksum, write_json


def test_atomic_path_moves_into_place_only_on_success(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []  # no temp file left behind
    write_json(target, {"a": 1})
    assert target.read_text() == '{\n  "a": 1\n}\n'


def test_atomic_outputs_get_umask_permissions_not_0600(tmp_path):
    old = os.umask(0o022)
    try:
        write_json(tmp_path / "x.json", {})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "x.json").stat().st_mode) == 0o644


def test_checksum_sees_values_names_and_dtypes():
    a = {"w": torch.zeros(3)}
    assert tensors_checksum(a) == tensors_checksum({"w": torch.zeros(3)})
    assert tensors_checksum(a) != tensors_checksum({"w": torch.tensor([0.0, 0.0, 1e-9])})
    assert tensors_checksum(a) != tensors_checksum({"v": torch.zeros(3)})
    assert tensors_checksum(a) != tensors_checksum({"w": torch.zeros(3, dtype=torch.float64)})
