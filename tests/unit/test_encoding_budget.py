"""The MGE memory guard covers graph + topometrics (issue 18) and the measure_mge rule's mem_mb comes from
the same estimate, read from the small JSON files beside the job's inputs."""

from __future__ import annotations

import json

import pytest
import torch

from snntopo import mge_budget, models
from snntopo.encoding import encode, estimate_mge_size
from snntopo.errors import GraphTooLargeError
from snntopo.metrics._profile import current_rss_bytes, peak_rss_bytes, reset_peak_rss


def test_dense_conv6_is_refused_at_the_default_budget_without_building_it():
    model = models.build_model("conv6", (3, 32, 32), 10)
    size = estimate_mge_size(model, None, (3, 32, 32))
    assert 2.3e8 < size.n_edges < 2.5e8  # 241 M edges: the graph alone is estimated under 20 GB
    assert size.gigabytes < 20 < size.peak_gigabytes
    before = current_rss_bytes()
    watermark = reset_peak_rss()
    with pytest.raises(GraphTooLargeError, match=rf"{size.peak_gigabytes:.1f} GB") as err:
        encode("mge", model, None, (3, 32, 32))  # default max_memory_gb = 20
    assert "graph + topometrics" in str(err.value) and "max_memory_gb=20" in str(err.value)
    assert err.value.size.n_edges == size.n_edges  # type: ignore[attr-defined]
    if watermark:  # building even 1 % of the graph would have taken > 150 MB
        assert peak_rss_bytes() - before < 150e6
    # the graph alone fits: without the metrics reserve the same budget is not exceeded by the estimate
    assert size.bytes <= 20e9


def test_peak_is_graph_plus_metrics_and_mem_mb_follows_it():
    e, n = 10_000_000, 200_000
    assert mge_budget.peak_bytes(e, n) == mge_budget.graph_bytes(e, n) + mge_budget.metric_bytes(e, n)
    kept = {"a": 1}
    assert mge_budget.mem_mb_for("nonexistent", (3, 32, 32), kept, fallback_mb=777) == 777


@pytest.mark.parametrize("model_name,shape", [("resnet20", (3, 32, 32)), ("conv6", (1, 16, 16))])
def test_tabulated_factors_reproduce_the_exact_edge_count(model_name, shape):
    model = models.init_model(model_name, shape, 10, seed=0)
    gen = torch.Generator().manual_seed(0)
    masks = {
        k: torch.rand(p.shape, generator=gen) < 0.1 for k, p in models.prunable_parameters(model).items()
    }
    exact = estimate_mge_size(model, masks, shape)
    kept = {k: int(m.sum()) for k, m in masks.items()}
    edges, nodes = mge_budget.estimated_edges(model_name, shape, kept)
    assert nodes == exact.n_nodes
    # mean edges per weight × kept weights: random masks keep border taps as often as interior ones
    assert edges == pytest.approx(exact.n_edges, rel=0.01)
    # dense: the factors are exact
    dense = estimate_mge_size(model, None, shape)
    full = {k: p.numel() for k, p in models.prunable_parameters(model).items()}
    assert mge_budget.estimated_edges(model_name, shape, full)[0] == pytest.approx(dense.n_edges, rel=1e-12)


def test_measure_mge_mem_mb_reads_the_mask_and_dataset_summaries(tmp_path):
    mask_json, data_json = tmp_path / "mask.json", tmp_path / "cifar10.json"
    # inputs not there yet (Snakemake evaluates resources again once they are): the fallback
    assert mge_budget.measure_mge_mem_mb(mask_json, data_json, "resnet20", 16000) == 16000
    model = models.build_model("resnet20", (3, 32, 32), 10)
    layers = [{"name": k, "kept": p.numel() // 50} for k, p in models.prunable_parameters(model).items()]
    mask_json.write_text(json.dumps({"layers": layers}))
    data_json.write_text(json.dumps({"input_shape": [3, 32, 32]}))
    mb = mge_budget.measure_mge_mem_mb(mask_json, data_json, "resnet20", 16000)
    edges, nodes = mge_budget.estimated_edges("resnet20", (3, 32, 32), {d["name"]: d["kept"] for d in layers})
    want = (
        mge_budget.PROCESS_BASE_BYTES + mge_budget.MEM_MB_MARGIN * mge_budget.peak_bytes(edges, nodes)
    ) / 1e6
    assert mb == pytest.approx(want, abs=1)
    assert 1300 < mb < 2000  # ResNet-20 at 98 %: ~1.3 M edges


def test_rule_resource_is_capped_by_the_budget(tmp_path):
    from types import SimpleNamespace

    mem_mb = mge_budget.measure_mge_resource(tmp_path, max_memory_gb=2)
    point = tmp_path / "cifar10" / "resnet20" / "mask.pt"
    point.parent.mkdir(parents=True)
    wc, inp = SimpleNamespace(dataset="cifar10", model="resnet20"), SimpleNamespace(mask=str(point))
    assert mem_mb(wc, inp) == 3200  # nothing written yet: the budget plus the process baseline
    model = models.build_model("resnet20", (3, 32, 32), 10)
    full = [{"name": k, "kept": p.numel()} for k, p in models.prunable_parameters(model).items()]
    point.with_suffix(".json").write_text(json.dumps({"layers": full}))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "cifar10.json").write_text(json.dumps({"input_shape": [3, 32, 32]}))
    assert mem_mb(wc, inp) == 3200  # dense ResNet-20 (~60 M edges) is over the 2 GB budget: capped
    sparse = [{"name": d["name"], "kept": d["kept"] // 50} for d in full]
    point.with_suffix(".json").write_text(json.dumps({"layers": sparse}))
    assert 1300 < mem_mb(wc, inp) < 2000
