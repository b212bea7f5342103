"""Ranking of pruning algorithms (docs/method/analyses.md).

Per (model, dataset, sparsity) group, the true ranking orders the pruners by mean accuracy over seeds
(higher = better). Candidates:

* *supervised*: for every feature set × estimator, the mean out-of-fold predicted drop of the pruner's
  networks minus the mean drop of the training fold it was predicted from (from the
  ``ranking_protocol`` regressions; lower = better). Without that offset, leave-one-pruner-out ranks
  backwards whenever the model learnt little: it then predicts the training mean, which is lower the
  better the held-out pruner is;
* *unsupervised*: network-level scores such as the Ramanujan means (``ranking_scores``: column →
  ``higher``/``lower`` is better), averaged over seeds.

Supervised candidates are scored once per CV scheme of their predictions (``cv`` column); the one that
answers "can it rank a pruner it has not seen" is ``pruner`` (leave one pruner out): under ``config`` or
``network`` the other configurations or seeds of the same pruner sit in the training folds.
Unsupervised candidates have ``cv = none``. The ceiling row (``ceiling:seed_vs_rest``) is the mean over
seeds of τ_b between one seed's ranking and the ranking by the mean of the other seeds: the "true"
ranking is itself that noisy.

Scores per group: Kendall τ_b (ties allowed), Spearman ρ, and top-1 agreement (the candidate's best
pruner, ties broken by name, is among the truly best). Pruners without a candidate value are left out of
that candidate's group; groups with fewer than ``min_pruners`` pruners are recorded as skipped, groups
whose τ_b is undefined (a constant candidate or truth) are counted apart (``n_groups_undefined``).
The interval of the mean τ_b is a hierarchical bootstrap: seeds are resampled within each configuration
(both the truth and the candidate are recomputed from the drawn networks), then groups are resampled.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from snntopo.analysis.config import AnalysisConfig
from snntopo.analysis.cv import CV_SCHEMES
from snntopo.analysis.features import select_features
from snntopo.analysis.regression import run_regression
from snntopo.analysis.stats import bootstrap_mean_ci

RANK_GROUP = ["dataset", "model", "sparsity"]
RANKING_COLUMNS = [
    "candidate",
    "kind",
    "cv",
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
    "cv",
    "cv_label",
    "n_groups",
    "n_groups_undefined",
    "n_groups_skipped",
    "kendall_tau",
    "kendall_tau_low",
    "kendall_tau_high",
    "kendall_tau_median",
    "ci_method",
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


def kendall_tau_b(x: np.ndarray, y: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Kendall τ_b along the last axis (leading axes are batches); items where ``valid`` is False are
    left out; NaN where either ranking is constant over the valid items."""
    n = x.shape[-1]
    i, j = np.triu_indices(n, 1)
    dx = np.sign(x[..., i] - x[..., j])
    dy = np.sign(y[..., i] - y[..., j])
    if valid is not None:
        pair = valid[..., i] & valid[..., j]
        dx, dy = np.where(pair, dx, 0.0), np.where(pair, dy, 0.0)
    num = (dx * dy).sum(axis=-1)
    den = np.sqrt((dx != 0).sum(axis=-1) * (dy != 0).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def network_scores(
    table: pd.DataFrame, predictions: pd.DataFrame | None, cfg: AnalysisConfig
) -> pd.DataFrame:
    """Long table, one row per candidate × network: ``candidate, kind, cv, feature_set, dataset, model,
    sparsity, pruner, seed, score, accuracy`` (higher score = better; ``feature_set`` empty for
    unsupervised candidates)."""
    keys = [*RANK_GROUP, "pruner", "seed"]
    acc = table[[*keys, "accuracy"]]
    frames = []
    if predictions is not None and len(predictions):
        p = predictions[predictions["protocol"] == cfg.ranking_protocol]
        if len(p):
            p = p.merge(acc, on=keys, how="inner")
            frames.append(
                pd.DataFrame(
                    {
                        "candidate": p["feature_set"] + "/" + p["estimator"],
                        "kind": "supervised",
                        "cv": p["cv"],
                        "feature_set": p["feature_set"],
                        **{k: p[k] for k in keys},
                        # lower predicted drop = better, taken relative to the training folds' mean
                        # drop: a model that learnt nothing predicts that mean, which under leave one
                        # pruner out is lower the better the held-out pruner (a spurious anti-ranking)
                        "score": -(p["y_pred"] - p["y_train_mean"]).astype(float),
                        "accuracy": p["accuracy"],
                    }
                )
            )
    for col, how in sorted(cfg.ranking_scores.items()):
        if col not in table:
            continue
        vals = table[col].astype(float)
        vals = vals.where(np.isfinite(vals))
        frames.append(
            pd.DataFrame(
                {
                    "candidate": col,
                    "kind": "unsupervised",
                    "cv": "none",
                    "feature_set": "",
                    **{k: table[k] for k in keys},
                    "score": vals if how == "higher" else -vals,
                    "accuracy": table["accuracy"],
                }
            )
        )
    cols = ["candidate", "kind", "cv", "feature_set", *keys, "score", "accuracy"]
    if not frames:
        return pd.DataFrame(columns=cols)
    out = pd.concat(frames, ignore_index=True)[cols]
    return out[np.isfinite(out["score"].astype(float)) & out["accuracy"].notna()]


def _arrays(
    nets: pd.DataFrame,
) -> tuple[list[tuple[Any, ...]], list[np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """Per group: pruner names, and padded (group, pruner, seed) arrays of accuracy, score and count.

    Seeds of a pruner are packed first along the last axis; ``count[g, p]`` says how many are real."""
    gkeys, names, blocks = [], [], []
    for gkey, grp in nets.groupby(RANK_GROUP, sort=True):
        gkeys.append(gkey)
        prs = np.array(sorted(grp["pruner"].astype(str).unique()))
        names.append(prs)
        blocks.append(
            [grp.loc[grp["pruner"].astype(str) == pr, ["accuracy", "score"]].to_numpy(float) for pr in prs]
        )
    G = len(blocks)
    P = max((len(b) for b in blocks), default=0)
    S = max((len(x) for b in blocks for x in b), default=0)
    acc, score = np.zeros((G, P, S)), np.zeros((G, P, S))
    count = np.zeros((G, P), dtype=int)
    for g, b in enumerate(blocks):  # loop over groups and pruners (a few hundred), not networks
        for k, x in enumerate(b):
            acc[g, k, : len(x)], score[g, k, : len(x)], count[g, k] = x[:, 0], x[:, 1], len(x)
    return gkeys, names, acc, score, count


def hierarchical_tau(
    acc: np.ndarray, score: np.ndarray, count: np.ndarray, n_boot: int, seed: int
) -> np.ndarray:
    """Bootstrap replicates (n_boot, G) of each group's τ_b: the seeds of every configuration (group,
    pruner) are drawn with replacement, truth and candidate recomputed as means over the drawn networks."""
    G, P, S = acc.shape
    rng = np.random.default_rng(seed)
    out = np.full((n_boot, G), np.nan)
    valid = count > 0
    pos = np.arange(S)
    for b0 in range(0, n_boot, 100):  # chunks bound the memory (100 × G × P × S draws)
        B = min(100, n_boot - b0)
        draw = np.floor(rng.random((B, G, P, S)) * np.maximum(count, 1)[None, :, :, None]).astype(int)
        w = (pos[None, None, None, :] < count[None, :, :, None]).astype(float)
        a = np.take_along_axis(np.broadcast_to(acc, (B, G, P, S)), draw, axis=-1)
        s = np.take_along_axis(np.broadcast_to(score, (B, G, P, S)), draw, axis=-1)
        denom = np.maximum(count, 1)[None]
        truth, cand = (a * w).sum(-1) / denom, (s * w).sum(-1) / denom
        out[b0 : b0 + B] = kendall_tau_b(truth, cand, np.broadcast_to(valid, (B, G, P)))
    return out


def seed_ceiling_rows(table: pd.DataFrame, cfg: AnalysisConfig) -> list[dict[str, Any]]:
    """Per group: mean over seeds of τ_b(one seed's ranking, mean of the other seeds' ranking)."""
    rows = []
    for gkey, grp in table.groupby(RANK_GROUP, sort=True):
        wide = grp.pivot_table(index="pruner", columns="seed", values="accuracy", aggfunc="mean")
        base = {
            "candidate": CEILING,
            "kind": "ceiling",
            "cv": "none",
            **dict(zip(RANK_GROUP, gkey, strict=True)),
            "n_pruners": len(wide),
        }
        taus = []
        for s in wide.columns:
            others = wide.drop(columns=s)
            ok = wide[s].notna() & others.notna().any(axis=1)
            if ok.sum() >= cfg.min_pruners and others.shape[1]:
                x, y = wide.loc[ok, s].to_numpy(float), others.loc[ok].mean(axis=1).to_numpy(float)
                taus.append(float(kendall_tau_b(x, y)))
        if not taus:
            reason = f"fewer than two seeds or fewer than min_pruners={cfg.min_pruners} pruners per seed"
            rows.append({**base, "status": "skipped", "reason": reason})
            continue
        rows.append(
            {
                **base,
                "kendall_tau": float(np.nanmean(taus)) if np.isfinite(taus).any() else np.nan,
                "status": "ok",
                "reason": "",
            }
        )
    return rows


CEILING = "ceiling:seed_vs_rest"


def run_ranking(
    table: pd.DataFrame,
    config: Mapping[str, Any] | AnalysisConfig | None = None,
    predictions: pd.DataFrame | None = None,
) -> dict[str, pd.DataFrame]:
    """Rank pruners per (model, dataset, sparsity) by every candidate and CV scheme; score against the
    truth.

    ``predictions`` is the ``predictions`` table of ``run_regression``; when omitted, the regressions of
    ``ranking_protocol`` are run here (without importances). Config keys: ``ranking_protocol,
    ranking_scores, min_pruners, bootstrap, ci, seed`` and those of ``run_regression``.

    Returns ``ranking`` (one row per candidate × cv × group) and ``ranking_summary`` (per candidate × cv:
    mean τ_b with its hierarchical-bootstrap interval, median, ρ and top-1 rate, group counts).
    """
    cfg = AnalysisConfig.from_dict(config)
    if predictions is None:
        sub = {**_as_dict(cfg), "protocols": (cfg.ranking_protocol,), "importance_feature_sets": ()}
        predictions = run_regression(table, sub)["predictions"]
    nets = network_scores(table, predictions, cfg)
    means = (
        nets.groupby(["candidate", "kind", "cv", "feature_set", *RANK_GROUP, "pruner"], sort=True)[
            ["score", "accuracy"]
        ]
        .mean()
        .reset_index()
    )
    means = means.join(_varying_groups(table, means), on=["feature_set", *RANK_GROUP])
    # unsupervised scores have no feature set (NaN here): a constant score shows up as τ = NaN instead
    means["varies"] = means["varies"].astype("boolean").fillna(True).astype(bool)
    rows = seed_ceiling_rows(table, cfg)
    boots: dict[tuple[str, str], tuple[list[Any], np.ndarray]] = {}
    for (name, kind, cv), cand in means.groupby(["candidate", "kind", "cv"], sort=True):
        ranked = []
        for gkey, grp in cand.groupby(RANK_GROUP, sort=True):
            base = {
                "candidate": name,
                "kind": kind,
                "cv": cv,
                **dict(zip(RANK_GROUP, gkey, strict=True)),
                "n_pruners": len(grp),
            }
            if not grp["varies"].all():
                reason = "the feature set does not vary within this group: out-of-fold predictions would "
                reason += "only reflect which networks share a fold"
                rows.append({**base, "status": "skipped", "reason": reason})
                continue
            if len(grp) < cfg.min_pruners:
                reason = f"{len(grp)} pruners with a score < min_pruners={cfg.min_pruners}"
                rows.append({**base, "status": "skipped", "reason": reason})
                continue
            res = rank_scores(
                grp["accuracy"].to_numpy(float), grp["score"].to_numpy(float), grp["pruner"].to_numpy(str)
            )
            status = "ok" if np.isfinite(res["kendall_tau"]) else "undefined"
            reason = "" if status == "ok" else "τ_b undefined: the candidate or the truth is constant"
            rows.append({**base, **res, "status": status, "reason": reason})
            ranked.append(gkey)
        if ranked and cfg.bootstrap > 0:
            sel = nets[(nets["candidate"] == name) & (nets["cv"] == cv)]
            sel = sel[sel.set_index(RANK_GROUP).index.isin(ranked)]
            gkeys, _, acc, score, count = _arrays(sel)
            boots[(name, cv)] = (gkeys, hierarchical_tau(acc, score, count, cfg.bootstrap, cfg.seed))
    ranking = pd.DataFrame(rows).reindex(columns=RANKING_COLUMNS)
    if len(ranking):
        ranking = ranking.sort_values(["kind", "candidate", "cv", *RANK_GROUP], kind="mergesort")
        ranking = ranking.reset_index(drop=True)
    return {"ranking": ranking, "ranking_summary": summarise_ranking(ranking, cfg, boots)}


def summarise_ranking(
    ranking: pd.DataFrame,
    cfg: AnalysisConfig,
    boots: Mapping[tuple[str, str], tuple[list[Any], np.ndarray]] | None = None,
) -> pd.DataFrame:
    """Mean τ_b (hierarchical-bootstrap interval where replicates are given, else over groups), median
    τ_b, ρ and top-1 (group bootstrap) over the ranked groups of each candidate × cv."""
    out = []
    boots = boots or {}
    for (name, kind, cv), grp in ranking.groupby(["candidate", "kind", "cv"], sort=True):
        ok = grp[grp["status"] == "ok"]
        row: dict[str, Any] = {
            "candidate": name,
            "kind": kind,
            "cv": cv,
            "cv_label": CV_SCHEMES.get(cv).label if cv in CV_SCHEMES else "",
            "n_groups": len(ok),
            "n_groups_undefined": int((grp["status"] == "undefined").sum()),
            "n_groups_skipped": int((grp["status"] == "skipped").sum()),
            "kendall_tau_median": float(ok["kendall_tau"].median()) if len(ok) else np.nan,
        }
        for col in ("kendall_tau", "spearman_rho", "top1"):
            mean, lo, hi = bootstrap_mean_ci(ok[col].to_numpy(float), cfg.bootstrap, cfg.seed, cfg.ci)
            row.update({col: mean, f"{col}_low": lo, f"{col}_high": hi})
        if (name, cv) in boots and len(ok) >= 2:
            gkeys, reps = boots[(name, cv)]
            keep = [
                k for k, g in enumerate(gkeys) if g in set(ok[RANK_GROUP].itertuples(index=False, name=None))
            ]
            reps = reps[:, keep]
            rng = np.random.default_rng([cfg.seed, 1])
            pick = rng.integers(0, reps.shape[1], size=reps.shape)
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                boot_means = np.nanmean(np.take_along_axis(reps, pick, axis=1), axis=1)
            boot_means = boot_means[np.isfinite(boot_means)]
            if len(boot_means):
                alpha = (1.0 - cfg.ci) / 2.0
                row["kendall_tau_low"], row["kendall_tau_high"] = np.quantile(boot_means, [alpha, 1 - alpha])
                row["ci_method"] = "hierarchical (seeds within configurations, then groups)"
        row.setdefault("ci_method", "groups")
        out.append(row)
    summary = pd.DataFrame(out).reindex(columns=SUMMARY_COLUMNS)
    if len(summary):
        summary = summary.sort_values(["kind", "candidate", "cv"], kind="mergesort").reset_index(drop=True)
    return summary


def _as_dict(cfg: AnalysisConfig) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(cfg)
