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
from workflow_helpers import Workflow, hang_ceiling

from snntopo.training.loop import STOP_AFTER_EPOCH_ENV

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


def _stopped_job(session: int) -> bool:
    """Whether a process of ``session`` (snakemake's session) is stopped (state T in /proc)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended while we looked
        if fields[0] == "T" and int(fields[3]) == session:  # state, ppid, pgrp, session
            return True
    return False


def test_killed_training_job_resumes_from_its_checkpoint_and_matches(swept, tmp_path):
    wf = Workflow(tmp_path / "wf")
    wf.write_config(TINY)
    target = POINT.format(pruner="snip", sparsity="0.9") + "/train/metrics.json"
    ckpt = wf.path / POINT.format(pruner="snip", sparsity="0.9") / "train/checkpoint.pt"
    # The training job stops itself (SIGSTOP) once epoch 1's checkpoint is written: a known state to kill
    # at, however fast or slow the machine (a timer would race a 3-epoch job).
    env = {**wf.env(), STOP_AFTER_EPOCH_ENV: "1"}
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "snakemake"), "--cores", "1", target],
        cwd=wf.path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    # Wait for the stopped job; the ceiling only ends a hung run (data, init, prune, train).
    deadline = time.monotonic() + hang_ceiling(jobs=4)
    while not _stopped_job(proc.pid) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert _stopped_job(proc.pid), "the training job never reached the end of epoch 1"
    assert ckpt.exists()
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


PAI = ["er", "erk", "grasp", "prospr", "snip", "synflow", "uniform"]


def _sample() -> Path:
    sample = Path(__file__).resolve().parents[3] / "shared/data/mge-released-sample"
    if not sample.is_dir():
        pytest.skip(f"published sample not found at {sample}")
    return sample


def test_analysis_runs_on_the_published_tables_without_training(tmp_path):
    from snntopo.analysis import expected_outputs

    sample = _sample()
    wf = Workflow(tmp_path / "wf")
    analysis = {"folds": 3, "bootstrap": 50, "gbt": {"n_estimators": 10}, "pruners": PAI}
    wf.write_config({**TINY, "analysis": analysis})
    # README's command: one call runs the import, the analysis and writes the report
    wf.run(
        "--config",
        f"external_tables={sample}",
        "--report",
        "results/external/report.html",
        "--report-after-run",
    )
    table = pd.read_parquet(wf.path / "results/external/table.parquet")
    assert len(table) == 970  # one row per network of the sample (counted in test_analysis_published)
    for files in expected_outputs(wf.path / "results/external/analysis").values():
        for path in files:
            assert path.is_file() and path.stat().st_size > 0, path
    html = (wf.path / "results/external/report.html").read_text(errors="replace")
    assert "r2_by_feature_set" in html and "accuracy_vs_sparsity" in html
    assert "claims" in html and "headline_r2" in html  # the report's tables
    # its own results subfolder: tables, logs, benchmarks and report share no path with the sweep's
    written = sorted(
        str(p.relative_to(wf.path / "results")) for p in (wf.path / "results").rglob("*") if p.is_file()
    )
    assert written and all(p.startswith("external/") for p in written), written
    assert {"external/logs/import_published.log", "external/logs/analyse.log"} <= set(written)
    assert {"external/benchmarks/import_published.tsv", "external/benchmarks/analyse.tsv"} <= set(written)
    log = (wf.path / "results/external/logs/analyse.log").read_text()
    assert "Ramanujan quantities of this table: mge variant" in log
    # analysis.pruners: the 7 PaI methods only, though the table also holds the 4 DST algorithms
    assert set(table["pruner"]) == {*PAI, "dsr", "itop", "rigl", "snfs"}
    predictions = pd.read_csv(wf.path / "results/external/analysis/tables/predictions.csv")
    assert set(predictions["pruner"]) == set(PAI)


@pytest.mark.parametrize(
    ("tables", "expected"),
    [
        ("does/not/exist", "(external_tables) does not exist or is not a directory"),
        ("empty", "no published metric table under"),
    ],
)
def test_bad_published_tables_directory_fails_before_scheduling(tmp_path, tables, expected):
    wf = Workflow(tmp_path / "wf")
    wf.write_config(TINY)
    (wf.path / "empty").mkdir()
    (wf.path / "empty/notes.txt").write_text("no tables here")
    proc = wf.run("-n", "--config", f"external_tables={tables}", check=False)
    assert proc.returncode != 0
    assert expected in proc.stdout + proc.stderr and tables in proc.stdout + proc.stderr


def test_unknown_pruner_in_analysis_pruners_lists_the_pruners_present(tmp_path):
    wf = Workflow(tmp_path / "wf")
    wf.write_config({**TINY, "analysis": {"pruners": ["snip", "snipp"]}})
    proc = wf.run("--config", f"external_tables={_sample()}", check=False)
    assert proc.returncode != 0
    log = (wf.path / "results/external/logs/analyse.log").read_text()
    assert "analysis pruners" in log and "'snipp'" in log
    assert "dsr, er, erk, grasp, itop, prospr, rigl, snfs, snip, synflow, uniform" in log
    assert (wf.path / "results/external/table.parquet").is_file()  # the imported table is kept
