"""A runnable copy of the workflow in a temp dir, used by the workflow and SLURM tests.

pytest puts tests/ on sys.path (tests/conftest.py, rootdir-relative imports), so test modules in any
sub-folder import this as ``workflow_helpers``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
# The venv that runs pytest also runs snakemake and (sbatch --export=ALL) the SLURM jobs.
VENV_BIN = Path(sys.executable).parent
WORKFLOW_PARTS = ("Snakefile", "rules", "scripts", "config", "profiles", "report", "envs")


class Workflow:
    """A copy of the workflow (library code linked, not copied) run by the venv's snakemake."""

    def __init__(self, path: Path):
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        for part in WORKFLOW_PARTS:
            src = REPO / part
            if src.is_dir():
                shutil.copytree(src, path / part)
            elif src.exists():
                shutil.copy2(src, path / part)
        # The Snakefile puts <workflow>/src on the jobs' PYTHONPATH: jobs import this checkout's library.
        (path / "src").symlink_to(REPO / "src")

    def write_config(self, config: dict) -> Path:
        """Replace config/config.yaml (--configfile would merge mappings into the default config)."""
        target = self.path / "config/config.yaml"
        target.write_text(yaml.safe_dump(config, sort_keys=False))
        return target

    def env(self) -> dict[str, str]:
        """The environment of a user with the venv active (PATH, VIRTUAL_ENV)."""
        return {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
                "VIRTUAL_ENV": str(VENV_BIN.parent)}  # fmt: skip

    def run(self, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
        """Run snakemake (1 core) to completion; on failure the assertion carries its output's tail."""
        cmd = [str(VENV_BIN / "snakemake"), "--cores", "1", *args]
        proc = subprocess.run(
            cmd, cwd=self.path, env=self.env(), capture_output=True, text=True, timeout=timeout
        )
        if check and proc.returncode != 0:
            tail = (proc.stdout + proc.stderr)[-6000:]
            raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{tail}")
        return proc

    def dry_run_jobs(self, *args: str) -> dict[str, int]:
        """Job counts per rule that a dry run would execute ({} when there is nothing to do)."""
        out = self.run("-n", "--quiet", "rules", *args).stdout
        counts: dict[str, int] = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit() and parts[0] not in {"total", "job"}:
                counts[parts[0]] = int(parts[1])
        return counts

    def start(self, *args: str) -> subprocess.Popen:
        """Start snakemake in the background; output goes to snakemake.out/.err in the copy."""
        with open(self.path / "snakemake.out", "w") as out, open(self.path / "snakemake.err", "w") as err:
            return subprocess.Popen([str(VENV_BIN / "snakemake"), *args], cwd=self.path, env=self.env(),
                                    stdout=out, stderr=err, start_new_session=True)  # fmt: skip

    def wait(self, proc: subprocess.Popen, timeout: float = 600) -> str:
        """Wait for a run started by start(); returns its stderr (where snakemake logs)."""
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.terminate()  # snakemake cancels its (SLURM) jobs on SIGTERM
            proc.wait(timeout=60)
            raise
        return (self.path / "snakemake.err").read_text()
