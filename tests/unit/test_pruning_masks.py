"""Mask format and helpers: exact global top-k, apportionment, save/load, apply, summary."""

import json

import pytest
import torch

from snntopo.errors import CheckpointError, InvalidValueError
from snntopo.models import init_model, prunable_parameters
from snntopo.pruning import (
    apply_masks,
    apportion,
    global_topk_masks,
    keep_count,
    load_mask_summary,
    load_masks,
    prune,
    prune_and_summarize,
    save_masks,
    start_from_mask,
    summarize,
)
from snntopo.utils import tensors_checksum


@pytest.mark.parametrize(
    ("total", "sparsity", "kept"),
    [(270_000, 0.9, 27_000), (832, 0.6, 333), (3, 0.5, 2), (10, 0.0, 10), (7, 0.98, 0), (1000, 0.98, 20)],
)
def test_keep_count_rounds_half_up(total, sparsity, kept):
    # 0.4·832 = 332.8 → 333; 0.5·3 = 1.5 → 2 (not banker's rounding); 0.02·7 = 0.14 → 0
    assert keep_count(total, sparsity) == kept


def test_global_topk_keeps_the_largest_across_tensors():
    scores = {"a": torch.tensor([[5.0, 1.0], [3.0, 7.0]]), "b": torch.tensor([2.0, 6.0, 4.0, 0.0])}
    masks = global_topk_masks(scores, keep=3)  # 7, 6, 5
    assert masks["a"].tolist() == [[True, False], [False, True]]
    assert masks["b"].tolist() == [False, True, False, False]
    assert masks["a"].dtype == torch.bool
    # sparsity form: keep round(0.5·8) = 4 → 7, 6, 5, 4
    assert global_topk_masks(scores, 0.5)["b"].tolist() == [False, True, True, False]


def test_global_topk_ties_are_exact_and_deterministic():
    scores = {"a": torch.ones(2, 3), "b": torch.ones(4)}
    masks = global_topk_masks(scores, keep=4)
    # ties broken in favour of the earlier position: all of a's first row, then a[1, 0]
    assert masks["a"].tolist() == [[True, True, True], [True, False, False]]
    assert not masks["b"].any()
    mixed = {"a": torch.tensor([1.0, 2.0, 2.0, 2.0, 3.0])}
    assert global_topk_masks(mixed, keep=3)["a"].tolist() == [False, True, True, False, True]


def test_global_topk_never_keeps_minus_inf_when_it_can_avoid_it_and_rejects_nan():
    scores = {"a": torch.tensor([-torch.inf, 0.0, -torch.inf, 0.0])}
    assert global_topk_masks(scores, keep=2)["a"].tolist() == [False, True, False, True]
    with pytest.raises(InvalidValueError, match="'b'"):
        global_topk_masks({"a": torch.ones(2), "b": torch.tensor([1.0, float("nan")])}, keep=1)
    with pytest.raises(TypeError):
        global_topk_masks(scores)
    with pytest.raises(InvalidValueError):
        global_topk_masks(scores, keep=5)


def test_apportion_is_exact_and_within_one_of_each_target():
    sizes = {"a": 10, "b": 10, "c": 10}
    counts = apportion({"a": 3.4, "b": 3.4, "c": 3.2}, sizes, 10)
    assert counts == {"a": 4, "b": 3, "c": 3}  # largest remainder, ties in layer order
    counts = apportion({"a": 9.7, "b": 0.2, "c": 0.1}, sizes, 10)
    assert counts == {"a": 10, "b": 0, "c": 0}
    # targets that are inconsistent by float error still land on the exact total
    counts = apportion({"a": 5.0000000001, "b": 4.9999999999, "c": 0.0}, sizes, 10)
    assert sum(counts.values()) == 10


@pytest.fixture
def mlp():
    return init_model("mlp", (1, 4, 4), 10, seed=0)


def test_apply_masks_zeroes_exactly_the_pruned_entries(mlp):
    before = {n: p.detach().clone() for n, p in mlp.named_parameters()}
    masks = prune("random", mlp, 0.7, seed=3)
    apply_masks(mlp, masks)
    for name, p in mlp.named_parameters():
        expected = before[name] * masks[name] if name in masks else before[name]
        assert torch.equal(p.detach(), expected)
    with pytest.raises(CheckpointError, match=r"1\.weight"):
        apply_masks(mlp, {n: m for n, m in masks.items() if n != "1.weight"})


def test_save_load_round_trip_and_json_summary(tmp_path, mlp):
    masks, summary = prune_and_summarize("erk", mlp, 0.9, seed=1)
    path = tmp_path / "point" / "mask.pt"
    save_masks(path, masks, summary)
    loaded = load_masks(path, mlp)
    assert list(loaded) == list(masks)
    assert all(torch.equal(loaded[n], masks[n]) for n in masks)
    on_disk = json.loads(path.with_suffix(".json").read_text())
    assert on_disk == load_mask_summary(path) == json.loads(json.dumps(summary))
    assert on_disk["pruner"] == "erk" and on_disk["options"] == {"power": 1.0, "allow_collapse": False}
    assert on_disk["init_checksum"] == tensors_checksum(mlp.state_dict())
    assert on_disk["mask_checksum"] == tensors_checksum(masks)
    assert [layer["name"] for layer in on_disk["layers"]] == list(prunable_parameters(mlp))
    assert on_disk["layers"][0]["shape"] == [32, 16]
    assert (
        sum(layer["kept"] for layer in on_disk["layers"]) == on_disk["global"]["kept"] == keep_count(832, 0.9)
    )
    assert on_disk["global"]["sparsity"] == pytest.approx(0.9, abs=1 / 832)
    assert on_disk["collapsed_layers"] == []
    assert not list(path.parent.glob(".*.tmp"))  # atomic writes leave no temporaries


def test_start_from_mask_loads_the_stored_start_weights_only_when_there_are_some(tmp_path, mlp):
    masks, summary = prune_and_summarize("erk", mlp, 0.9, seed=1)
    init = {k: v.clone() for k, v in mlp.state_dict().items()}
    warmed = {k: v + 1.0 if v.is_floating_point() else v for k, v in init.items()}
    save_masks(tmp_path / "plain.pt", masks, summary)
    warm_summary = {**summary, "start_weights": {"source": "test", "checksum": tensors_checksum(warmed)}}
    save_masks(tmp_path / "warm.pt", masks, warm_summary, start_state=warmed)
    assert not start_from_mask(mlp, tmp_path / "plain.pt")
    assert tensors_checksum(mlp.state_dict()) == tensors_checksum(init)
    assert start_from_mask(mlp, tmp_path / "warm.pt")
    assert tensors_checksum(mlp.state_dict()) == tensors_checksum(warmed) != tensors_checksum(init)


def test_load_errors_name_the_file_or_the_layer(tmp_path, mlp):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_masks(tmp_path / "nope.pt")
    bad = tmp_path / "mask.pt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match=r"mask\.pt.*corrupt"):
        load_masks(bad)
    torch.save({"weights": 1}, bad)
    with pytest.raises(CheckpointError, match="not a mask file"):
        load_masks(bad)
    masks = prune("random", mlp, 0.5)
    save_masks(bad, masks, summarize(masks, mlp))
    other = init_model("mlp", (1, 4, 4), 10, seed=0, hidden=(16,))
    with pytest.raises(CheckpointError, match=r"'1\.weight' has shape \(32, 16\)"):
        load_masks(bad, other)
    cnn = init_model("cnn", (1, 8, 8), 10, seed=0)
    with pytest.raises(CheckpointError, match=r"no mask for layer\(s\) conv1\.weight"):
        load_masks(bad, cnn)


def test_summary_counts_biases_separately(mlp):
    masks = prune("random", mlp, 0.5, seed=0, prune_biases=True)
    assert list(masks) == ["1.weight", "3.weight", "1.bias", "3.bias"]
    summary = summarize(masks, mlp)
    total = 832 + 42
    assert summary["global"]["kept"] + summary["biases"]["kept"] == keep_count(total, 0.5)
    assert summary["biases"]["total"] == 42
    assert [layer["name"] for layer in summary["layers"]] == ["1.weight", "3.weight"]
