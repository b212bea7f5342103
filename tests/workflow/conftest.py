"""Fixtures for real Snakemake runs on a temporary copy of the workflow."""

from pathlib import Path

import pytest
from workflow_helpers import Workflow


@pytest.fixture
def workflow(tmp_path: Path) -> Workflow:
    return Workflow(tmp_path / "wf")
