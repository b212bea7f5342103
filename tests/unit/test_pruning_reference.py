"""Our pruners, with their DEFAULT options, reproduce the stored outputs of the reference implementations.

The fixtures (../shared/data/reference-outputs, README there) hold the outputs of the MGE study's code
(SNIP, GraSP, SynFlow, ER/ERK) and of mil-ad/prospr on fixed ResNet-20 weights (3×8×8 inputs) and fixed
batches, computed in float64. Each test loads the weights into our model, runs ``prune`` with default options
(GraSP: ``reinit=False``, since the fixture scores the given weights) and compares scores and masks within
the README's tolerances: scores within 1e-9 of the layer maximum (the reference's own sensitivity to 1e-12
relative perturbations is ≤ 5e-10), ER/ERK densities to 1e-12.

Kept-count convention. Ours is round((1−s)·N) (halves up) for every pruner; the references differ:
SNIP keeps int(N·(1−s)) = 27,089 (we keep one more), GraSP keeps its threshold entry, N − int(N·s) + 1 =
27,091 (we keep one fewer), ProsPr keeps ceil = 27,090 (= ours), SynFlow's last round ends at 27,093 of
weights + biases (we keep round(0.1·270,906) = 27,091). So masks must agree except for those few entries,
at most one per layer, and the entries in question must be the ones next to the threshold.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from snntopo.models import init_model
from snntopo.pruning import keep_count, prune, prune_and_summarize, pruner_options, synflow_scores
from snntopo.pruning.random import mge_er_probabilities
from snntopo.pruning.saliency import grasp_scores, prospr_scores, snip_scores, synflow_schedule

ROOT = Path(__file__).resolve().parents[3] / "shared" / "data" / "reference-outputs"
SCORE_TOL = 1e-9  # max |Δ| / max |fixture| per layer
DENSITY_TOL = 1e-12


def fixture_dir(name: str) -> Path:
    path = ROOT / name
    if not path.is_dir():
        pytest.skip(f"reference outputs not found at {path}")
    return path


def load_npz(path: Path) -> dict[str, torch.Tensor]:
    with np.load(path) as f:
        return {k: torch.from_numpy(f[k].copy()) for k in f.files}


def fixture_model(classes: int) -> torch.nn.Module:
    """Our ResNet-20 with the stored state_dict, in float64 and training mode (as the references ran)."""
    folder = fixture_dir(f"resnet20-c{classes}")
    model = init_model("resnet20", (3, 8, 8), classes, seed=1)
    model.load_state_dict(load_npz(folder / "weights.npz"), strict=True)
    return model.double().train()


def batch(classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    data = load_npz(fixture_dir(f"resnet20-c{classes}") / "batch.npz")
    return data["x"].double(), data["y"].long()


def assert_scores_match(ours: dict[str, torch.Tensor], ref: dict[str, torch.Tensor]) -> None:
    assert list(ours) == list(ref)
    for name, r in ref.items():
        err = float((ours[name].double() - r).abs().max() / r.abs().max().clamp_min(1e-300))
        assert err < SCORE_TOL, (name, err)


def kept_difference(ours: dict[str, torch.Tensor], ref: dict[str, torch.Tensor]) -> tuple[int, int]:
    """(entries only we keep, entries only the reference keeps); at most one of each per layer."""
    assert list(ours) == list(ref)
    only_ours = only_ref = 0
    for name, r in ref.items():
        a = int((ours[name] & ~r.bool()).sum())
        b = int((~ours[name] & r.bool()).sum())
        assert a <= 1 and b <= 1, (name, a, b)
        only_ours, only_ref = only_ours + a, only_ref + b
    return only_ours, only_ref


# ---------------------------------------------------------------------------------------------- SNIP
def test_snip_reproduces_the_mge_scores_and_mask():
    folder = fixture_dir("resnet20-c10")
    model = fixture_model(10)
    x, y = batch(10)
    data = [(x[:128], y[:128])]  # the reference's one loader batch
    assert_scores_match(snip_scores(model, *data[0]), load_npz(folder / "snip_scores.npz"))
    masks = prune("snip", model, 0.9, data, seed=0)
    ref = load_npz(folder / "snip_mask_s0.9.npz")
    assert sum(int(m.sum()) for m in masks.values()) == 27090 == keep_count(270896, 0.9)
    # the reference keeps int(N·0.1) = 27,089: ours is its mask plus the next-best weight
    assert kept_difference(masks, ref) == (1, 0)


# --------------------------------------------------------------------------------------------- GraSP
@pytest.mark.parametrize("classes", [10, pytest.param(100, marks=pytest.mark.slow)])  # 100: ~1 min
def test_grasp_reproduces_the_mge_scores_and_mask(classes):
    folder = fixture_dir(f"resnet20-c{classes}")
    model = fixture_model(classes)
    x, y = batch(classes)
    ref_scores = load_npz(folder / "grasp_scores.npz")
    # The reference's sample and BatchNorm batches: the class-sorted sample in two halves.
    defaults = pruner_options("grasp")
    ours = grasp_scores(model, x, y, temperature=defaults["temperature"], bn_batches=defaults["bn_batches"])
    assert_scores_match(ours, ref_scores)
    masks = prune("grasp", model, 0.9, [(x, y)], seed=0, reinit=False)  # defaults otherwise
    ref = load_npz(folder / "grasp_mask_s0.9.npz")
    total = sum(m.numel() for m in ref.values())
    assert sum(int(m.sum()) for m in masks.values()) == keep_count(total, 0.9)
    assert sum(int(m.sum()) for m in ref.values()) == total - int(total * 0.9) + 1
    # the reference also keeps its threshold entry: ours is its mask minus that one weight
    assert kept_difference(masks, ref) == (0, 1)


@pytest.mark.slow
def test_grasp_chunks_of_its_own_change_the_estimator():
    """Why chunking is not a default: per-chunk BatchNorm statistics move the 100-class mask."""
    model = fixture_model(100)
    x, y = batch(100)
    ref = load_npz(fixture_dir("resnet20-c100") / "grasp_mask_s0.9.npz")
    masks = prune("grasp", model, 0.9, [(x, y)], seed=0, reinit=False, chunk_size=125)
    ref_kept = sum(int(m.sum()) for m in ref.values())
    shared = sum(int((masks[n] & ref[n].bool()).sum()) for n in ref)
    assert shared / ref_kept < 0.95


# ------------------------------------------------------------------------------------------- SynFlow
def test_synflow_reproduces_the_mge_first_round_scores():
    folder = fixture_dir("resnet20-c10")
    ref = load_npz(folder / "synflow_scores_iter1.npz")
    assert list(ref)[-1] == "linear.bias"  # the reference scores the biases too; so does our default
    ours = synflow_scores(
        fixture_model(10), (3, 8, 8), prune_biases=pruner_options("synflow")["prune_biases"]
    )
    assert_scores_match(ours, ref)


def test_synflow_schedule_is_the_references_until_the_last_round():
    scalars = json.loads((fixture_dir("resnet20-c10") / "reference_scalars.json").read_text())["synflow"]
    ref = scalars["kept_weights_and_biases_after_each_round"]
    ours = synflow_schedule(270906, 0.9, pruner_options("synflow")["iterations"])
    assert ours[:-1] == ref[:-1]
    assert (ref[-1], ours[-1]) == (27093, keep_count(270906, 0.9))


def test_synflow_reproduces_the_mge_100_round_mask():
    folder = fixture_dir("resnet20-c10")
    model = fixture_model(10)
    masks = prune("synflow", model, 0.9, seed=0, input_shape=(3, 8, 8))
    ref = load_npz(folder / "synflow_mask_s0.9_iter100.npz")
    assert not masks["linear.bias"].any()  # all ten biases pruned, as in the reference
    # the reference's last round stops at 27,093 entries, ours at exactly 27,091: its mask minus two
    assert kept_difference(masks, ref) == (0, 2)


# -------------------------------------------------------------------------------------------- ProsPr
def prospr_batches() -> list[tuple[torch.Tensor, torch.Tensor]]:
    data = load_npz(fixture_dir("resnet20-c10") / "prospr_batches.npz")
    return [(data[f"x{i}"].double(), data[f"y{i}"].long()) for i in range(4)]


def test_prospr_reproduces_the_published_scores_and_mask():
    folder = fixture_dir("resnet20-c10")
    model = fixture_model(10)
    batches = prospr_batches()
    defaults = pruner_options("prospr")
    assert defaults["meta_steps"] == 3  # three inner steps on batches 0, 1, 2; batch 3 is the meta batch
    ours = prospr_scores(
        model, batches, inner_lr=defaults["inner_lr"], momentum=defaults["momentum"],
        meta_gradient=defaults["meta_gradient"], chunk_size=defaults["chunk_size"],
    )  # fmt: skip
    assert_scores_match(ours, load_npz(folder / "prospr_scores.npz"))
    masks = prune("prospr", model, 0.9, batches, seed=0)  # the four batches consumed as given
    ref = load_npz(folder / "prospr_mask_s0.9.npz")
    assert kept_difference(masks, ref) == (0, 0)


def test_prospr_exact_meta_gradient_is_a_different_quantity():
    model = fixture_model(10)
    ref = load_npz(fixture_dir("resnet20-c10") / "prospr_mask_s0.9.npz")
    masks = prune("prospr", model, 0.9, prospr_batches(), seed=0, meta_gradient="exact")
    shared = sum(int((masks[n] & ref[n].bool()).sum()) for n in ref)
    assert shared / 27090 < 0.8  # README: about half of the top-10 % agree


# ------------------------------------------------------------------------------------------- ER / ERK
def er_erk_fixture() -> dict:
    return json.loads((fixture_dir("resnet20-c10") / "er_erk_densities.json").read_text())


@pytest.mark.parametrize("sparsity", [0.6, 0.9, 0.98])
def test_erk_layer_densities_equal_the_mge_code(sparsity):
    ref = er_erk_fixture()[f"ERK@{sparsity}"]
    model = fixture_model(10)
    _, summary = prune_and_summarize("erk", model, sparsity, seed=0)
    for layer in summary["layers"]:  # our counts are the expected ones, made integral
        assert abs(layer["kept"] - ref["expected_density"][layer["name"]] * layer["numel"]) < 1, layer["name"]


@pytest.mark.parametrize("sparsity", [0.6, 0.9, 0.98])
def test_mge_er_expected_densities_equal_the_mge_code(sparsity):
    ref = er_erk_fixture()[f"ER@{sparsity}"]
    model = fixture_model(10)
    shapes = {n: tuple(p.shape) for n, p in model.named_parameters() if n in ref["expected_density"]}
    probabilities, eps = mge_er_probabilities(shapes, float(1 - sparsity))
    assert abs(eps - ref["epsilon"]) <= DENSITY_TOL * ref["epsilon"]
    for name, p in probabilities.items():
        assert abs(p - ref["probability_raw"][name]) <= DENSITY_TOL * max(1.0, p), name
    # through the pruner: expected densities recorded, achieved sparsity recorded (never re-filled)
    _, summary = prune_and_summarize("er", model, sparsity, seed=0, variant="mge")
    expected = summary["extras"]["expected_layer_density"]
    assert all(abs(expected[n] - ref["expected_density"][n]) <= DENSITY_TOL for n in expected)
    assert abs(summary["extras"]["expected_density"] - ref["expected_global_density"]) < DENSITY_TOL
    kept = summary["global"]["kept"]
    assert abs(kept - ref["expected_kept_total"]) < 5 * np.sqrt(ref["expected_kept_total"])
    assert kept < keep_count(ref["total"], sparsity)  # fewer than asked, as the reference
    assert summary["global"]["sparsity"] == pytest.approx(1 - kept / ref["total"])
