"""Regression study: planted relations, OLS inference, the learners, degenerate groups, the drop target."""

import numpy as np
import pandas as pd
import pytest

from snntopo.analysis import AnalysisConfig, DenseAccuracyMissingError, add_target, run_regression
from snntopo.analysis.drop import require_dense
from snntopo.analysis.features import parse_columns, select_features
from snntopo.analysis.regression import ESTIMATORS, Preprocessor, cross_validate, ols_coefficients
from snntopo.analysis.synthetic import make_synthetic_table
from snntopo.errors import InvalidValueError, UnknownNameError

FAST = {
    "gbt": {"n_estimators": 20, "max_depth": 2, "learning_rate": 0.3},
    "bootstrap": 100,
    "headline_estimators": [],
    "cv": ["config"],
}


def _features(reg, cv="config"):
    """Rows of real feature sets (not floors or ceilings) under one CV scheme."""
    return reg[(reg["kind"] == "features") & (reg["cv"] == cv)]


@pytest.fixture(scope="module")
def planted():
    table = make_synthetic_table(noise=0.005)
    cfg = {**FAST, "feature_sets": ["mge", "rolled", "mge+density"], "importance_feature_sets": ["mge"]}
    return table, run_regression(table, cfg)


def _r2(result, protocol, fs, est, cv="config"):
    reg = result["regression"]
    reg = reg[reg["cv"] == cv]
    sel = reg[(reg["protocol"] == protocol) & (reg["feature_set"] == fs) & (reg["estimator"] == est)]
    assert (sel["status"] == "ok").all() and len(sel)
    return sel["r2"].to_numpy()


@pytest.mark.parametrize("protocol", ["model_dataset", "model_dataset_sparsity"])
def test_planted_relation_informative_feature_set_near_one_noise_near_zero(planted, protocol):
    _, res = planted
    assert (
        _r2(res, protocol, "mge", "linear").min() > 0.98
    )  # drop is linear in mge:spectral_gap (+0.5 % noise)
    assert _r2(res, protocol, "mge", "gbt").min() > 0.7  # trees approximate the line stepwise
    assert _r2(res, protocol, "rolled", "linear").max() < 0.25  # independent noise: R² ≈ 0 or below
    assert _r2(res, protocol, "rolled", "gbt").max() < 0.25
    assert _r2(res, protocol, "rolled", "linear").mean() < 0.05


def test_summary_counts_groups_and_means(planted):
    _, res = planted
    s = res["regression_summary"].set_index(["protocol", "cv", "feature_set", "estimator"])
    row = s.loc[("model_dataset_sparsity", "config", "mge", "linear")]
    assert row["n_groups_ok"] == 6  # 2 models × 1 dataset × 3 sparsities
    expected = _r2(res, "model_dataset_sparsity", "mge", "linear").mean()
    assert row["r2_mean"] == pytest.approx(expected)
    assert row["r2_low"] <= row["r2_mean"] <= row["r2_high"]
    assert row["r2_min"] <= row["r2_q25"] <= row["r2_median"] <= row["r2_q75"] <= row["r2_max"]


def test_predictions_are_out_of_fold_and_cover_every_network(planted):
    table, res = planted
    p = res["predictions"]
    p = p[p["cv"] == "config"]
    sel = p[(p["protocol"] == "model_dataset") & (p["feature_set"] == "mge") & (p["estimator"] == "linear")]
    assert len(sel) == len(table)
    assert not sel.duplicated(["dataset", "model", "pruner", "sparsity", "seed"]).any()
    # y is the relative drop against the dense accuracy 0.95
    merged = sel.merge(table, on=["dataset", "model", "pruner", "sparsity", "seed"])
    np.testing.assert_allclose(merged["y"], (0.95 - merged["accuracy"]) / 0.95)


def test_permutation_importance_ranks_informative_feature_first(planted):
    _, res = planted
    imp = res["permutation_importance"]
    imp = imp[imp["cv"] == "config"]
    assert set(imp["feature"]) == {"mge:spectral_gap", "mge:motif"}
    informative = imp.loc[imp["feature"] == "mge:spectral_gap", "importance_mean"]
    noise = imp.loc[imp["feature"] == "mge:motif", "importance_mean"]
    assert len(informative) == len(noise) == 2 + 6  # every group of both protocols
    # permuting it destroys most of the R² (≈ 2 for a perfect fit). Under held-out configurations at fixed
    # sparsity a held-out extreme pruner lies outside the trees' training range, so one group may be lost
    assert informative.mean() > 0.5 and (informative > 0.2).sum() >= 7
    assert (informative.to_numpy() >= noise.to_numpy() - 0.02).all()
    assert (noise.abs() < 0.1).all()


def test_combination_is_union_and_skipped_where_a_part_is_uninformative(planted):
    table, res = planted
    cols = select_features("mge+density", table.columns)
    assert cols == sorted(select_features("mge", table.columns) + select_features("density", table.columns))
    reg = res["regression"]
    combo = reg[reg["feature_set"] == "mge+density"]
    # the layer densities vary inside every group, so both parts contribute and the combination runs
    assert (combo["status"] == "ok").all()
    only_global = table.drop(columns=[c for c in table if c.startswith("density:L")])
    res2 = run_regression(
        only_global,
        {
            **FAST,
            "feature_sets": ["mge+density"],
            "estimators": ["linear"],
            "protocols": ["model_dataset_sparsity"],
        },
    )
    r = _features(res2["regression"])
    assert len(r) and (r["status"] == "skipped").all()  # density:global is constant at fixed sparsity
    assert r["reason"].str.contains("density").all()


def test_ols_coefficients_recover_known_linear_model():
    rng = np.random.default_rng(3)
    n = 400
    X = np.column_stack([rng.normal(0, 2.0, n), rng.uniform(-1, 1, n), rng.normal(size=n)])
    y = 2.0 + 3.0 * X[:, 0] - 1.5 * X[:, 1] + rng.normal(0, 0.5, n)
    c = ols_coefficients(X, y, ci=0.95)
    truth = np.array([3.0, -1.5, 0.0]) * X.std(axis=0)  # per standard deviation of each feature
    assert (c["ci_low"].to_numpy() <= truth).all() and (truth <= c["ci_high"].to_numpy()).all()
    # independent oracle: least squares on the standardised design
    Z = (X - X.mean(0)) / X.std(0)
    beta = np.linalg.lstsq(np.column_stack([np.ones(n), Z]), y, rcond=None)[0]
    np.testing.assert_allclose(c["coef"], beta[1:], rtol=1e-10)
    resid = y - np.column_stack([np.ones(n), Z]) @ beta
    sigma2 = resid @ resid / (n - 4)
    se = np.sqrt(
        np.diag(sigma2 * np.linalg.inv(np.column_stack([np.ones(n), Z]).T @ np.column_stack([np.ones(n), Z])))
    )[1:]
    np.testing.assert_allclose(c["std_err"], se, rtol=1e-8)
    assert c["p_value"].iloc[0] < 1e-12 and c["p_value"].iloc[1] < 1e-12
    assert c["df_resid"].iloc[0] == n - 4


def test_ols_inference_is_nan_when_more_features_than_networks():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(8, 12)), rng.normal(size=8)
    c = ols_coefficients(X, y)
    assert len(c) == 12 and c["coef"].notna().all()
    assert c["std_err"].isna().all() and c["p_value"].isna().all()


def test_tree_learners_are_the_libraries_with_the_configured_settings():
    from sklearn.ensemble import RandomForestRegressor
    from xgboost import XGBRegressor

    cfg = AnalysisConfig.from_dict({"gbt_alt": {"max_depth": 5}, "rf": {"n_estimators": 7}, "seed": 3})
    gbt = ESTIMATORS.get("gbt_alt")(cfg).model
    assert isinstance(gbt, XGBRegressor)
    assert (gbt.max_depth, gbt.n_estimators, gbt.random_state) == (5, 50, 3)  # unset options keep defaults
    rf = ESTIMATORS.get("rf")(cfg).model
    assert isinstance(rf, RandomForestRegressor) and rf.n_estimators == 7
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 3))
    y = X[:, 0] ** 2 + 0.01 * rng.normal(size=60)
    ref = XGBRegressor(n_estimators=50, max_depth=5, learning_rate=0.2, tree_method="exact", random_state=3)
    np.testing.assert_allclose(ESTIMATORS.get("gbt_alt")(cfg).fit(X, y).predict(X), ref.fit(X, y).predict(X))


def test_preprocessor_drops_constant_and_imputes_training_median():
    X = np.array([[1.0, 5.0, np.nan], [2.0, 5.0, 4.0], [3.0, 5.0, 6.0], [np.nan, 5.0, 8.0]])
    prep = Preprocessor.fit(X)
    assert prep.keep.tolist() == [True, False, True]
    np.testing.assert_allclose(prep.median, [2.0, 6.0])
    Z = prep.transform(np.array([[np.nan, 0.0, np.nan]]))
    np.testing.assert_allclose(Z, [[(2.0 - 2.0) / np.std([1, 2, 3, 2.0]), (6.0 - 6.0) / 1.0]], atol=1e-12)


def test_cross_validation_with_missing_values_still_finds_relation():
    rng = np.random.default_rng(2)
    x = rng.uniform(size=80)
    X = np.column_stack([x, rng.normal(size=80), np.full(80, 3.0)])
    X[rng.choice(80, 8, replace=False), 0] = np.nan
    X[::7, 1] = np.inf  # ±inf is treated as missing
    y = 2 * np.where(np.isnan(X[:, 0]), 0.5, X[:, 0])
    res = cross_validate(X, y, "linear", AnalysisConfig.from_dict({}))
    assert res.r2 > 0.95 and np.isfinite(res.oof).all()


def test_small_and_featureless_groups_are_skipped_with_reason():
    table = make_synthetic_table(seeds=(0,), n_pruners=3, sparsities=(0.5, 0.9))  # 6 networks per model
    table["mge:motif"] = 1.0  # constant
    res = run_regression(
        table,
        {
            **FAST,
            "feature_sets": ["mge", "fullspectrum"],
            "min_group_size": 4,
            "protocols": ["model_dataset", "model_dataset_sparsity"],
        },
    )
    reg = _features(res["regression"])
    ok = reg[reg["status"] == "ok"]
    assert set(ok["protocol"]) == {"model_dataset"} and (ok["n_features"] == 1).all()  # motif dropped
    small = reg[(reg["protocol"] == "model_dataset_sparsity") & (reg["feature_set"] == "mge")]
    assert (small["status"] == "skipped").all() and small["reason"].str.contains(
        "n=3 < min_group_size=4"
    ).all()
    missing = reg[reg["feature_set"] == "fullspectrum"]
    assert missing["reason"].str.contains("no column").all()


def test_missing_dense_accuracy_uses_accuracy_per_group_and_refuses_pooling():
    table = make_synthetic_table(dense_accuracy=None, noise=0.005)
    frame = add_target(table)
    assert (frame["target"] == "one_minus_accuracy").all()
    np.testing.assert_allclose(frame["y"], 1 - table["accuracy"])
    with pytest.raises(DenseAccuracyMissingError, match="per model×dataset"):
        require_dense(frame, "pooled test")
    res = run_regression(
        table,
        {
            **FAST,
            "feature_sets": ["mge"],
            "estimators": ["linear"],
            "protocols": ["sparsity", "model_dataset"],
        },
    )
    reg = _features(res["regression"])
    pooled = reg[reg["protocol"] == "sparsity"]
    assert len(pooled) == 1 and pooled["status"].iloc[0] == "skipped"
    assert "dense accuracy" in pooled["reason"].iloc[0]
    # per-group R² is the same as with the drop: it is affine in accuracy inside a group
    with_dense = run_regression(
        make_synthetic_table(noise=0.005),
        {**FAST, "feature_sets": ["mge"], "estimators": ["linear"], "protocols": ["model_dataset"]},
    )
    a = reg[reg["protocol"] == "model_dataset"]["r2"].to_numpy()
    np.testing.assert_allclose(a, _features(with_dense["regression"])["r2"].to_numpy(), rtol=1e-9)


def test_pooled_protocol_runs_when_dense_is_known():
    table = make_synthetic_table(noise=0.005)
    res = run_regression(
        table, {**FAST, "feature_sets": ["mge"], "estimators": ["linear"], "protocols": ["sparsity"]}
    )
    reg = _features(res["regression"])
    assert (reg["status"] == "ok").all() and len(reg) == 3 and reg["r2"].min() > 0.98


def test_drop_definitions_by_hand():
    t = pd.DataFrame(
        {
            "dataset": "d",
            "model": "m",
            "pruner": "p",
            "sparsity": 0.9,
            "seed": [0, 1, 0, 1],
            "accuracy": [0.8, 0.6, 0.7, 0.5],
            "dense_accuracy": [1.0, 0.8, 1.0, 0.8],
        }
    )
    np.testing.assert_allclose(add_target(t, "relative", "seed")["y"], [0.2, 0.25, 0.3, 0.375])
    np.testing.assert_allclose(add_target(t, "absolute", "seed")["y"], [0.2, 0.2, 0.3, 0.3])
    np.testing.assert_allclose(add_target(t, "absolute", "seed_mean")["y"], [0.1, 0.3, 0.2, 0.4])
    dense_row = t.iloc[[0]].assign(sparsity=0.0, accuracy=1.0)  # a dense run carried as a row is no sample
    assert len(add_target(pd.concat([t, dense_row]))) == 4
    with pytest.raises(InvalidValueError, match=r"relative \| absolute"):
        add_target(t, "ratio")


def test_config_rejects_unknown_keys_and_names():
    with pytest.raises(InvalidValueError, match="analysis config key"):
        AnalysisConfig.from_dict({"k": 5})
    with pytest.raises(UnknownNameError, match="feature set"):
        run_regression(make_synthetic_table(), {"feature_sets": ["mge+nope"]})
    with pytest.raises(UnknownNameError, match="estimator"):
        run_regression(make_synthetic_table(), {"estimators": ["svm"]})


def test_parse_columns_groups():
    parts = parse_columns(["mge:r-out", "rolled:L03:k-core", "ramanujan:L00:imdb", "density:global", "seed"])
    assert parts["group"].tolist() == ["Local connectivity", "Strength", "Expansion", "Density"]
    assert parts["layer"].tolist() == [-1, 3, 0, -1]


def test_summary_mean_over_common_groups():
    table = make_synthetic_table(noise=0.005)
    table.loc[table["model"] == "cnn", [c for c in table if c.startswith("rolled:")]] = np.nan  # mlp only
    res = run_regression(
        table,
        {**FAST, "feature_sets": ["mge", "rolled"], "estimators": ["linear"], "protocols": ["model_dataset"]},
    )
    s = res["regression_summary"]
    s = s[(s["cv"] == "config") & (s["kind"] == "features")].set_index("feature_set")
    assert s.loc["mge", "n_groups_ok"] == 2 and s.loc["rolled", "n_groups_ok"] == 1
    assert (s["n_groups_common"] == 1).all()
    reg = _features(res["regression"])
    mlp_mge = reg[(reg["feature_set"] == "mge") & (reg["model"] == "mlp") & (reg["cv"] == "config")][
        "r2"
    ].iloc[0]
    assert s.loc["mge", "r2_mean_common"] == pytest.approx(mlp_mge)
