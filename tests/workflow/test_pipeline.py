"""The whole pipeline on a tiny sweep, with real Snakemake runs (issue 7's acceptance)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from workflow_helpers import Workflow

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

TINY = {
    "datasets": {"digits": {"size": 8}},
    "models": ["cnn"],
    "seeds": [0],
    "pruners": {"random": {}, "snip": {"batch_size": 64}},
    "sparsities": [0.9],
    "training": {"epochs": 3},
    "metrics": {"motif_fraction": 0.01},
    "analysis": {"folds": 2, "bootstrap": 50},
}
POINT = "results/digits/cnn/seed0/{pruner}/s{sparsity}"


@pytest.fixture(scope="module")
def swept(tmp_path_factory) -> Workflow:
    """The tiny sweep, run once for the module."""
    wf = Workflow(tmp_path_factory.mktemp("sweep") / "wf")
    wf.write_config(TINY)
    wf.run()
    return wf


def test_tiny_sweep_table_has_one_row_per_network_and_no_nan_in_required_columns(swept):
    table = pd.read_parquet(swept.path / "results/table.parquet")
    assert sorted(zip(table.pruner, table.sparsity, strict=True)) == [
        ("dense", 0.0),
        ("random", 0.9),
        ("snip", 0.9),
    ]
    required = ["dataset", "model", "pruner", "sparsity", "seed", "accuracy", "dense_accuracy"]
    assert not table[required].isna().any().any()
    dense = table.loc[table.pruner == "dense", "accuracy"].item()
    assert (table.dense_accuracy == dense).all()
    # every metric family produced columns, and the density baseline matches the masks
    for family in ("mge", "rolled", "rolled_channel", "ramanujan", "fullspectrum", "density"):
        assert any(c.startswith(f"{family}:") for c in table.columns), family
    snip = table[table.pruner == "snip"].iloc[0]
    assert snip["achieved_sparsity"] == pytest.approx(0.9, abs=1e-3)
    assert 0 < snip["accuracy"] <= 1


def test_rerun_with_nothing_changed_does_no_work(swept):
    assert swept.dry_run_jobs() == {}


def test_touching_a_pruning_parameter_reruns_exactly_the_affected_jobs(swept):
    config = {**TINY, "pruners": {"random": {}, "snip": {"batch_size": 32}}}
    swept.write_config(config)
    try:
        jobs = swept.dry_run_jobs()
    finally:
        swept.write_config(TINY)
    # one snip point: its prune, train and its two measure jobs (the MGE; both BGEs in one), then the
    # aggregates
    assert jobs.get("prune") == 1 and jobs.get("train") == 1
    assert jobs.get("measure_mge") == 1 and jobs.get("measure_bge") == 1
    assert "init_model" not in jobs and "prepare_dataset" not in jobs


def test_killed_training_job_resumes_from_its_checkpoint_and_matches(swept, tmp_path):
    wf = Workflow(tmp_path / "wf")
    wf.write_config(TINY)
    target = POINT.format(pruner="snip", sparsity="0.9") + "/train/metrics.json"
    ckpt = wf.path / POINT.format(pruner="snip", sparsity="0.9") / "train/checkpoint.pt"
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "snakemake"), "--cores", "1", target],
        cwd=wf.path, env=wf.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.time() + 600
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert ckpt.exists(), "no checkpoint appeared"
    os.killpg(proc.pid, signal.SIGKILL)  # snakemake and its job, mid-training
    proc.wait()
    assert not (wf.path / target).exists()
    wf.run("--unlock")  # a killed snakemake leaves its lock, as after a power loss
    wf.run(target)  # profiles/default has rerun-incomplete
    log = wf.path / "results/logs/train" / POINT.format(pruner="snip", sparsity="0.9")[8:] / "train.log"
    assert "resuming" in log.read_text()
    ours = torch.load(wf.path / target.replace("metrics.json", "model.pt"), weights_only=True)["state_dict"]
    ref_path = swept.path / target.replace("metrics.json", "model.pt")
    ref = torch.load(ref_path, weights_only=True)["state_dict"]
    assert ours.keys() == ref.keys()
    assert all(torch.equal(ours[k], ref[k]) for k in ref)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"sparsities": [1.3]}, "sparsities[0]: 1.3 is out of range; accepted: ≥ 0 and < 1"),
        ({"pruners": {"snipp": {}}}, "pruners: 'snipp' is not accepted (did you mean 'snip'?)"),
        ({"models": ["resnet21"]}, "models[0]: 'resnet21' is not accepted"),
        ({"datasets": {"cifar11": {}}}, "datasets: 'cifar11' is not accepted"),
        ({"trainign": {}}, "unknown key 'trainign' (did you mean 'training'?)"),
    ],
)
def test_bad_config_fails_fast_naming_the_culprit(tmp_path, change, expected):
    wf = Workflow(tmp_path / "wf")
    wf.write_config({**TINY, **change})
    proc = wf.run("-n", check=False)
    assert proc.returncode != 0
    assert expected in proc.stdout + proc.stderr


def test_analysis_runs_on_the_published_tables_without_training(tmp_path):
    from snntopo.analysis import expected_outputs

    sample = Path(__file__).resolve().parents[3] / "shared/data/mge-released-sample"
    if not sample.is_dir():
        pytest.skip(f"published sample not found at {sample}")
    wf = Workflow(tmp_path / "wf")
    wf.write_config({**TINY, "analysis": {"folds": 3, "bootstrap": 50, "gbt": {"n_estimators": 10}}})
    wf.run("--config", f"external_tables={sample}")
    table = pd.read_parquet(wf.path / "results/external/table.parquet")
    assert len(table) == 958  # one row per network of the sample (counted in test_analysis_published)
    for files in expected_outputs(wf.path / "results/external/analysis").values():
        for path in files:
            assert path.is_file() and path.stat().st_size > 0, path
    assert not (wf.path / "results/digits").exists()  # nothing pruned or trained
    wf.run("--config", f"external_tables={sample}", "--report", "report.html")
    html = (wf.path / "report.html").read_text(errors="replace")
    assert "r2_by_feature_set" in html and "accuracy_vs_sparsity" in html
    assert "claims" in html and "headline_r2" in html  # the report's tables
