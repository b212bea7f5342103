"""A runnable copy of the workflow in a temp dir, used by the workflow and SLURM tests.

pytest puts tests/ on sys.path (tests/conftest.py, rootdir-relative imports), so test modules in any
sub-folder import this as ``workflow_helpers``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
# The venv that runs pytest also runs snakemake and (sbatch --export=ALL) the SLURM jobs.
VENV_BIN = Path(sys.executable).parent
WORKFLOW_PARTS = ("Snakefile", "rules", "scripts", "config", "profiles", "report", "envs")

# Runs are waited on until snakemake exits, however slow the machine. The ceiling is only against hangs:
# generous per job of the run's DAG (a tiny pipeline's job takes seconds, minutes on a loaded machine or
# behind a SLURM queue) plus the time to build the DAG, read from snakemake's job table once it is printed.
HANG_CEILING_START_S = 900
HANG_CEILING_PER_JOB_S = 600
POLL_S = 2
_JOB_TOTAL = re.compile(r"^total\s+(\d+)\s*$", re.MULTILINE)


def hang_ceiling(jobs: int) -> float:
    """Seconds after which a run of ``jobs`` jobs is taken to hang (never a performance budget)."""
    return HANG_CEILING_START_S + HANG_CEILING_PER_JOB_S * jobs


def job_total(log: str) -> int:
    """The job count of snakemake's 'Job stats' table in ``log`` (0 until it is printed)."""
    match = _JOB_TOTAL.search(log)
    return int(match.group(1)) if match else 0


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

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run snakemake (1 core) to completion; on failure the assertion carries its output's tail."""
        proc = self.start("--cores", "1", *args)
        stderr = self.wait(proc)
        done = subprocess.CompletedProcess(proc.args, proc.returncode, self.stdout(), stderr)
        if check and done.returncode != 0:
            tail = (done.stdout + done.stderr)[-6000:]
            raise AssertionError(f"snakemake {' '.join(args)} failed ({done.returncode}):\n{tail}")
        return done

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

    def stdout(self) -> str:
        return (self.path / "snakemake.out").read_text()

    def wait(self, proc: subprocess.Popen) -> str:
        """Wait for a run started by start() to exit; returns its stderr (where snakemake logs).

        No wall-clock budget: only a run past ``hang_ceiling`` of its job count is stopped, as hung.
        """
        err, begun = self.path / "snakemake.err", time.monotonic()
        while proc.poll() is None:
            ceiling = hang_ceiling(job_total(err.read_text()))
            if time.monotonic() - begun > ceiling:
                proc.terminate()  # snakemake cancels its (SLURM) jobs on SIGTERM
                proc.wait(timeout=120)
                raise TimeoutError(f"snakemake hung: still running after {ceiling:.0f} s (the ceiling "
                                   f"for its jobs); stderr tail:\n{err.read_text()[-3000:]}")  # fmt: skip
            time.sleep(POLL_S)
        return err.read_text()
