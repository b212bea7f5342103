"""A real single-node SLURM cluster for the tests in this directory (scripts/slurm-local.sh).

The cluster is started once per session and stopped afterwards by the PIDs the script recorded, unless it
was already up before the session (then it belongs to someone else and is left running).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from slurm_helpers import SCRIPT, Cluster


def _can_be_root() -> str | None:
    """None if the daemons can be started (root or passwordless sudo), else the reason they cannot."""
    if os.geteuid() == 0:
        return None
    if shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0:
        return None
    return "SLURM tests need root or passwordless sudo to start slurmctld/slurmd (scripts/slurm-local.sh up)"


def _alive(pid_file: Path) -> bool:
    """Whether the process whose PID the script recorded in pid_file is running."""
    try:
        os.kill(int(pid_file.read_text()), 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return False
    except PermissionError:  # alive, but owned by root while we are not
        return True
    return True


def _script(action: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), action], env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Bring up the single-node cluster (installing SLURM and MUNGE if missing); stop it afterwards."""
    reason = _can_be_root()
    if reason:
        pytest.skip(reason)
    env = dict(os.environ)
    state_dir = Path(env.setdefault("SNNTOPO_SLURM_DIR", "/tmp/snntopo-slurm"))
    was_up = all(_alive(state_dir / f"{daemon}.pid") for daemon in ("slurmctld", "slurmd"))
    up = _script("up", env)
    if up.returncode != 0:
        pytest.fail(f"scripts/slurm-local.sh up failed:\n{up.stdout}\n{up.stderr}", pytrace=False)
    try:
        yield Cluster(state_dir=state_dir)
    finally:
        if not was_up:
            down = _script("down", env)
            assert down.returncode == 0, f"scripts/slurm-local.sh down failed:\n{down.stderr}"
