"""Ranking study: planted and reversed rankings, rank scores by hand, bootstrap interval coverage."""

import numpy as np
import pandas as pd
import pytest

from snntopo.analysis import run_ranking, run_regression
from snntopo.analysis.ranking import rank_scores
from snntopo.analysis.stats import bootstrap_mean_ci
from snntopo.analysis.synthetic import make_synthetic_table

FAST = {
    "gbt": {"n_estimators": 20, "max_depth": 2, "learning_rate": 0.3},
    "bootstrap": 200,
    "headline_estimators": [],
}


@pytest.fixture(scope="module")
def ranked():
    table = make_synthetic_table(noise=0.0)
    cfg = {
        **FAST,
        "feature_sets": ["mge", "rolled"],
        "protocols": ["model_dataset"],
        "importance_feature_sets": [],
    }
    preds = run_regression(table, cfg)["predictions"]
    return table, run_ranking(table, cfg, predictions=preds)


def _summary(res, candidate, cv=None):
    """Summary row of ``candidate`` (supervised: under ``cv``, default the held-out-pruner scheme)."""
    s = res["ranking_summary"]
    if cv is None:
        cv = "pruner" if "/" in candidate else "none"
    return s[(s["candidate"] == candidate) & (s["cv"] == cv)].set_index("candidate").loc[candidate]


def test_planted_ranking_is_recovered_with_tau_one(ranked):
    _, res = ranked
    r = res["ranking"]
    planted = r[r["candidate"] == "ramanujan:mean_delta_r_norm"]
    assert len(planted) == 6 and (planted["status"] == "ok").all()  # 2 models × 3 sparsities
    np.testing.assert_allclose(planted["kendall_tau"], 1.0, atol=1e-12)  # scipy: 1 − ε
    np.testing.assert_allclose(planted["spearman_rho"], 1.0, atol=1e-12)
    assert (planted["top1"] == 1.0).all() and (planted["true_best"] == "p0").all()
    s = _summary(res, "ramanujan:mean_delta_r_norm")
    # the interval also resamples the seeds behind the true ranking, which is noisy (x varies by seed)
    assert s["kendall_tau"] == pytest.approx(1, abs=1e-12) and s["kendall_tau_high"] == pytest.approx(1)
    assert 0.6 <= s["kendall_tau_low"] < 1 and s["ci_method"].startswith("hierarchical")


def test_reversed_ranking_gives_tau_minus_one(ranked):
    _, res = ranked
    s = _summary(res, "ramanujan:mean_imdb_norm")
    assert s["kendall_tau"] == pytest.approx(-1.0, abs=1e-12) and s["top1"] == 0.0
    assert s["spearman_rho"] == pytest.approx(-1.0, abs=1e-12)
    assert s["kind"] == "unsupervised"


def test_supervised_ranking_by_predicted_drop(ranked):
    _, res = ranked
    assert _summary(res, "mge/linear")["kendall_tau"] == pytest.approx(
        1.0, abs=1e-12
    )  # the drop is linear in the informative feature
    assert _summary(res, "mge/gbt")["kendall_tau"] > 0.8
    assert abs(_summary(res, "rolled/linear")["kendall_tau"]) < 0.6  # noise features: no systematic order
    assert _summary(res, "mge/linear")["kind"] == "supervised"


def test_lower_is_better_flips_the_score(ranked):
    table, _ = ranked
    res = run_ranking(
        table,
        {
            **FAST,
            "ranking_scores": {"ramanujan:mean_imdb_norm": "lower"},
            "feature_sets": ["mge"],
            "estimators": ["linear"],
        },
    )
    assert _summary(res, "ramanujan:mean_imdb_norm")["kendall_tau"] == pytest.approx(1.0, abs=1e-12)


def test_groups_with_too_few_pruners_are_skipped():
    table = make_synthetic_table(n_pruners=2)
    res = run_ranking(table, {**FAST, "feature_sets": ["mge"], "estimators": ["linear"]}, predictions=None)
    r = res["ranking"]
    r = r[r["kind"] != "ceiling"]
    assert (r["status"] == "skipped").all() and r["reason"].str.contains("2 pruners").all()
    assert (res["ranking_summary"]["n_groups"] == 0).all()


def test_rank_scores_by_hand_with_ties():
    truth = np.array([0.9, 0.8, 0.7, 0.6])
    names = np.array(["a", "b", "c", "d"])
    # one discordant pair (b, c) out of 6: τ = (5 − 1)/6
    res = rank_scores(truth, np.array([4.0, 2.0, 3.0, 1.0]), names)
    assert res["kendall_tau"] == pytest.approx(4 / 6)
    assert res["spearman_rho"] == pytest.approx(1 - 6 * 2 / (4 * 15))
    assert res["top1"] == 1.0 and res["predicted_best"] == "a"
    # tie for the best score between b and a: broken by name → "a", still a top-1 hit
    tied = rank_scores(truth, np.array([2.0, 2.0, 1.0, 0.0]), names)
    assert tied["predicted_best"] == "a" and tied["top1"] == 1.0
    # τ_b with one tied pair in the candidate: (5 − 0) / sqrt(6 · 5)
    assert tied["kendall_tau"] == pytest.approx(5 / np.sqrt(30))
    assert rank_scores(truth, np.array([0.0, 1.0, 2.0, 3.0]), names)["top1"] == 0.0


def test_bootstrap_interval_contains_truth_and_has_nominal_coverage():
    rng = np.random.default_rng(0)
    mean, lo, hi = bootstrap_mean_ci(rng.normal(0.3, 0.2, 60), n_boot=2000, seed=1)
    assert lo < 0.3 < hi and lo < mean < hi
    hits = 0
    for rep in range(200):
        _, lo, hi = bootstrap_mean_ci(rng.normal(0.3, 0.2, 40), n_boot=500, seed=rep)
        hits += lo < 0.3 < hi
    assert 0.88 <= hits / 200 <= 0.99  # percentile interval: close to 95 % for a mean of 40 normals


def test_bootstrap_degenerate_inputs():
    assert np.isnan(bootstrap_mean_ci(np.array([]))[0])
    mean, lo, hi = bootstrap_mean_ci(np.array([0.5, np.nan]))
    assert mean == 0.5 and np.isnan(lo) and np.isnan(hi)
    mean, lo, hi = bootstrap_mean_ci(np.array([1.0, 2.0]), n_boot=0)
    assert mean == 1.5 and np.isnan(lo) and np.isnan(hi)


def test_feature_sets_constant_within_a_group_are_not_ranked():
    # only the global density: identical for every pruner at a sparsity, so it cannot rank them
    table = make_synthetic_table()
    table = table.drop(columns=[c for c in table if c.startswith("density:L")])
    res = run_ranking(table, {**FAST, "feature_sets": ["density", "mge"], "estimators": ["linear"]})
    r = res["ranking"]
    dens = r[(r["candidate"] == "density/linear") & (r["cv"] == "pruner")]
    assert len(dens) == 6 and (dens["status"] == "skipped").all()
    assert dens["reason"].str.contains("does not vary").all()
    assert (r.loc[(r["candidate"] == "mge/linear") & (r["cv"] == "pruner"), "status"] == "ok").all()


def test_ranking_of_a_tiny_sweep_skips_groups_instead_of_failing():
    # Two pruners at one sparsity, one seed: too few for folds or rankings, which must be reported.
    table = pd.DataFrame(
        {
            "dataset": ["digits"] * 2, "model": ["cnn"] * 2, "pruner": ["random", "snip"],
            "sparsity": [0.9, 0.9], "seed": [0, 0], "accuracy": [0.2, 0.6], "dense_accuracy": [0.9, 0.9],
            "mge:cut-edges": [1.0, 2.0], "density:global": [0.1, 0.1],
        }
    )  # fmt: skip
    out = run_ranking(table, {"folds": 2, "bootstrap": 10})
    ranking = out["ranking"]
    assert {"candidate", "status", "reason", "kendall_tau"} <= set(ranking.columns)
    assert not (ranking["status"] == "ok").any()  # nothing can be ranked from two networks
    assert set(out) == {"ranking", "ranking_summary"}
