"""profiles/slurm against a real single-node SLURM cluster (22.05, no accounting database, no GPU).

One tiny sweep (digits, two models, one seed) runs through sbatch and once locally; the SLURM run must
show its jobs in squeue as COMPLETED and produce bit-identical outputs. A job that fails must be reported
as failed, and a GPU request must be refused by a cluster that has no GPU. Run alone with `make test-slurm`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pytest
import torch
import yaml
from slurm_helpers import REPO, SCRIPT, Cluster, Workflow

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

SWEEP = {
    "results_dir": "results",
    "device": "cpu",
    "datasets": {"digits": {"size": 8}},
    "models": ["mlp", "cnn"],
    "seeds": [0],
}
NO_CIFAR = {**SWEEP, "data_root": "no_data_here", "datasets": {"cifar10": {}}}
SUBMITTED = re.compile(r"Job (\S+) has been submitted with SLURM jobid (\d+) \(log: (\S+)\)\.")
PROFILE = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
# Poll squeue every second from the start (the profile's 5 s suits a shared cluster, not a test).
FAST = ("--slurm-init-seconds-before-status-checks", "1", "--latency-wait", "10")


@dataclass
class Run:
    """One snakemake run, started at once with the others (their waits for squeue overlap)."""

    workflow: Workflow
    proc: subprocess.Popen

    @cached_property
    def stderr(self) -> str:
        return self.workflow.wait(self.proc)

    @property
    def returncode(self) -> int:
        self.stderr  # noqa: B018 - waits for the run
        return self.proc.returncode

    @property
    def submitted(self) -> dict[str, Path]:
        """SLURM job id → its SLURM log file, from snakemake's submission messages."""
        return {m.group(2): Path(m.group(3)) for m in SUBMITTED.finditer(self.stderr)}

    @property
    def results(self) -> Path:
        return self.workflow.path / "results"

    def describe(self) -> str:
        return f"exit {self.returncode}\n--- snakemake stderr (tail) ---\n{self.stderr[-5000:]}"


@pytest.fixture(scope="module")
def runs(slurm_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Run]]:
    """Every snakemake run of this module, started together."""

    def start(name: str, config: dict, *args: str) -> Run:
        workflow = Workflow(tmp_path_factory.mktemp(name))
        workflow.write_config(config)
        return Run(workflow, workflow.start(*args))

    slurm = ("--profile", "profiles/slurm", *FAST)
    components = [f"{k}={v}" for k, v in PROFILE.get("group-components", {}).items()]
    gpu = [f"prepare_dataset:{key}={value}" for key, value in PROFILE["set-resources"]["train"].items()]
    started = {
        # The two init jobs form one group, i.e. one SLURM job, as the metric jobs do in the real sweep.
        "sweep": start(
            "sweep", SWEEP, *slurm, "--slurm-keep-successful-logs",
            "--groups", "init_model=inits", "--group-components", *components, "inits=2",
        ),
        "local": start("local", SWEEP, "--profile", "profiles/default", "--cores", "1"),
        # CIFAR-10 is not in data_root: prepare_dataset raises DatasetNotFoundError inside its SLURM job.
        "failing": start("failing", NO_CIFAR, *slurm),
        # The profile's GPU request for training, applied to a rule of the tiny sweep.
        "gpu": start("gpu", SWEEP, *slurm, "--set-resources", *gpu, "--", "results/data/digits.json"),
    }  # fmt: skip
    yield started
    for run in started.values():  # a test that failed early leaves its run going: stop it before the cluster
        if run.proc.poll() is None:
            run.proc.terminate()  # snakemake cancels its SLURM jobs on SIGTERM
            run.proc.wait(timeout=120)


def test_sweep_jobs_ran_through_slurm_and_completed(runs: dict[str, Run], slurm_cluster: Cluster):
    run = runs["sweep"]
    assert run.returncode == 0, run.describe()
    # prepare_dataset on its own, the two init_model jobs grouped: two sbatch submissions.
    assert len(run.submitted) == 2, run.describe()
    log_dirs = sorted(path.relative_to(run.workflow.path / ".snakemake/slurm_logs").parts[0]
                      for path in run.submitted.values())  # fmt: skip
    assert log_dirs[0].startswith("group_inits") and log_dirs[1] == "rule_prepare_dataset", log_dirs
    for job_id, log in run.submitted.items():
        assert log.name == f"{job_id}.log" and log.is_file(), f"no SLURM log for job {job_id}"
    states = slurm_cluster.squeue(*run.submitted)
    run_id = re.search(r"SLURM run ID: (\S+)", run.stderr).group(1)
    # Every job of a run is named with the run's id; MinJobAge=600 keeps finished jobs in squeue.
    assert {job_id: (job["state"], job["name"]) for job_id, job in states.items()} == dict.fromkeys(
        run.submitted, ("COMPLETED", run_id)
    ), states
    # The group job ran both init jobs inside its one allocation.
    group_log = next(log.read_text() for log in run.submitted.values() if "group_inits" in str(log))
    assert "2 of 2 steps (100%) done" in group_log
    assert all(f"model={model}, seed=0" in group_log for model in SWEEP["models"]), group_log


def test_slurm_results_equal_local_run(runs: dict[str, Run]):
    slurm, local = runs["sweep"], runs["local"]
    assert slurm.returncode == 0, slurm.describe()
    assert local.returncode == 0, local.describe()
    assert not local.submitted
    a_info = json.loads((slurm.results / "data/digits.json").read_text())
    assert a_info == json.loads((local.results / "data/digits.json").read_text())
    for model in SWEEP["models"]:
        a = torch.load(slurm.results / f"digits/{model}/seed0/init.pt", weights_only=True)
        b = torch.load(local.results / f"digits/{model}/seed0/init.pt", weights_only=True)
        assert a.keys() == b.keys()
        assert a["state_dict"].keys() == b["state_dict"].keys()
        for name, tensor in a["state_dict"].items():
            assert torch.equal(tensor, b["state_dict"][name]), f"{model}: {name} differs"
        assert a["checksum"] == b["checksum"]


def test_failing_job_is_reported_failed(runs: dict[str, Run], slurm_cluster: Cluster):
    run = runs["failing"]
    assert run.returncode != 0, run.describe()
    assert len(run.submitted) == 1, run.describe()  # init_model never submitted: its input is missing
    (job_id, log), = run.submitted.items()  # fmt: skip
    assert slurm_cluster.squeue(job_id)[job_id]["state"] == "FAILED"
    assert f"SLURM-job '{job_id}' failed, SLURM status is: 'FAILED'" in run.stderr, run.describe()
    assert "Error in rule prepare_dataset" in run.stderr
    assert "DatasetNotFoundError" in log.read_text()  # failed jobs keep their SLURM log
    assert not (run.results / "data/cifar10.json").exists()


def test_gpu_request_is_refused_on_a_node_without_gpu(slurm_cluster: Cluster):
    """sbatch itself: a dry submission (--test-only) and a real one asking for a GPU are both refused."""
    for extra in (["--test-only"], []):
        proc = subprocess.run(
            ["sbatch", "--parsable", *extra, "--gpus=1", "--ntasks-per-gpu=1", "--wrap", "true"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert proc.returncode != 0, f"sbatch {extra} accepted a GPU job on a GPU-less node: {proc.stdout}"
        assert "Requested node configuration is not available" in proc.stderr, proc.stderr


def test_profile_gpu_request_reaches_sbatch_and_is_refused(runs: dict[str, Run]):
    """The profile's `gpu: 1` for training becomes `sbatch --gpus=1`, which the GPU-less cluster refuses."""
    assert PROFILE["set-resources"]["train"]["gpu"] == 1
    run = runs["gpu"]
    assert run.returncode != 0, run.describe()
    assert not run.submitted, run.describe()
    assert "SLURM sbatch failed" in run.stderr, run.describe()
    assert "Requested node configuration is not available" in run.stderr, run.describe()
    sbatch_call = re.search(r"^\s*(sbatch --parsable .*)$", run.stderr, re.MULTILINE).group(1)
    assert " --gpus=1" in sbatch_call and "--ntasks-per-gpu=1" in sbatch_call, sbatch_call
    assert not (run.results / "data/digits.json").exists()


def test_script_never_replaces_a_foreign_slurm_conf(slurm_cluster: Cluster, tmp_path: Path):
    """A slurm.conf without the script's marker belongs to a real cluster: `up` refuses, `down` keeps it."""
    conf = tmp_path / "slurm.conf"
    conf.write_text("ClusterName=production\n")
    env = {**os.environ, "SNNTOPO_SLURM_CONF": str(conf), "SNNTOPO_SLURM_DIR": str(tmp_path / "state")}

    def script(action: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", SCRIPT, action], env=env, capture_output=True, text=True, timeout=120)

    up = script("up")
    assert up.returncode != 0 and "refusing to replace a real cluster's config" in up.stderr, up.stderr
    assert script("down").returncode == 0
    assert conf.read_text() == "ClusterName=production\n"
    # The test cluster (another state dir) was not touched.
    sinfo = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=30)
    assert sinfo.stdout.strip() in {"idle", "mixed", "allocated"}, sinfo.stderr
