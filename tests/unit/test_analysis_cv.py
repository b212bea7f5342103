"""CV schemes, floors and ceilings, sound linear models, rankings under a held-out pruner, claims.

Planted structures with known answers: a feature set that only names the configuration must score well
when configurations are seen in training and not when they are held out; a driving feature keeps its
score; identical masks never straddle folds; a perfect ranking feature ranks held-out pruners exactly.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from snntopo.analysis import AnalysisConfig, run_claims, run_ranking, run_regression
from snntopo.analysis.claims import MIN_VERDICT_GROUPS, _claim_rows, verdict
from snntopo.analysis.cv import CV_SCHEMES, config_groups, fold_index, make_splits
from snntopo.analysis.ranking import hierarchical_tau, kendall_tau_b
from snntopo.analysis.regression import (
    ESTIMATORS,
    cross_validate,
    seed_ceiling,
    variance_inflation,
)
from snntopo.analysis.synthetic import make_synthetic_table
from snntopo.errors import InvalidValueError

SCHEMA = yaml.safe_load((Path(__file__).resolve().parents[2] / "config/schema.yaml").read_text())
FAST = {"bootstrap": 200, "headline_estimators": [], "importance_feature_sets": []}


def configuration_table(n_pruners=6, sparsities=(0.5, 0.6, 0.7, 0.8, 0.9), seeds=(0, 1, 2, 3), seed=0):
    """Target = configuration effect + small seed noise. ``mge:motif`` is a random code of the
    configuration (identifies it, says nothing about its effect); ``mge:spectral_gap`` is the effect
    itself (drives the target)."""
    rng = np.random.default_rng(seed)
    idx = pd.MultiIndex.from_product(
        [["digits"], ["mlp"], [f"p{i}" for i in range(n_pruners)], list(sparsities), list(seeds)],
        names=["dataset", "model", "pruner", "sparsity", "seed"],
    )
    t = idx.to_frame(index=False)
    cfg_id = t.groupby(["pruner", "sparsity"]).ngroup().to_numpy()
    effect = rng.normal(size=cfg_id.max() + 1)[cfg_id]
    code = rng.uniform(size=cfg_id.max() + 1)[cfg_id]
    drop = 0.3 + 0.05 * (effect + 0.1 * rng.standard_normal(len(t)))
    t["accuracy"] = 0.9 * (1 - drop)
    t["dense_accuracy"] = 0.9
    t["mge:motif"] = code
    t["mge:spectral_gap"] = effect
    return t


def _r2(res, cv, est="gbt", fs="mge", protocol="model_dataset"):
    reg = res["regression"]
    sel = reg[(reg["cv"] == cv) & (reg["feature_set"] == fs) & (reg["estimator"] == est)]
    sel = sel[sel["protocol"] == protocol]
    assert len(sel) == 1 and sel["status"].iloc[0] == "ok", sel[["status", "reason"]]
    return float(sel["r2"].iloc[0])


def test_configuration_identifier_scores_only_when_configurations_are_seen():
    table = configuration_table().drop(columns=["mge:spectral_gap"])
    res = run_regression(table, {**FAST, "feature_sets": ["mge"], "estimators": ["gbt"],
                                 "protocols": ["model_dataset"]})  # fmt: skip
    assert _r2(res, "network") > 0.8  # a tree looks the configuration up from its code
    assert _r2(res, "config") <= 0.1  # held out, the code says nothing


def test_driving_feature_keeps_its_score_under_held_out_configurations():
    table = configuration_table().drop(columns=["mge:motif"])
    res = run_regression(table, {**FAST, "feature_sets": ["mge"], "estimators": ["gbt", "linear"],
                                 "protocols": ["model_dataset"]})  # fmt: skip
    assert _r2(res, "config", "linear") > 0.95 and _r2(res, "config", "gbt") > 0.8
    # the ceiling: seeds of a configuration predicted by their siblings (noise 0.1 of the effect's spread)
    reg = res["regression"]
    ceiling = reg[(reg["kind"] == "ceiling") & (reg["cv"] == "config")]["r2"].iloc[0]
    assert 0.95 < ceiling < 1.0
    floor = reg[(reg["kind"] == "floor") & (reg["cv"] == "config")]["r2"].iloc[0]
    assert -0.2 < floor <= 0.0  # the training mean predicts nothing


def test_seed_ceiling_by_hand():
    y = np.array([1.0, 2.0, 3.0, 10.0, 12.0, 5.0])
    configs = np.array(["a", "a", "a", "b", "b", "c"])  # c has one seed: no prediction
    res = seed_ceiling(y, configs)
    np.testing.assert_allclose(res.oof[:5], [2.5, 2.0, 1.5, 12.0, 10.0])
    assert np.isnan(res.oof[5])
    yy, pp = y[:5], res.oof[:5]
    assert res.r2 == pytest.approx(1 - ((yy - pp) ** 2).sum() / ((yy - yy.mean()) ** 2).sum())


def test_identical_masks_and_seeds_of_a_configuration_share_one_test_fold():
    rng = np.random.default_rng(4)
    for rep in range(5):
        t = make_synthetic_table(n_pruners=6, sparsities=(0.5, 0.8, 0.9), seeds=(0, 1, 2), seed=rep)
        t = t[t["model"] == "mlp"].reset_index(drop=True)
        t["mask_checksum"] = [f"m{i}" for i in range(len(t))]
        # identical masks across sparsities and seeds, and between two pruners (e.g. an alias)
        pair = np.flatnonzero(t["pruner"].isin(["p0", "p1"]).to_numpy())
        for k in range(4):
            rows = rng.choice(pair, size=3, replace=False)
            t.loc[rows, "mask_checksum"] = f"shared{k}"
        for scheme in ("config", "pruner"):
            fold = fold_index(make_splits(t, scheme, 5, rep), len(t))
            assert (fold >= 0).all()
            assert (t.assign(f=fold).groupby("mask_checksum")["f"].nunique() == 1).all()
            assert (t.assign(f=fold).groupby(["pruner", "sparsity"])["f"].nunique() == 1).all()
        # network: the shuffled k-fold does split configurations (that is what it is for)
        fold = fold_index(make_splits(t, "network", 5, rep), len(t))
        assert (t.assign(f=fold).groupby(["pruner", "sparsity"])["f"].nunique() > 1).any()


def test_linked_configurations_form_one_group():
    t = pd.DataFrame({"dataset": "d", "model": "m", "pruner": ["a", "a", "b", "b", "c", "c"],
                      "sparsity": 0.5, "mask_checksum": ["x", "y", "y", "z", None, ""]})  # fmt: skip
    g = config_groups(t)
    assert g[0] == g[1] == g[2] == g[3]  # a–b linked through mask y
    assert g[4] == g[5] != g[0]  # missing checksums link nothing


def test_one_configuration_is_skipped_with_the_reason():
    table = configuration_table(n_pruners=1, sparsities=(0.5,), seeds=tuple(range(12)))
    table["mge:motif"] = np.random.default_rng(0).normal(size=len(table))  # varies by seed
    res = run_regression(table, {**FAST, "feature_sets": ["mge"], "estimators": ["linear"],
                                 "protocols": ["model_dataset"]})  # fmt: skip
    reg = res["regression"]
    for cv, why in (("config", "only 1"), ("pruner", "pruners: only 1")):
        rows = reg[reg["cv"] == cv]
        assert len(rows) and (rows["status"] == "skipped").all()
        assert rows["reason"].str.contains(why).all()
    assert (reg.loc[(reg["cv"] == "network") & (reg["kind"] == "features"), "status"] == "ok").all()


def test_unknown_cv_scheme_is_refused_naming_key_and_accepted():
    with pytest.raises(InvalidValueError, match=r"analysis cv.*'groups'.*config, network, pruner"):
        AnalysisConfig.from_dict({"cv": ["config", "groups"]})
    with pytest.raises(InvalidValueError, match="analysis cv"):
        AnalysisConfig.from_dict({"cv": []})
    assert AnalysisConfig.from_dict({"cv": "network"}).cv == ("network",)


def test_schema_enums_equal_the_registries():
    props = SCHEMA["properties"]["analysis"]["properties"]
    assert props["cv"]["items"]["enum"] == CV_SCHEMES.names()
    assert props["estimators"]["items"]["enum"] == ESTIMATORS.names()
    assert props["headline_estimators"]["items"]["enum"] == ESTIMATORS.names()
    assert props["cv"]["default"] == list(AnalysisConfig().cv)
    assert props["estimators"]["default"] == list(AnalysisConfig().estimators)
    for key in ("gbt", "gbt_alt", "rf", "rf_alt"):
        assert props[key]["default"] == getattr(AnalysisConfig(), key)
        assert "description" in props[key]


def test_column_constant_up_to_rounding_never_blows_up():
    rng = np.random.default_rng(0)
    n = 60
    groups = np.repeat(np.arange(12), 5)
    x = rng.normal(size=n)
    y = x + 0.1 * rng.normal(size=n)
    # 0.5 plus rounding noise everywhere except in one configuration, which sits in one test fold
    const = 0.5 + 4e-16 * rng.standard_normal(n)
    const[groups == 3] = 0.7
    X = np.column_stack([x, const])
    frame = pd.DataFrame({"dataset": "d", "model": "m", "pruner": groups.astype(str), "sparsity": 0.5})
    splits = make_splits(frame, "config", 5, 0)
    for est in ("linear", "gbt"):
        res = cross_validate(X, y, est, AnalysisConfig.from_dict({}), splits)
        assert abs(res.r2) <= 10 and res.r2 > 0.5
    # through the study: the summary mean lies within the per-group range
    table = make_synthetic_table(noise=0.01, sparsities=(0.5, 0.7, 0.9))
    table["mge:motif"] = 0.5 + 4e-16 * rng.standard_normal(len(table))
    table.loc[table["pruner"] == "p3", "mge:motif"] = 0.7
    res = run_regression(table, {**FAST, "feature_sets": ["mge"], "estimators": ["linear"]})
    ok = res["regression"].query("status == 'ok'")
    assert (ok["r2"].abs() <= 10).all()
    for _, row in res["regression_summary"].iterrows():
        assert row["r2_min"] - 1e-12 <= row["r2_mean"] <= row["r2_max"] + 1e-12


def test_linear_model_is_ols_where_p_much_smaller_than_n_else_ridge():
    rng = np.random.default_rng(1)
    cfg = AnalysisConfig.from_dict({})
    X = rng.normal(size=(100, 3))
    assert cross_validate(X, X[:, 0], "linear", cfg).fitted == "ols"
    X = rng.normal(size=(40, 12))  # 32 training networks < 10 · 12
    res = cross_validate(X, X[:, 0] + 0.1 * rng.normal(size=40), "linear", cfg)
    assert res.fitted == "ridge" and res.r2 > 0.8


def test_vif_by_hand_and_no_coefficient_importance_when_collinear():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=200), rng.normal(size=200)
    vif = variance_inflation(np.column_stack([a, b, a + b]))
    assert np.isinf(vif).all()  # each is an exact combination of the other two
    c = 0.8 * a + 0.6 * rng.normal(size=200)
    r2 = np.corrcoef(a, c)[0, 1] ** 2
    np.testing.assert_allclose(variance_inflation(np.column_stack([a, c])), 1 / (1 - r2), rtol=1e-9)
    # counts that are functions of each other (the release's disc_nodes / no_connected_components)
    t = make_synthetic_table(noise=0.01)
    t["mge:r-out"] = 2 * t["mge:motif"] + 1
    res = run_regression(t, {**FAST, "feature_sets": ["mge"], "estimators": ["linear"],
                             "importance_feature_sets": ["mge"]})  # fmt: skip
    coef = res["ols_coefficients"]
    assert len(coef) and (coef["max_vif"] > 10).all() and not coef["coef_importance"].any()
    from snntopo.analysis import run_importance

    imp = run_importance(
        t, {**FAST, "importance_feature_sets": ["mge"], "estimators": ["linear"]}, regression=res
    )
    assert not (imp["importance_metrics"]["source"] == "ols_coef").any()


def test_kendall_tau_b_matches_scipy_with_ties_and_invalid_items():
    rng = np.random.default_rng(3)
    for _ in range(50):
        x, y = rng.integers(0, 4, 7).astype(float), rng.integers(0, 4, 7).astype(float)
        ref = stats.kendalltau(x, y).statistic
        got = kendall_tau_b(x, y)
        assert (np.isnan(ref) and np.isnan(got)) or got == pytest.approx(ref)
        valid = rng.random(7) > 0.3
        ref = stats.kendalltau(x[valid], y[valid]).statistic if valid.sum() > 1 else np.nan
        got = kendall_tau_b(x, y, valid)
        assert (np.isnan(ref) and np.isnan(got)) or got == pytest.approx(ref)


def test_hierarchical_bootstrap_keeps_a_noiseless_ranking_and_spreads_a_noisy_one():
    acc = np.array([[[0.9, 0.9, 0.9], [0.8, 0.8, 0.8], [0.7, 0.7, 0.7]]])  # one group, 3 pruners × 3 seeds
    count = np.full((1, 3), 3)
    reps = hierarchical_tau(acc, acc, count, 100, 0)
    np.testing.assert_allclose(reps, 1.0)
    noisy = acc + np.array([[[0.0, 0.3, -0.3], [0.2, -0.2, 0.0], [0.3, 0.0, -0.3]]])
    reps = hierarchical_tau(noisy, noisy, count, 400, 0)  # the truth itself is resampled: τ stays 1
    np.testing.assert_allclose(reps, 1.0)
    reps = hierarchical_tau(noisy, acc, count, 400, 0)  # a fixed candidate against a noisy truth
    assert 0.2 < np.nanmean(reps) < 0.95 and np.nanmin(reps) < 1


def _ranking(table, features):
    cfg = {**FAST, "feature_sets": ["mge"], "estimators": ["linear"], "protocols": ["model_dataset"],
           "ranking_scores": {}}  # fmt: skip
    keep = [c for c in table if not c.startswith("mge:") or c in features]
    t = table[keep]
    res = run_ranking(t, cfg, predictions=run_regression(t, cfg)["predictions"])
    s = res["ranking_summary"]
    return s[(s["candidate"] == "mge/linear") & (s["cv"] == "pruner")].iloc[0], res


def test_planted_perfect_feature_ranks_held_out_pruners_exactly_and_noise_does_not():
    table = make_synthetic_table(noise=0.0, sparsities=(0.3, 0.5, 0.7, 0.8, 0.9), n_pruners=6)
    perfect, _ = _ranking(table, ["mge:spectral_gap"])
    assert perfect["kendall_tau"] == pytest.approx(1.0) and perfect["n_groups"] == 10
    rng = np.random.default_rng(5)
    taus = []
    for _ in range(3):
        noise = table.assign(**{"mge:motif": rng.normal(size=len(table))})
        row, res = _ranking(noise, ["mge:motif"])
        assert row["kendall_tau_low"] <= 0 <= row["kendall_tau_high"]
        taus.append(row["kendall_tau"])
    assert abs(np.mean(taus)) < 0.2
    ceiling = res["ranking_summary"].query("kind == 'ceiling'").iloc[0]
    assert ceiling["n_groups"] == 10 and ceiling["kendall_tau"] > 0.5


def test_too_few_groups_give_no_verdict():
    rows = _claim_rows(
        "c",
        "p",
        "config",
        [
            (
                "a − b",
                {"estimate": 1.0, "low": 0.9, "high": 1.1, "n_groups": MIN_VERDICT_GROUPS - 1, "note": ""},
            )
        ],
        "rule",
    )
    assert all(r["verdict"].startswith("inconclusive (only 4 groups") for r in rows)
    rows = _claim_rows(
        "c",
        "p",
        "config",
        [("a − b", {"estimate": 1.0, "low": 0.9, "high": 1.1, "n_groups": MIN_VERDICT_GROUPS, "note": ""})],
        "rule",
    )
    assert [r["verdict"] for r in rows] == ["holds", "holds"]


def test_claims_verdict_rule_by_hand():
    assert verdict([0.1, 0.2], [0.3, 0.4]) == "holds"
    assert verdict([0.1, -0.1], [0.3, 0.2]) == "inconclusive"
    assert verdict([0.1, -0.3], [0.3, -0.1]) == "fails"
    assert verdict([np.nan], [np.nan]) == "inconclusive" and verdict([], []) == "inconclusive"
    assert verdict([0.02], [0.05], threshold=0.01) == "holds"


def test_claims_follow_the_planted_truth():
    # mge holds the driver; rolled and density are noise: claim 1 must hold under both schemes
    # (six (model, dataset) groups: a verdict needs MIN_VERDICT_GROUPS = 5)
    table = make_synthetic_table(
        models=("mlp", "cnn", "conv6"), datasets=("digits", "cifar10"), noise=0.01, sparsities=(0.5, 0.7, 0.9)
    )
    scores = {"ramanujan:mean_delta_r_norm": "higher", "ramanujan:mean_imdb_norm": "higher"}
    cfg = {**FAST, "feature_sets": ["mge", "rolled", "rolled_channel", "density"], "estimators": ["gbt"],
           "gbt": {"n_estimators": 30}, "protocols": ["model_dataset"], "ranking_scores": scores}  # fmt: skip
    table = table.assign(
        **{c.replace("rolled:", "rolled_channel:"): table[c] for c in table if "rolled:" in c}
    )
    res = run_regression(table, cfg)
    rank = run_ranking(table, cfg, predictions=res["predictions"])
    out = run_claims({**res, **rank}, cfg)
    c = out["claims"]
    claim1 = c[c["claim"].str.startswith("MGE topometrics predict") & (c["comparison"] == "overall")]
    assert set(claim1["cv"]) == {"config", "network"} and (claim1["verdict"] == "holds").all()
    # claim 3 against the planted Ramanujan scores: ties the exact one (inconclusive), beats the reversed
    claim3 = c[c["claim"].str.contains("rank") & (c["cv"] == "pruner")].set_index("comparison")
    assert claim3.loc["mge − ramanujan:mean_imdb_norm", "verdict"] == "holds"
    assert claim3.loc["overall", "verdict"] in ("inconclusive", "fails")
    head = out["headline_r2"]
    assert {"floor:constant", "ceiling:seed_mean", "mge", "density"} <= set(head["row"])
    assert set(head["cv"]) == {"config", "network"} and head["n_groups"].nunique() == 1
