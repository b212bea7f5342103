"""The prune rule's memory request: 1.25 × the measured peak, rounded up to 500 MiB, never below 4,000."""

from __future__ import annotations

import subprocess
import sys

import pytest

from snntopo.prune_budget import prune_mem_mb


@pytest.mark.parametrize(
    ("pruner", "model", "dataset", "expected"),
    [
        ("snip", "resnet20", "cifar10", 4000),  # not measured: the floor
        ("grasp", "resnet20", "cifar10", 4000),  # 1.25 × 1,299 = 1,624 < floor
        ("grasp", "resnet20", "cifar100", 7000),  # 1.25 × (1,299 + 45.5 × 90) = 6,742.5 → 7,000
        ("prospr", "resnet20", "cifar10", 4500),  # 1.25 × 3,316 = 4,145 → 4,500
        ("prospr", "wrn28_2", "cifar10", 7000),  # 1.25 × 5,261 = 6,576 → 7,000
        ("grasp", "conv6", "tinyimagenet", 30000),  # WRN figures: 1.25 × (2,430 + 113.4 × 190) = 29,970
    ],
)
def test_request_by_hand(pruner, model, dataset, expected):
    assert prune_mem_mb(pruner, model, dataset) == expected


def test_importing_it_loads_no_torch():
    """The main Snakemake process calls it for every prune job: it must stay torch-free."""
    code = "import sys, snntopo.prune_budget; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
