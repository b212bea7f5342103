"""fullspectrum follows the published sampling protocol: the reference's coordinate (fixture), the
incumbent over the whole training set in eval mode, what the samples consume, noise where the reference
adds it, coordinates reported after the density correction, +inf kept by `alt`, warm-up weights stored."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from _counting_data import CountingDataset

from snntopo.errors import CheckpointError
from snntopo.metrics.fullspectrum import layer_coordinate
from snntopo.models import init_model, prunable_parameters
from snntopo.pruning import (
    ACCEPTANCE,
    fullspectrum_search,
    global_topk_masks,
    keep_count,
    load_masks,
    load_start_state,
    prune_for_training,
    save_masks,
    score_layers,
    search_table,
    snip_scores,
)
from snntopo.pruning.fullspectrum import warm_up
from snntopo.pruning.perturb import lock_bn_eval
from snntopo.pruning.registry import pruner_seed
from snntopo.utils import tensors_checksum

SHAPE = (1, 8, 8)
REFERENCE = Path(__file__).resolve().parents[3] / "shared/data/reference-outputs"


@pytest.fixture(scope="module")
def cnn():
    return init_model("cnn", SHAPE, 10, seed=0)


# ------------------------------------------------------------------------------------ reference fixture
def _fixture_case(double: bool):
    weights = np.load(REFERENCE / "resnet20-c10/weights.npz")
    model = init_model("resnet20", (3, 8, 8), 10, seed=1)
    model.load_state_dict({k: torch.from_numpy(weights[k]) for k in weights.files})
    model = model.double() if double else model
    masks_npz = np.load(REFERENCE / "resnet20-c10/snip_mask_s0.9.npz")
    masks = {k: torch.from_numpy(masks_npz[k]) for k in masks_npz.files}
    return {n: p.detach() for n, p in prunable_parameters(model).items()}, masks


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="reference outputs not available")
@pytest.mark.parametrize(("variant", "rel"), [("float64", 1e-9), ("float32", 1e-4)])
def test_coordinate_reproduces_the_reference_fixture(variant, rel):
    """dst-ram-pruning `total_spectrum_measurement` on the fixture's SNIP mask: the float64 run to 1e-9,
    the reference as shipped (float32 adjacency and ARPACK) to its stated 1e-4 relative."""
    w, masks = _fixture_case(double=variant == "float64")
    expected = json.loads((REFERENCE / "fullspectrum/fullspectrum.json").read_text())[variant]
    got = score_layers(w, masks)
    assert set(got) == set(expected) and len(got) == 22
    for name, ref in expected.items():
        assert int(masks[name].sum()) == ref["kept"]
        for key in ("dr", "lam", "dr_iter", "lam_iter", "norm"):
            want = math.inf if ref[key] == "inf" else ref[key]
            assert got[name][key] == pytest.approx(want, rel=rel, abs=1e-10), (name, key)


# ------------------------------------------------------------------------------- incumbent and samples
def test_incumbent_is_eval_mode_snip_over_the_whole_training_set(cnn):
    data = CountingDataset(300)
    incumbent = fullspectrum_search(cnn, 0.9, data, 7, base="snip", samples=0, batch_size=50).masks
    assert data.fetched == 300  # one pass over the training set, nothing more
    oracle = global_topk_masks(snip_scores(lock_bn_eval(copy.deepcopy(cnn)), data.x, data.y), 0.9)
    assert all(torch.equal(incumbent[n], oracle[n]) for n in oracle)
    train_mode = global_topk_masks(snip_scores(copy.deepcopy(cnn), data.x, data.y), 0.9)
    assert not all(torch.equal(incumbent[n], train_mode[n]) for n in oracle)  # the mode matters here


def test_incumbent_batches_bounds_the_incumbent_and_samples_take_4_batches(cnn):
    data = CountingDataset(300)
    fullspectrum_search(cnn, 0.9, data, 7, base="snip", samples=0, batch_size=50, incumbent_batches=2)
    assert data.fetched == 2 * 50
    data = CountingDataset(300)
    fullspectrum_search(cnn, 0.9, data, 7, base="snip", samples=3, batch_size=20)
    assert data.fetched == 300 + 3 * 4 * 20


@pytest.mark.parametrize(("bn_mode", "training"), [("eval", False), ("train", True)])
def test_base_pruners_score_in_the_chosen_bn_mode(cnn, bn_mode, training):
    """GraSP calls model.train() itself; the eval lock still holds (GraSP's own shape probe runs in eval
    mode, so a train-mode run sees both)."""
    model = copy.deepcopy(cnn)
    seen: list[bool] = []
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.register_forward_pre_hook(lambda mod, _inp: seen.append(mod.training))
    fullspectrum_search(model, 0.9, CountingDataset(200), 0, base="grasp", samples=1, bn_mode=bn_mode,
                        base_options={"samples_per_class": 2})  # fmt: skip
    assert seen and (set(seen) == {False} if not training else True in seen)


def test_noise_follows_the_reference_per_base(cnn):
    data = CountingDataset(200)
    protocols = {
        base: fullspectrum_search(cnn, 0.9, data, 0, base=base, samples=0, batch_size=20).protocol
        for base in ("snip", "iter_snip", "synflow", "random")
    }
    assert {b: p["noise"] for b, p in protocols.items()} == {
        "snip": 0.0, "iter_snip": 1.0, "synflow": 1.0, "random": 0.0}  # fmt: skip
    assert protocols["iter_snip"]["samples"]["options"]["preset"] == "neurips2023"
    assert protocols["iter_snip"]["samples"]["options"]["bn_mode"] == "eval"
    assert protocols["synflow"]["incumbent"]["options"]["iterations"] == 10


# -------------------------------------------------------------------- exact density and coordinates
def test_returned_mask_has_the_reported_coordinates_after_correction(cnn):
    masks, summary, state = prune_for_training("fullspectrum", cnn, 0.9, CountingDataset(), seed=1,
                                               base="random", samples=4)  # fmt: skip
    assert state is None and "start_weights" not in summary
    trace = summary["extras"]["fullspectrum"]
    assert trace["correction"]["added"] + trace["correction"]["removed"] > 0  # the correction did work
    total = sum(m.numel() for m in masks.values())
    assert sum(int(m.sum()) for m in masks.values()) == keep_count(total, 0.9)
    weights = {n: p.detach() for n, p in prunable_parameters(cnn).items()}
    for name, mask in masks.items():
        oracle = layer_coordinate(weights[name], mask)  # the metrics stage, on the returned mask
        reported = trace["layers"][name]
        assert reported["kept"] == int(mask.sum())
        assert reported["norm"] == pytest.approx(oracle["norm"], rel=1e-12, abs=1e-12), name
        assert reported["dr_iter"] == pytest.approx(oracle["dr_iter"], rel=1e-12, abs=1e-12), name
        before = trace["before_correction"]["layers"][name]
        assert before["kept"] + trace["correction"]["per_layer"][name] == reported["kept"]


def test_proportional_correction_moves_every_layer_by_the_same_factor(cnn):
    _, summary, _ = prune_for_training("fullspectrum", cnn, 0.9, CountingDataset(), seed=1, base="random",
                                       samples=4)  # fmt: skip
    trace = summary["extras"]["fullspectrum"]
    before = trace["before_correction"]
    factor = before["target"] / before["kept"]
    for name, layer in trace["layers"].items():
        assert abs(layer["kept"] - factor * before["layers"][name]["kept"]) < 1.0 + 1e-9, name


# --------------------------------------------------------------------------------------- alt and +inf
def test_alt_keeps_an_invalid_delta_r_at_plus_infinity():
    w = torch.randn(4, 6, generator=torch.Generator().manual_seed(0))
    sparse = torch.zeros(4, 6, dtype=torch.bool)
    sparse[0, 0] = True  # mean degree 1 < 3: invalid Δr
    scores = score_layers({"w": w}, {"w": sparse})["w"]
    assert scores["dr"] == math.inf and scores["norm"] == 0.0
    assert layer_coordinate(w, sparse)["dr"] == 0.0  # the metrics stage's inf → 0 is unchanged
    alt = ACCEPTANCE.get("alt")
    valid = {"dr": 1.0, "lam": 0.0, "dr_iter": 0.0, "lam_iter": 0.0, "norm": 0.0}
    assert alt(valid, scores) and not alt(scores, valid)  # any valid layer beats an invalid incumbent
    assert not alt(scores, scores)


def test_inf_is_written_as_text_and_read_back(cnn):
    _, summary, _ = prune_for_training("fullspectrum", cnn, 0.995, CountingDataset(), seed=0, base="random",
                                       samples=1, acceptance="alt", allow_collapse=True)  # fmt: skip
    text = json.dumps(summary, allow_nan=False)  # strict JSON
    assert '"inf"' in text
    assert any(r["dr"] == math.inf for r in search_table(json.loads(text)))


# --------------------------------------------------------------------------------------------- warm-up
def test_warm_up_weights_are_returned_stored_and_checked(cnn, tmp_path):
    data = CountingDataset()
    masks, summary, state = prune_for_training("fullspectrum", cnn, 0.9, data, seed=2, base="erk",
                                               samples=1, warmup_iterations=3, batch_size=32)  # fmt: skip
    warmed = copy.deepcopy(cnn)
    warm_up(warmed, data, 3, lr=0.1, batch_size=32, seed=pruner_seed(2, "fullspectrum:warmup"))
    assert (
        tensors_checksum(state) == tensors_checksum(warmed.state_dict()) != tensors_checksum(cnn.state_dict())
    )
    assert summary["start_weights"]["checksum"] == tensors_checksum(state)
    save_masks(tmp_path / "mask.pt", masks, summary, state)
    stored = load_start_state(tmp_path / "mask.pt")
    assert tensors_checksum(stored) == summary["start_weights"]["checksum"]
    assert tensors_checksum(load_masks(tmp_path / "mask.pt")) == tensors_checksum(masks)
    save_masks(tmp_path / "plain.pt", masks, {"pruner": "x"})
    assert load_start_state(tmp_path / "plain.pt") is None
    tampered = {k: v.clone() for k, v in state.items()}
    next(v for v in tampered.values() if v.is_floating_point()).add_(1.0)
    save_masks(tmp_path / "bad.pt", masks, summary, tampered)
    with pytest.raises(CheckpointError, match="checksum"):
        load_start_state(tmp_path / "bad.pt")
