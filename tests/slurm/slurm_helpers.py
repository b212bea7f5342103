"""Helpers for the SLURM tests: a handle on the cluster and a runnable copy of the workflow."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "slurm-local.sh"
# The venv that runs pytest also runs snakemake and, through sbatch --export=ALL, the jobs.
VENV_BIN = Path(sys.prefix) / "bin"


@dataclass(frozen=True)
class Cluster:
    """Handle on the running cluster; its state, logs and daemon PIDs are in state_dir."""

    state_dir: Path

    def squeue(self, *job_ids: str) -> dict[str, dict[str, str]]:
        """`squeue --states=all` for the given job ids: id → {state, name, reason}."""
        out = subprocess.run(
            ["squeue", "--states=all", "--noheader", "--format=%i|%T|%j|%r", "--jobs", ",".join(job_ids)],
            check=True, capture_output=True, text=True, timeout=30,
        ).stdout  # fmt: skip
        rows = (line.split("|") for line in out.splitlines() if line.strip())
        return {job: {"state": state, "name": name, "reason": reason} for job, state, name, reason in rows}
