"""Training recipes: the MGE defaults of docs/method/training.md, the digits recipe, validated overrides."""

import re

import pytest

from snntopo.errors import InvalidValueError, UnknownNameError
from snntopo.training import RECIPES, Recipe, recipe_for


@pytest.mark.parametrize("dataset", ["cifar10", "cifar100"])
@pytest.mark.parametrize(("model", "wd"), [("resnet20", 1e-4), ("conv6", 1e-4), ("wrn28_2", 5e-4)])
def test_cifar_recipe_is_the_study_recipe(dataset, model, wd):
    r = recipe_for(dataset, model)
    assert (r.epochs, r.batch_size, r.lr, r.momentum, r.nesterov) == (160, 128, 0.1, 0.9, False)
    assert (r.scheduler, r.milestones, r.gamma, r.weight_decay) == ("multistep", (80, 120), 0.1, wd)
    assert r.mode == "pai"


@pytest.mark.parametrize(
    ("model", "milestones", "wd"),
    [("conv6", (20, 60, 80), 1e-4), ("resnet32", (30, 60, 80), 1e-4), ("wrn28_2", (30, 60, 80), 5e-4)],
)
def test_tiny_imagenet_recipe(model, milestones, wd):
    r = recipe_for("tinyimagenet", model)
    assert (r.epochs, r.milestones, r.weight_decay, r.lr, r.batch_size) == (100, milestones, wd, 0.1, 128)


def test_digits_recipe_is_short():
    r = recipe_for("digits", "resnet20")
    assert r.epochs <= 20 and r.scheduler == "cosine"


def test_overrides_replace_fields_and_normalise_types():
    r = recipe_for("cifar10", "resnet20", {"epochs": 2, "milestones": [1], "lr": 1, "amp": True})
    assert (r.epochs, r.milestones, r.lr, r.amp) == (2, (1,), 1.0, True)
    assert isinstance(r.lr, float)
    assert r.as_dict() == {**Recipe().as_dict(), "epochs": 2, "milestones": [1], "lr": 1.0, "amp": True}
    assert (
        recipe_for("cifar10", "resnet20", {"lr": 1}).as_dict()
        == recipe_for("cifar10", "resnet20", {"lr": 1.0}).as_dict()
    )


def test_unknown_override_key_names_key_and_accepted_keys():
    with pytest.raises(InvalidValueError, match=re.escape("'learning_rate'")) as err:
        recipe_for("cifar10", "resnet20", {"learning_rate": 0.1})
    assert "lr" in err.value.accepted and "weight_decay" in err.value.accepted


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("epochs", 0), ("epochs", 2.5), ("batch_size", True), ("lr", 0), ("lr", float("nan")),
        ("momentum", 1.0), ("weight_decay", -1e-4), ("gamma", 0), ("scheduler", "step"),
        ("milestones", [120, 80]), ("milestones", [0]), ("milestones", 80), ("amp", "yes"),
        ("amp_dtype", "fp8"), ("mode", "sgd"), ("eval_every", 0), ("num_workers", -1),
    ],
)  # fmt: skip
def test_invalid_values_name_the_field(key, value):
    with pytest.raises(InvalidValueError, match=f"recipe {key}"):
        recipe_for("cifar10", "resnet20", {key: value})


def test_nesterov_needs_momentum():
    with pytest.raises(InvalidValueError, match="nesterov"):
        recipe_for("digits", "cnn", {"nesterov": True, "momentum": 0.0})


def test_unknown_dataset_lists_known_recipes():
    with pytest.raises(UnknownNameError, match="cifar10"):
        recipe_for("mnist", "resnet20")
    assert {"cifar10", "cifar100", "tinyimagenet", "digits"} <= set(RECIPES.names())
