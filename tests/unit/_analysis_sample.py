"""Where the shared sample of the published MGE tables lives (tests skip if it is absent)."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_CANDIDATES = [
    os.environ.get("SNNTOPO_MGE_SAMPLE", ""),
    ROOT / "shared/data/mge-released-sample",
    ROOT.parent / "shared/data/mge-released-sample",
    ROOT.parent.parent / "shared/data/mge-released-sample",
]


def sample_dir() -> Path:
    for cand in _CANDIDATES:
        if cand and (Path(cand) / "unrolled-sample.csv").is_file():
            return Path(cand)
    pytest.skip("shared sample of the published MGE tables not found (set SNNTOPO_MGE_SAMPLE)")
