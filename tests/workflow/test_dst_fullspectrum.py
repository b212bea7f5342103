"""Real Snakemake runs of the mask sources that are not plain PaI: DST points, full-spectrum sampling."""

import json

import pandas as pd
import pytest
import torch

from snntopo.pruning import load_mask_summary, load_masks, load_start_state
from snntopo.utils import tensors_checksum

pytestmark = pytest.mark.workflow

CONFIG = {
    "datasets": {"digits": {"size": 8}},
    "models": ["mlp"],
    "seeds": [0],
    "pruners": {
        "fullspectrum": {"base": "random", "samples": 2, "warmup_iterations": 2, "sparsities": [0.9]}
    },
    "sparsities": [0.5, 0.8],
    "dst": {"algorithms": {"rigl": {"update_interval": 5}, "set": {}}, "sparsities": [0.9]},
    "training": {"epochs": 1, "dst": {"death_fraction": 0.4}},
}


def test_sweep_enumerates_dst_points_and_per_pruner_sparsities(workflow):
    workflow.write_config({**CONFIG, "pruners": {**CONFIG["pruners"], "random": {}}})
    # random at 0.5 and 0.8, fullspectrum at 0.9 only, rigl and set at 0.9, dense
    jobs = workflow.dry_run_jobs()
    assert jobs["prune"] == 6
    # topology over training: one job per DST point, one table + figure for the sweep
    assert jobs["dst_topology"] == 2 and jobs["dst_topology_figure"] == 1
    # a DST point is measured on its final mask, so after training; a PaI point on its pruned mask
    point = "results/digits/mlp/seed0"
    assert _jobs(workflow, f"{point}/rigl/s0.9/metrics/rolled.json")["train"] == 1
    assert "train" not in _jobs(workflow, f"{point}/random/s0.5/metrics/rolled.json")
    assert _jobs(workflow, f"{point}/random/s0.5/metrics/rolled.json")["measure_bge"] == 1
    # a sweep without DST points has no DST topology jobs
    workflow.write_config({**CONFIG, "dst": {}})
    assert not {"dst_topology", "dst_topology_figure"} & set(workflow.dry_run_jobs())


def _jobs(workflow, target: str) -> dict[str, int]:
    """Job counts per rule of a dry run for one target (it must precede --quiet, which takes a list)."""
    out = workflow.run(target, "-n", "--quiet", "rules").stdout
    rows = (line.split() for line in out.splitlines())
    return {r[0]: int(r[1]) for r in rows if len(r) == 2 and r[1].isdigit() and r[0] not in {"total", "job"}}


@pytest.mark.slow
def test_dst_and_fullspectrum_points_run(workflow):
    workflow.write_config(
        {**CONFIG, "dst": {**CONFIG["dst"], "algorithms": {"rigl": {"update_interval": 5}}}}
    )
    point = workflow.path / "results/digits/mlp/seed0"
    points = ("rigl/s0.9", "fullspectrum/s0.9", "dense/s0")
    # training only (relative targets, as the rules' outputs): measuring is the metrics stage's business
    workflow.run(*(f"results/digits/mlp/seed0/{p}/train/metrics.json" for p in points))
    rigl = point / "rigl/s0.9"
    assert load_mask_summary(rigl / "mask.pt")["pruner"] == "erk"  # the initial mask
    initial, final = load_masks(rigl / "mask.pt"), load_masks(rigl / "train/final_mask.pt")
    assert tensors_checksum(initial) != tensors_checksum(final)
    assert sum(int(m.sum()) for m in final.values()) == sum(int(m.sum()) for m in initial.values())
    metrics = json.loads((rigl / "train/metrics.json").read_text())
    assert metrics["dst"]["algorithm"] == "rigl" and metrics["dst"]["updates"] > 0
    assert metrics["recipe"]["dst"]["death_fraction"] == 0.4  # shared DST options reach the point
    assert (rigl / "train/mask_snapshots/step_000000.pt").exists()
    fs = load_mask_summary(point / "fullspectrum/s0.9/mask.pt")
    assert len(fs["extras"]["fullspectrum"]["rows"]) == 3 * len(fs["layers"])
    # the warm-up run trains from the warmed-up weights stored with its mask, not from init.pt
    warmed = load_start_state(point / "fullspectrum/s0.9/mask.pt")
    assert tensors_checksum(warmed) == fs["start_weights"]["checksum"]
    init = torch.load(point / "init.pt", weights_only=True)["checksum"]
    trained_from = torch.load(point / "fullspectrum/s0.9/train/model.pt", weights_only=True)["fingerprint"][
        "init"
    ]
    assert trained_from == fs["start_weights"]["checksum"] != init
    dense = json.loads((point / "dense/s0/train/metrics.json").read_text())
    assert "dst" not in dense and dense["recipe"]["dst"] == {}
    saved = torch.load(rigl / "train/model.pt", weights_only=True)
    assert saved["final_masks_checksum"] == tensors_checksum(final)

    # topology over training: the point's snapshot metrics, the sweep's table and figure, in the report
    workflow.run("results/dst/topology.csv")
    steps = pd.read_csv(rigl / "dst_topology.csv").groupby("family")["step"].unique()
    snapshot_steps = sorted(int(p.stem[5:]) for p in (rigl / "train/mask_snapshots").glob("step_*.pt"))
    assert sorted(steps["ramanujan"]) == sorted(steps["mask"]) == snapshot_steps
    assert len(snapshot_steps) == metrics["dst"]["updates"] + 1
    table = pd.read_csv(workflow.path / "results/dst/topology.csv")
    assert set(zip(table.model, table.pruner, table.sparsity, strict=True)) == {("mlp", "rigl", 0.9)}
    figure = workflow.path / "results/analysis/figures/dst_topology"
    assert all(figure.with_suffix(ext).stat().st_size > 1000 for ext in (".png", ".pdf"))
    workflow.run("--report", "report.html", "results/dst/topology.csv")
    html = (workflow.path / "report.html").read_text(errors="replace")
    assert "dst_topology" in html and "Topology of the mask during dynamic sparse training" in html
