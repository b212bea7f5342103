"""Config validation: schema enums equal the registries; bad configs fail naming key and accepted values."""

from pathlib import Path

import pytest
import yaml

from snntopo.config import ConfigError, load_schema, validate_config
from snntopo.models import MODELS

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = load_schema(ROOT / "config/schema.yaml")


def default_config() -> dict:
    return yaml.safe_load((ROOT / "config/config.yaml").read_text())


def test_default_config_is_valid_and_defaults_are_filled():
    cfg = default_config()
    del cfg["device"]
    out = validate_config(cfg, SCHEMA)
    assert out["device"] == "auto"
    assert "device" not in cfg  # the caller's dict is not modified


def test_schema_model_enum_equals_model_registry():
    assert SCHEMA["properties"]["models"]["items"]["enum"] == MODELS.names()


def test_schema_dataset_enum_equals_dataset_registry():
    from snntopo.data import DATASETS

    assert SCHEMA["properties"]["datasets"]["propertyNames"]["enum"] == DATASETS.names()


def test_misspelt_key_is_named_with_suggestion_and_accepted_keys():
    cfg = default_config()
    cfg["modles"] = cfg.pop("models")
    with pytest.raises(ConfigError) as err:
        validate_config(cfg, SCHEMA)
    msg = str(err.value)
    assert "unknown key 'modles'" in msg
    assert "did you mean 'models'" in msg
    assert "accepted keys:" in msg and "seeds" in msg


def test_unknown_model_lists_accepted_models():
    cfg = default_config()
    cfg["models"] = ["resnet20", "vgg16"]
    with pytest.raises(ConfigError) as err:
        validate_config(cfg, SCHEMA)
    msg = str(err.value)
    assert "models[1]: 'vgg16' is not accepted" in msg
    assert all(name in msg for name in MODELS.names())


def test_unknown_dataset_name_is_reported():
    cfg = default_config()
    cfg["datasets"] = {"mnist": {}}
    with pytest.raises(ConfigError, match=r"datasets: 'mnist' is not accepted; accepted: .*digits"):
        validate_config(cfg, SCHEMA)


def test_negative_seed_reports_range():
    cfg = default_config()
    cfg["seeds"] = [-1]
    with pytest.raises(ConfigError, match=r"seeds\[0\]: -1 is out of range; accepted: ≥ 0"):
        validate_config(cfg, SCHEMA)


def test_schema_pruner_enum_equals_pruner_registry():
    from snntopo.pruning import PRUNERS

    assert SCHEMA["properties"]["pruners"]["propertyNames"]["enum"] == PRUNERS.names()


def test_schema_dst_enums_equal_the_registries():
    from snntopo.pruning import PRUNERS
    from snntopo.training import DST_ALGORITHMS

    dst = SCHEMA["properties"]["dst"]["properties"]
    assert dst["algorithms"]["propertyNames"]["enum"] == DST_ALGORITHMS.names()
    assert dst["init_pruner"]["enum"] == PRUNERS.names()
    assert SCHEMA["properties"]["training"]["properties"]["mode"]["enum"] == ["pai", "dst"]


def test_schema_dst_topology_families_are_the_library_s():
    from snntopo.metrics.evolution import DEFAULT_FAMILIES, TOPOLOGY_FAMILIES

    dst = SCHEMA["properties"]["dst"]["properties"]
    assert dst["topology_families"]["items"]["enum"] == list(TOPOLOGY_FAMILIES)
    assert dst["topology_families"]["default"] == list(DEFAULT_FAMILIES)
    cfg = validate_config(default_config(), SCHEMA)["dst"]
    assert cfg["topology_families"] == list(DEFAULT_FAMILIES) and cfg["topology_every"] == 1


def test_dst_section_and_per_pruner_sparsities_are_validated():
    cfg = default_config()
    assert validate_config(cfg, SCHEMA)["dst"]["init_pruner"] == "erk"
    cfg["dst"]["algorithms"]["rigl2"] = {}
    with pytest.raises(ConfigError, match=r"dst\.algorithms: 'rigl2' is not accepted.*did you mean 'rigl'"):
        validate_config(cfg, SCHEMA)
    cfg = default_config()
    cfg["pruners"]["snip"] = {"sparsities": [1.0]}
    with pytest.raises(ConfigError, match=r"pruners\.snip\.sparsities\[0\]: 1\.0 is out of range"):
        validate_config(cfg, SCHEMA)
