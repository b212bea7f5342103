"""Helpers for the SLURM tests: a handle on the cluster and a runnable copy of the workflow."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

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


WORKFLOW_PARTS = ("Snakefile", "rules", "scripts", "config", "profiles", "report", "envs")


class Workflow:
    """A copy of the workflow in a temp dir (library code linked, not copied) run by the venv's snakemake."""

    def __init__(self, path: Path):
        self.path = path
        for part in WORKFLOW_PARTS:
            src = REPO / part
            if src.is_dir():
                shutil.copytree(src, path / part)
            elif src.exists():
                shutil.copy2(src, path / part)
        # The Snakefile puts <workflow>/src on the jobs' PYTHONPATH: jobs import this checkout's library.
        (path / "src").symlink_to(REPO / "src")

    def write_config(self, config: dict) -> None:
        """Replace config/config.yaml (--configfile would merge dataset mappings into the default)."""
        (self.path / "config/config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))

    def start(self, *args: str) -> subprocess.Popen:
        """Start snakemake with the venv active (PATH, VIRTUAL_ENV), as a user would on a login node.

        Output goes to snakemake.out/.err in the copy, so that several runs can go on at once.
        """
        env = {
            **os.environ,
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
            "VIRTUAL_ENV": str(VENV_BIN.parent),
        }
        with open(self.path / "snakemake.out", "w") as out, open(self.path / "snakemake.err", "w") as err:
            return subprocess.Popen(
                [str(VENV_BIN / "snakemake"), *args], cwd=self.path, env=env, stdout=out, stderr=err
            )

    def wait(self, proc: subprocess.Popen, timeout: float = 600) -> str:
        """Wait for a run started by start(); its stderr (where snakemake logs)."""
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.terminate()  # snakemake cancels its SLURM jobs on SIGTERM
            proc.wait(timeout=60)
            raise
        return (self.path / "snakemake.err").read_text()
