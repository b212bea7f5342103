"""The schema's entries for the options of er, grasp, prospr and synflow agree with the pruners: enums equal
the registries, defaults equal the signatures' defaults, and bad values are rejected naming the key."""

from pathlib import Path

import pytest

from snntopo.config import ConfigError, load_schema, validate_config
from snntopo.pruning import pruner_options
from snntopo.pruning.random import ER_VARIANTS
from snntopo.pruning.saliency import _DTYPES, META_GRADIENTS

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = load_schema(ROOT / "config/schema.yaml")
PRUNERS = SCHEMA["properties"]["pruners"]["properties"]
DESCRIBED = ["er", "grasp", "prospr", "synflow", "iter_snip", "fullspectrum"]


def minimal(**extra):
    return {"datasets": {"digits": {}}, "models": ["mlp"], "seeds": [0], **extra}


def test_enums_equal_the_registries():
    assert PRUNERS["er"]["properties"]["variant"]["enum"] == sorted(ER_VARIANTS)
    assert PRUNERS["prospr"]["properties"]["meta_gradient"]["enum"] == sorted(META_GRADIENTS)
    assert PRUNERS["synflow"]["properties"]["dtype"]["enum"] == sorted(_DTYPES)


@pytest.mark.parametrize("pruner", DESCRIBED)
def test_every_option_is_described_with_the_pruners_default(pruner):
    props = {k: v for k, v in PRUNERS[pruner]["properties"].items() if k != "sparsities"}
    defaults = {k: v for k, v in pruner_options(pruner).items() if k != "allow_collapse"}
    assert set(props) == set(defaults)
    for key, entry in props.items():
        assert entry["description"].strip(), key
        assert entry["default"] == defaults[key], key


def test_filled_in_defaults_are_accepted_by_the_pruners():
    cfg = validate_config(minimal(pruners={p: {} for p in DESCRIBED}), SCHEMA)
    for pruner in DESCRIBED:
        assert pruner_options(pruner, **cfg["pruners"][pruner])  # no unknown option, no bad value


@pytest.mark.parametrize(
    ("pruners", "culprit"),
    [
        ({"er": {"variant": "set"}}, "variant"),
        ({"grasp": {"bn_batches": 0}}, "bn_batches"),
        ({"grasp": {"chunk_size": "half"}}, "chunk_size"),
        ({"prospr": {"meta_gradient": "full"}}, "meta_gradient"),
        ({"synflow": {"prune_biases": "yes"}}, "prune_biases"),
    ],
)
def test_bad_values_are_rejected_naming_the_key(pruners, culprit):
    with pytest.raises(ConfigError, match=culprit):
        validate_config(minimal(pruners=pruners), SCHEMA)
