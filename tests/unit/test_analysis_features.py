"""Feature sets mean one thing: Ramanujan sets hold only Ramanujan quantities, named alike on both routes."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from _analysis_sample import sample_dir

from snntopo.analysis import AnalysisConfig, load_published_tables, restrict_to_pruners, run_regression
from snntopo.analysis.collect import flatten_metrics
from snntopo.analysis.features import (
    RAMANUJAN_MGE,
    RAMANUJAN_QUANTITIES,
    parse_columns,
    select_features,
    why_no_columns,
)
from snntopo.errors import InvalidValueError
from snntopo.metrics import compute
from snntopo.metrics.ramanujan import LAYER_KEYS, layer_ramanujan


def _our_columns() -> list[str]:
    """The columns our pipeline writes for a two-layer network: the metrics stage, then the collect step."""
    g = torch.Generator().manual_seed(0)
    layers = [
        (name, torch.randn(shape, generator=g), torch.rand(shape, generator=g) < 0.5)
        for name, shape in (("conv.weight", (8, 3, 3, 3)), ("fc.weight", (10, 8)))
    ]
    families = {f: compute(f, layers, **kw) for f, kw in (("ramanujan", {"variant": "mge"}), ("density", {}))}
    return [*flatten_metrics({"families": families}), "mge:motif"]


OUR_COLUMNS = _our_columns()


def _metrics(columns: list[str]) -> set[str]:
    return set(parse_columns(columns)["metric"])


def test_ramanujan_set_is_the_three_normalised_quantities_per_layer():
    cols = select_features("ramanujan", OUR_COLUMNS)
    assert cols == sorted(f"ramanujan:L{i:02d}:{m}" for i in range(2) for m in RAMANUJAN_MGE)
    assert _metrics(cols) == {"delta_r_norm", "imdb_norm", "iter_spectral_gap"}


@pytest.mark.parametrize(
    "name", ["ramanujan", "ramanujan_all", "ramanujan_raw", "ramanujan_dr", "ramanujan_imdb"]
)
def test_no_ramanujan_set_holds_counts_degrees_or_densities(name):
    metrics = _metrics(select_features(name, OUR_COLUMNS))
    assert metrics and metrics <= set(RAMANUJAN_QUANTITIES)
    # edges / numel of a layer is its density; the degrees, sizes and raw eigenvalues follow from the counts
    forbidden = {"edges", "n_left", "n_right", "d_left", "d_right", "mu0", "mu_hat", "density", "valid"}
    assert not metrics & forbidden


def test_the_left_out_keys_are_exactly_sizes_counts_and_raw_spectra():
    assert set(RAMANUJAN_QUANTITIES) <= set(LAYER_KEYS)
    assert set(LAYER_KEYS) - set(RAMANUJAN_QUANTITIES) == {
        "n_left",
        "n_right",
        "edges",
        "d_left",
        "d_right",
        "mu0",
        "mu_hat",
        "expansion_ratio",
        "valid",
        "n_subgraphs",
        "iter_expansion_mean",
        "iter_expansion_max",
    }


def test_raw_and_normalised_imdb_are_different_sets():
    assert _metrics(select_features("ramanujan_raw", OUR_COLUMNS)) == {"delta_r", "imdb", "iter_spectral_gap"}
    assert _metrics(select_features("ramanujan_imdb", OUR_COLUMNS)) == {"imdb_norm"}


def test_imdb_norm_is_the_published_iterative_degree_bound_on_a_hand_computed_layer():
    # K_{4,4}: every degree 4, spectrum ±4 and zeros, so μ̂ = 0 and ub_r = 2·√3. One degree group (d = 4,
    # kept by the mge variant's d ≥ 3) whose subgraph is the whole layer:
    # Δr = 2√3, Δr_norm = 1, IMDB (mean Δr) = 2√3, IMDB_norm (mean Δr_norm) = 1.
    r = layer_ramanujan(np.ones((4, 4)), "mge")
    assert r["delta_r"] == pytest.approx(2 * math.sqrt(3))
    assert r["delta_r_norm"] == pytest.approx(1.0)
    assert r["imdb"] == pytest.approx(2 * math.sqrt(3))
    assert r["imdb_norm"] == pytest.approx(1.0)
    # the published iterative_degree_bound is a mean of Δr_norm = 1 − μ̂/ub_r, so never above 1: it is
    # imdb_norm (a mean raw Δr reaches 2√3 on this layer)
    raw = pd.read_csv(sample_dir() / "ramanujan-rolled-CIFAR-10-Resnet-20.csv")
    finite = raw["iterative_degree_bound"][np.isfinite(raw["iterative_degree_bound"])]
    assert len(finite) > 1000 and finite.max() <= 1.0


def test_both_routes_give_the_ramanujan_set_the_same_names():
    published = load_published_tables(sample_dir())
    ours = select_features("ramanujan", OUR_COLUMNS)
    theirs = select_features("ramanujan", published.columns)
    assert _metrics(theirs) == _metrics(ours) == set(RAMANUJAN_MGE)
    # network means used by the unsupervised rankings exist on both routes under one name
    for metric in RAMANUJAN_MGE:
        assert f"ramanujan:mean_{metric}" in published and f"ramanujan:mean_{metric}" in OUR_COLUMNS


def test_a_feature_set_without_columns_is_skipped_naming_what_it_takes():
    reason = why_no_columns("ramanujan_raw", ["mge:motif", "ramanujan:L00:delta_r_norm"])
    assert reason == (
        "no column of feature set 'ramanujan_raw' in the table: it takes "
        "ramanujan:L<i>:{delta_r, imdb, iter_spectral_gap}; the table's feature families are mge, ramanujan"
    )
    rng = np.random.default_rng(0)
    n = 40
    table = pd.DataFrame(
        {
            "dataset": "d",
            "model": "m",
            "pruner": np.repeat(["a", "b", "c", "e"], n // 4),
            "sparsity": 0.9,
            "seed": np.tile(range(n // 4), 4),
            "accuracy": rng.uniform(0.5, 0.9, n),
            "dense_accuracy": 0.95,
            "best_accuracy": np.nan,
            "ramanujan:L00:delta_r_norm": rng.normal(size=n),
        }
    )
    reg = run_regression(
        table,
        {
            "feature_sets": ["ramanujan_raw"],
            "protocols": ["model_dataset"],
            "estimators": ["gbt"],
            "bootstrap": 0,
        },
    )["regression"]
    # floor and ceiling rows need no feature column; model_dataset is the ranking protocol: + pruner CV
    reg = reg[reg["kind"] == "features"]
    assert (
        (reg["status"] == "skipped").all()
        and set(reg["cv"]) == {"config", "network", "pruner"}
        and len(reg) == 3
    )
    assert reg["reason"].str.startswith("no column of feature set 'ramanujan_raw' in the table").all()


def _pruner_table() -> pd.DataFrame:
    return pd.DataFrame(
        {"pruner": ["snip", "rigl", "erk", "snip", "itop"], "accuracy": [0.1, 0.2, 0.3, 0.4, 0.5]}
    )


def test_analysis_pruners_keeps_exactly_the_named_rows():
    kept = restrict_to_pruners(_pruner_table(), ["snip", "erk"])
    assert kept["accuracy"].tolist() == [0.1, 0.3, 0.4]
    assert restrict_to_pruners(_pruner_table(), None).equals(_pruner_table())


def test_analysis_pruners_unknown_name_lists_the_pruners_present():
    with pytest.raises(InvalidValueError) as err:
        restrict_to_pruners(_pruner_table(), ["snip", "synflow"])
    assert str(err.value) == (
        "invalid analysis pruners: 'synflow'; accepted: pruners in the table: erk, itop, rigl, snip"
    )


@pytest.mark.parametrize("bad", [[], [""], [3]])
def test_analysis_pruners_config_rejects_empty_lists_and_non_names(bad):
    with pytest.raises(InvalidValueError, match="analysis pruners"):
        AnalysisConfig.from_dict({"pruners": bad})
    assert AnalysisConfig.from_dict({"pruners": ["snip"]}).pruners == ("snip",)
    assert AnalysisConfig.from_dict({"pruners": None}).pruners is None
