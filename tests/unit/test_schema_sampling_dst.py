"""The schema's iter_snip, fullspectrum and DST option entries agree with the library: enums equal the
registries, defaults equal the pruners' signature defaults, and bad values are rejected naming the key."""

from pathlib import Path

import pytest

from snntopo.config import ConfigError, load_schema, validate_config
from snntopo.pruning import ACCEPTANCE
from snntopo.pruning.fullspectrum import CORRECTIONS
from snntopo.pruning.perturb import BN_MODES
from snntopo.pruning.saliency import ITER_SNIP_PRESETS
from snntopo.training import DST_PRESETS

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = load_schema(ROOT / "config/schema.yaml")
PRUNERS = SCHEMA["properties"]["pruners"]["properties"]


def minimal(**extra):
    return {"datasets": {"digits": {}}, "models": ["mlp"], "seeds": [0], **extra}


def test_enums_equal_the_registries():
    assert PRUNERS["iter_snip"]["properties"]["preset"]["enum"] == ITER_SNIP_PRESETS.names()
    assert PRUNERS["fullspectrum"]["properties"]["acceptance"]["enum"] == ACCEPTANCE.names()
    assert PRUNERS["fullspectrum"]["properties"]["correction"]["enum"] == CORRECTIONS.names()
    assert PRUNERS["fullspectrum"]["properties"]["bn_mode"]["enum"] == BN_MODES.names()
    assert PRUNERS["iter_snip"]["properties"]["bn_mode"]["enum"] == [*BN_MODES.names(), None]
    assert SCHEMA["$defs"]["dst_options"]["properties"]["preset"]["enum"] == DST_PRESETS.names()


def test_dst_options_are_described():
    for key in SCHEMA["$defs"]["dst_options"]["properties"]:
        assert SCHEMA["$defs"]["dst_options"]["properties"][key]["description"].strip()


def test_defaults_filled_in_are_the_pruners_own():
    cfg = validate_config(minimal(pruners={"iter_snip": {}, "fullspectrum": {"samples": 3}}), SCHEMA)
    assert cfg["pruners"]["iter_snip"]["preset"] == "iclr2023"
    assert cfg["pruners"]["fullspectrum"]["samples"] == 3
    assert cfg["pruners"]["fullspectrum"]["incumbent_batches"] is None


@pytest.mark.parametrize(
    ("cfg", "culprit"),
    [
        (minimal(pruners={"iter_snip": {"preset": "iclr"}}), "preset"),
        (minimal(pruners={"iter_snip": {"batches_per_round": "some"}}), "batches_per_round"),
        (minimal(pruners={"fullspectrum": {"correction": "none"}}), "correction"),
        (minimal(pruners={"fullspectrum": {"bn_mode": "frozen"}}), "bn_mode"),
        (minimal(dst={"algorithms": {"set": {"preset": "set-paper"}}}), "preset"),
        (minimal(dst={"algorithms": {"snfs": {"inherit_momentum": "yes"}}}), "inherit_momentum"),
        (minimal(training={"dst": {"preset": "rigl"}}), "preset"),
    ],
)
def test_bad_values_name_the_key(cfg, culprit):
    with pytest.raises(ConfigError, match=culprit):
        validate_config(cfg, SCHEMA)
