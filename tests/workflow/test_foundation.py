"""A real Snakemake run of the foundation rules: dataset cache and seeded initial models."""

import json

import pytest
import torch

from snntopo.models import init_model

pytestmark = pytest.mark.workflow


def test_dataset_and_init_rules_run_and_are_reproducible(workflow):
    workflow.write_config({"datasets": {"digits": {"size": 8}}, "models": ["mlp", "cnn"], "seeds": [0, 3]})
    targets = [f"results/digits/{m}/seed{s}/init.pt" for m in ("mlp", "cnn") for s in (0, 3)]
    workflow.run(*targets)
    info = json.loads((workflow.path / "results/data/digits.json").read_text())
    assert info["input_shape"] == [1, 8, 8]
    assert info["num_classes"] == 10
    for model in ("mlp", "cnn"):
        for seed in (0, 3):
            path = workflow.path / f"results/digits/{model}/seed{seed}/init.pt"
            saved = torch.load(path, weights_only=True)
            expected = init_model(model, (1, 8, 8), 10, seed=seed).state_dict()
            assert saved["state_dict"].keys() == expected.keys()
            assert all(torch.equal(saved["state_dict"][k], v) for k, v in expected.items())
            assert (workflow.path / f"results/logs/init_model/digits/{model}/seed{seed}.log").exists()
    # Nothing changed ⇒ nothing to do.
    assert "Nothing to be done" in workflow.run(*targets).stderr


def test_config_errors_fail_fast_naming_the_key(workflow):
    bad = {"datasets": {"digits": {}}, "modles": ["mlp"], "models": ["mlp"], "seeds": [0]}
    workflow.write_config(bad)
    proc = workflow.run("-n", check=False)
    assert proc.returncode != 0
    assert "unknown key 'modles'" in proc.stdout + proc.stderr
    assert not (workflow.path / "results").exists()
