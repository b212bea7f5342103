"""Ranking of pruning algorithms (METHOD.md §4.5).

Per (model, dataset, sparsity) group, the true ranking orders the pruners by mean accuracy over seeds
(higher = better). Candidates:

* *supervised*: for every feature set × estimator, the mean out-of-fold predicted drop of the pruner's
  networks (from the ``ranking_protocol`` regressions; lower predicted drop = better);
* *unsupervised*: network-level scores such as the Ramanujan means (``ranking_scores``: column →
  ``higher``/``lower`` is better), averaged over seeds.

Scores per group: Kendall τ_b (ties allowed), Spearman ρ, and top-1 agreement (the candidate's best
pruner, ties broken by name, is among the truly best). Pruners without a candidate value are left out of
that candidate's group; groups with fewer than ``min_pruners`` pruners are recorded as skipped.
Summaries average over groups with percentile-bootstrap intervals.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from snntopo.analysis.config import AnalysisConfig
from snntopo.analysis.features import select_features
from snntopo.analysis.regression import run_regression
from snntopo.analysis.stats import bootstrap_mean_ci

RANK_GROUP = ["dataset", "model", "sparsity"]
RANKING_COLUMNS = [
    "candidate",
    "kind",
    *RANK_GROUP,
    "n_pruners",
    "kendall_tau",
    "spearman_rho",
    "top1",
    "true_best",
    "predicted_best",
    "status",
    "reason",
]
SUMMARY_COLUMNS = [
    "candidate",
    "kind",
    "n_groups",
    "n_groups_skipped",
    "kendall_tau",
    "kendall_tau_low",
    "kendall_tau_high",
    "spearman_rho",
    "spearman_rho_low",
    "spearman_rho_high",
    "top1",
    "top1_low",
    "top1_high",
]


def rank_scores(truth: np.ndarray, score: np.ndarray, names: np.ndarray) -> dict[str, Any]:
    """Kendall τ_b, Spearman ρ and top-1 agreement of ``score`` against ``truth`` (higher = better both)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant input ⇒ NaN, reported as such
        tau = stats.kendalltau(truth, score).statistic
        rho = stats.spearmanr(truth, score).statistic
    order = np.lexsort((names, -score))  # best score first, ties by name
    best = names[order[0]]
    true_best = names[truth == truth.max()]
    return {
        "kendall_tau": float(tau),
        "spearman_rho": float(rho),
        "top1": float(best in set(true_best)),
        "true_best": "+".join(sorted(true_best)),
        "predicted_best": str(best),
    }


def candidate_scores(
    table: pd.DataFrame, predictions: pd.DataFrame | None, cfg: AnalysisConfig
) -> pd.DataFrame:
    """Long table ``candidate, kind, feature_set, dataset, model, sparsity, pruner, score``.

    A higher score is better; ``feature_set`` is empty for unsupervised candidates.
    """
    frames = []
    if predictions is not None and len(predictions):
        p = predictions[predictions["protocol"] == cfg.ranking_protocol]
        if len(p):
            mean = p.groupby(["feature_set", "estimator", *RANK_GROUP, "pruner"], sort=True)["y_pred"].mean()
            mean = mean.reset_index()
            frames.append(
                pd.DataFrame(
                    {
                        "candidate": mean["feature_set"] + "/" + mean["estimator"],
                        "kind": "supervised",
                        "feature_set": mean["feature_set"],
                        **{k: mean[k] for k in [*RANK_GROUP, "pruner"]},
                        "score": -mean["y_pred"],  # lower predicted drop = better
                    }
                )
            )
    for col, how in sorted(cfg.ranking_scores.items()):
        if col not in table:
            continue
        vals = table[col].astype(float).where(np.isfinite(table[col].astype(float)))
        mean = vals.groupby([table[k] for k in [*RANK_GROUP, "pruner"]], sort=True).mean().reset_index()
        frames.append(
            pd.DataFrame(
                {
                    "candidate": col,
                    "kind": "unsupervised",
                    "feature_set": "",
                    **{k: mean[k] for k in [*RANK_GROUP, "pruner"]},
                    "score": mean[col] if how == "higher" else -mean[col],
                }
            )
        )
    if not frames:
        return pd.DataFrame(columns=["candidate", "kind", "feature_set", *RANK_GROUP, "pruner", "score"])
    return pd.concat(frames, ignore_index=True)


def _varying_groups(table: pd.DataFrame, cand: pd.DataFrame) -> pd.Series:
    """For each supervised feature set and ranking group: does any of its features vary in the group?

    A set constant within a (model, dataset, sparsity) group (e.g. only the global density) cannot tell
    pruners apart; its out-of-fold predictions then differ only through the composition of the training
    folds, which anti-correlates with the truth (a good network held out lowers its fold's mean), so
    such groups are not ranked.
    """
    out = []
    keys = [table[k] for k in RANK_GROUP]
    for fs in sorted(cand.loc[cand["kind"] == "supervised", "feature_set"].unique()):
        cols = select_features(fs, table.columns)
        vals = table[cols].astype(float)
        vals = vals.where(np.isfinite(vals))
        varies = (vals.groupby(keys, sort=True).nunique() > 1).any(axis=1)
        out.append(varies.rename("varies").reset_index().assign(feature_set=fs))
    if not out:  # keep the index levels: callers join on them
        index = pd.MultiIndex.from_tuples([], names=["feature_set", *RANK_GROUP])
        return pd.Series([], index=index, dtype=bool, name="varies")
    return pd.concat(out).set_index(["feature_set", *RANK_GROUP])["varies"]


def run_ranking(
    table: pd.DataFrame,
    config: Mapping[str, Any] | AnalysisConfig | None = None,
    predictions: pd.DataFrame | None = None,
) -> dict[str, pd.DataFrame]:
    """Rank pruners per (model, dataset, sparsity) by every candidate and score against the truth.

    ``predictions`` is the ``predictions`` table of ``run_regression``; when omitted, the regressions of
    ``ranking_protocol`` are run here (without importances). Config keys: ``ranking_protocol,
    ranking_scores, min_pruners, bootstrap, ci, seed`` and those of ``run_regression``.

    Returns ``ranking`` (one row per candidate × group) and ``ranking_summary`` (per candidate: mean τ_b,
    ρ and top-1 rate over groups with bootstrap intervals).
    """
    cfg = AnalysisConfig.from_dict(config)
    if predictions is None:
        sub = {**_as_dict(cfg), "protocols": (cfg.ranking_protocol,), "importance_feature_sets": ()}
        predictions = run_regression(table, sub)["predictions"]
    truth = table.groupby([*RANK_GROUP, "pruner"], sort=True)["accuracy"].mean().rename("truth")
    cand = candidate_scores(table, predictions, cfg).join(truth, on=[*RANK_GROUP, "pruner"])
    cand = cand[np.isfinite(cand["score"].astype(float)) & cand["truth"].notna()]
    cand = cand.join(_varying_groups(table, cand), on=["feature_set", *RANK_GROUP])
    # unsupervised scores have no feature set (NaN here): a constant score shows up as τ = NaN instead
    cand["varies"] = cand["varies"].astype("boolean").fillna(True).astype(bool)
    rows = []
    for (name, kind, *gkey), grp in cand.groupby(["candidate", "kind", *RANK_GROUP], sort=True):
        base = {
            "candidate": name,
            "kind": kind,
            **dict(zip(RANK_GROUP, gkey, strict=True)),
            "n_pruners": len(grp),
        }
        if not grp["varies"].all():
            reason = "the feature set does not vary within this group: out-of-fold predictions would only "
            reason += "reflect which networks share a fold"
            rows.append({**base, "status": "skipped", "reason": reason})
            continue
        if len(grp) < cfg.min_pruners:
            rows.append(
                {
                    **base,
                    "status": "skipped",
                    "reason": f"{len(grp)} pruners with a score < min_pruners={cfg.min_pruners}",
                }
            )
            continue
        res = rank_scores(
            grp["truth"].to_numpy(float), grp["score"].to_numpy(float), grp["pruner"].to_numpy(str)
        )
        rows.append({**base, **res, "status": "ok", "reason": ""})
    ranking = pd.DataFrame(rows).reindex(columns=RANKING_COLUMNS)
    if len(ranking):
        ranking = ranking.sort_values(["kind", "candidate", *RANK_GROUP], kind="mergesort")
        ranking = ranking.reset_index(drop=True)
    return {"ranking": ranking, "ranking_summary": summarise_ranking(ranking, cfg)}


def summarise_ranking(ranking: pd.DataFrame, cfg: AnalysisConfig) -> pd.DataFrame:
    """Mean τ_b, ρ and top-1 over the ranked groups of each candidate, with bootstrap intervals."""
    out = []
    for (name, kind), grp in ranking.groupby(["candidate", "kind"], sort=True):
        ok = grp[grp["status"] == "ok"]
        row: dict[str, Any] = {
            "candidate": name,
            "kind": kind,
            "n_groups": len(ok),
            "n_groups_skipped": int((grp["status"] != "ok").sum()),
        }
        for col in ("kendall_tau", "spearman_rho", "top1"):
            mean, lo, hi = bootstrap_mean_ci(ok[col].to_numpy(float), cfg.bootstrap, cfg.seed, cfg.ci)
            row.update({col: mean, f"{col}_low": lo, f"{col}_high": hi})
        out.append(row)
    summary = pd.DataFrame(out).reindex(columns=SUMMARY_COLUMNS)
    if len(summary):
        summary = summary.sort_values(["kind", "candidate"], kind="mergesort").reset_index(drop=True)
    return summary


def _as_dict(cfg: AnalysisConfig) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(cfg)
