"""Every pruner of config/paper.yaml, with its options there, can prune → train one step → be measured.

Driven by the configuration file itself, so a pruner added to it later (or an option that some later stage
cannot digest, such as the bias masks of ``random: {prune_biases: true}``) fails here before a sweep of
thousands of jobs fails. A tiny CNN (with a Linear bias, so bias masks occur) on random data stands in
for the study's networks; the metric families and options are the paper's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from torch.utils.data import TensorDataset

from snntopo.config import validate_config
from snntopo.measure_plan import encodings_for, families_for
from snntopo.metrics.measure import measure
from snntopo.models import init_model, prunable_parameters
from snntopo.pruning import prune_and_summarize
from snntopo.pruning.masks import prunable_biases
from snntopo.training import MaskApplier, TrainStep, recipe_for

ROOT = Path(__file__).resolve().parents[2]
PAPER = ROOT / "config" / "paper.yaml"
SHAPE, CLASSES, SPARSITY = (1, 8, 8), 10, 0.9


def paper_config() -> dict:
    """paper.yaml as the workflow sees it: validated, with the schema's defaults filled in."""
    return validate_config(yaml.safe_load(PAPER.read_text()), ROOT / "config" / "schema.yaml")


def paper_pruners() -> list[tuple[str, dict]]:
    """(name, options) of every pruner the paper sweep runs, DST initial pruner included."""
    config = paper_config()
    pruners = {name: dict(options or {}) for name, options in config["pruners"].items()}
    dst = config.get("dst") or {}
    if dst.get("algorithms"):
        init = dst.get("init_pruner", "erk")
        pruners.setdefault(init, {})
    return [(name, {k: v for k, v in opts.items() if k != "sparsities"}) for name, opts in pruners.items()]


def test_the_paper_runs_the_mge_er_and_a_bias_pruning_uniform():
    pruners = dict(paper_pruners())
    assert pruners["er"] == {"variant": "mge"}
    assert pruners["random"] == {"prune_biases": True}


@pytest.mark.parametrize(("name", "options"), paper_pruners(), ids=[n for n, _ in paper_pruners()])
def test_every_paper_pruner_prunes_trains_one_step_and_is_measured(name, options):
    gen = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(600, *SHAPE, generator=gen), torch.arange(600) % CLASSES)
    model = init_model("cnn", SHAPE, CLASSES, seed=0)
    init_state = {k: v.clone() for k, v in model.state_dict().items()}
    masks, summary = prune_and_summarize(name, model, SPARSITY, data, seed=0, **options)
    assert summary["options"] == {**summary["options"], **options}

    # one masked training step (the study's recipe, biases trainable so a bias mask has work to do)
    recipe = recipe_for("digits", "cnn", {"epochs": 1, "batch_size": 32, "freeze_biases": False})
    with torch.no_grad():
        for bias in prunable_biases(model).values():
            bias.fill_(0.1)  # non-zero, so a pruned bias that is not held at zero would show
    step = TrainStep(model, masks, recipe, torch.device("cpu"))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    loss, _ = step(data.tensors[0][:32], data.tensors[1][:32])
    assert torch.isfinite(loss)
    params = dict(model.named_parameters())
    for key, mask in masks.items():
        assert not params[key][~mask].any(), key  # pruned weights and biases are exactly zero
    moved = [n for n in prunable_parameters(model) if not torch.equal(before[n], params[n])]
    assert moved, "the training step changed no weight"
    assert isinstance(step.applier, MaskApplier) and len(step.applier) == len(masks)

    # measure: every encoding and family of the paper's metrics section, on the trained weights
    metrics = paper_config()["metrics"]
    families = metrics["families"]
    for encoding in encodings_for(families):
        values, _, _ = measure(
            model, masks, SHAPE, encoding, families_for(encoding, families),
            options=metrics, init_state=init_state, seed=0,
        )  # fmt: skip
        assert set(values) == set(families_for(encoding, families))
        assert all(values[f] for f in values), (encoding, values)
