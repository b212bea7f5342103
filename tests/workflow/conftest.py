"""Helpers for real Snakemake runs on a temporary copy of the workflow."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW_PARTS = ("Snakefile", "rules", "scripts", "config", "profiles", "report", "envs")


class Workflow:
    """A copy of the workflow in a temp dir, with a config written there, run by the venv's snakemake."""

    def __init__(self, path: Path):
        self.path = path

    def write_config(self, config: dict) -> Path:
        """Replace the copy's config/config.yaml: --configfile would merge into it, not replace it."""
        target = self.path / "config/config.yaml"
        target.write_text(yaml.safe_dump(config, sort_keys=False))
        return target

    def run(self, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
        cmd = [str(Path(sys.executable).parent / "snakemake"), "--cores", "1", *args]
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
        proc = subprocess.run(cmd, cwd=self.path, env=env, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            tail = proc.stderr[-6000:]
            raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{tail}")
        return proc

    def dry_run_jobs(self, *args: str) -> dict[str, int]:
        """Job counts per rule that a dry run would execute."""
        out = self.run("-n", "--quiet", "rules", *args).stdout
        counts: dict[str, int] = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit() and parts[0] not in {"total", "job"}:
                counts[parts[0]] = int(parts[1])
        return counts


@pytest.fixture
def workflow(tmp_path: Path) -> Workflow:
    for part in WORKFLOW_PARTS:
        src = ROOT / part
        if src.is_dir():
            shutil.copytree(src, tmp_path / part)
        elif src.exists():
            shutil.copy2(src, tmp_path / part)
    return Workflow(tmp_path)
