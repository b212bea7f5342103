"""profiles/slurm against a real single-node SLURM cluster (22.05, no accounting database, no GPU).

One tiny sweep of the whole pipeline (digits, one model, one pruner) runs through sbatch and once
locally; the SLURM run must show its jobs in squeue as COMPLETED and produce identical outputs. A failed
job is reported as failed, and a GPU request must be refused by a cluster that has no GPU. Run alone
with `make test-slurm`.
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

import pandas as pd
import pytest
import torch
import yaml
from slurm_helpers import REPO, SCRIPT, Cluster
from workflow_helpers import Workflow

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

# A tiny sweep of the real pipeline: prune → train → measure (grouped) → collect → analyse.
SWEEP = {
    "results_dir": "results",
    "device": "cpu",
    "datasets": {"digits": {"size": 8}},
    "models": ["cnn"],
    "seeds": [0],
    "pruners": {"random": {}},
    "sparsities": [0.9],
    "training": {"epochs": 1},
    "metrics": {"motif_fraction": 0.01},
    "analysis": {"folds": 2, "bootstrap": 20, "gbt": {"n_estimators": 5}},
}
NO_CIFAR = {**SWEEP, "data_root": "no_data_here", "datasets": {"cifar10": {}}}
SUBMITTED = re.compile(r"Job (\S+) has been submitted with SLURM jobid (\d+) \(log: (\S+)\)\.")
PROFILE = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
# Poll squeue one second after submitting (the profile's 5 s suits a shared cluster, not a test); the plugin
# adds 10 s to the interval after each poll that finds no job finished and resets it when one has. The
# runs are waited on until they end (workflow_helpers.hang_ceiling only stops a hung one).
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
    # A SLURM group job asks for the sum of its jobs' threads and memory. The test node has 2 CPUs and
    # ~20 GB, so two measure jobs go to one SLURM job here (the profile packs 20 on a real cluster), and
    # the tiny graphs need far less than the rule's 16 GB for an MGE.
    assert PROFILE["group-components"] == {"metrics": 20}
    gpu = [f"prepare_dataset:{key}={value}" for key, value in PROFILE["set-resources"]["train"].items()]
    started = {
        # The node has no GPU: training asks for none here (the "gpu" run below tests the GPU request).
        "sweep": start(
            "sweep", SWEEP, *slurm, "--slurm-keep-successful-logs", "--set-resources", "train:gpu=0",
            "--group-components", "metrics=2", "--set-resources", "measure_mge:mem_mb=4000",
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
    # One submission per job, except the four measure jobs (2 networks × MGE and BGE) of group "metrics",
    # which group-components packs two to a SLURM job.
    log_dirs = sorted(path.relative_to(run.workflow.path / ".snakemake/slurm_logs").parts[0]
                      for path in run.submitted.values())  # fmt: skip
    rules = [d for d in log_dirs if d.startswith("rule_")]
    groups = [d for d in log_dirs if d.startswith("group_metrics")]
    assert sorted(rules) == sorted(
        ["rule_prepare_dataset", "rule_init_model", "rule_prune", "rule_prune", "rule_train", "rule_train",
         "rule_collect", "rule_analyse", "rule_effect"]
    ), log_dirs  # fmt: skip
    assert len(groups) == 2, log_dirs
    for job_id, log in run.submitted.items():
        assert log.name == f"{job_id}.log" and log.is_file(), f"no SLURM log for job {job_id}"
    states = slurm_cluster.squeue(*run.submitted)
    run_id = re.search(r"SLURM run ID: (\S+)", run.stderr).group(1)
    # Every job of a run is named with the run's id; MinJobAge=600 keeps finished jobs in squeue.
    assert {job_id: (job["state"], job["name"]) for job_id, job in states.items()} == dict.fromkeys(
        run.submitted, ("COMPLETED", run_id)
    ), states
    # Each group job ran its two measure jobs inside its one allocation.
    for log in run.submitted.values():
        if "group_metrics" in str(log):
            assert "2 of 2 steps (100%) done" in log.read_text(), log.read_text()[-3000:]


def test_slurm_results_equal_local_run(runs: dict[str, Run]):
    slurm, local = runs["sweep"], runs["local"]
    assert slurm.returncode == 0, slurm.describe()
    assert local.returncode == 0, local.describe()
    assert not local.submitted
    a_info = json.loads((slurm.results / "data/digits.json").read_text())
    assert a_info == json.loads((local.results / "data/digits.json").read_text())
    a = torch.load(slurm.results / "digits/cnn/seed0/init.pt", weights_only=True)
    b = torch.load(local.results / "digits/cnn/seed0/init.pt", weights_only=True)
    assert a["checksum"] == b["checksum"]
    assert all(torch.equal(t, b["state_dict"][name]) for name, t in a["state_dict"].items())
    # Same masks, same training, same metrics: the tidy tables are equal (wall times are not in it).
    pd.testing.assert_frame_equal(
        pd.read_parquet(slurm.results / "table.parquet"), pd.read_parquet(local.results / "table.parquet")
    )
    for name in ("regression.csv", "ranking.csv"):
        assert (slurm.results / "analysis/tables" / name).read_bytes() == (
            local.results / "analysis/tables" / name
        ).read_bytes()


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
