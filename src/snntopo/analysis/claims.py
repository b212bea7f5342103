"""The headline comparison, its sensitivity to the learner, and the verdicts on the MGE study's claims.

Everything here is computed from the regression, importance and ranking tables; nothing is typed in:

* ``headline_r2``: mean out-of-fold R² per protocol × feature set (the headline sets, the constant floor
  and the seed-noise ceiling) × CV scheme, over the groups where *every* one of them ran under every
  scheme shown, so the columns compare the same groups (``n_groups`` says how many);
* ``learner_stability``: the order of the headline feature sets under each headline learner (two
  families × two settings) on common groups, and whether it is the same for all of them;
* ``claims``: for each claim, the estimate and interval under each scheme and a verdict from
  :func:`verdict` (the rule is in the table's ``rule`` column and in docs/method/analyses.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from snntopo.analysis.config import AnalysisConfig
from snntopo.analysis.cv import CV_SCHEMES
from snntopo.analysis.regression import CEILING_SEEDS, FAMILY, FLOOR_CONSTANT, group_ids
from snntopo.analysis.stats import bootstrap_mean_ci
from snntopo.topometric_names import METRIC_GROUPS

#: An importance (R² lost when a metric group is permuted) below this is negligible.
NEGLIGIBLE_IMPORTANCE = 0.01
#: Fewer groups than this give no verdict: a bootstrap interval over 2–4 group values is not an interval
#: (with 2 groups it is about their range), so the claim is ``inconclusive`` whatever the estimate.
MIN_VERDICT_GROUPS = 5
#: The schemes the claims are judged under (honest first) and shown beside it.
CLAIM_SCHEMES: tuple[str, ...] = ("config", "network")
#: The comparators of claim 1 and the candidates of claim 3.
BGE_AND_DENSITY: tuple[str, ...] = ("rolled", "rolled_channel", "density")
RAMANUJAN_PREFIX = "ramanujan:"

HEADLINE_COLUMNS = ["protocol", "estimator", "row", "kind", "cv", "cv_label", "n_groups", "r2_mean",
                    "r2_low", "r2_high", "r2_median"]  # fmt: skip
STABILITY_COLUMNS = ["protocol", "cv", "estimator", "family", "n_groups", "order", "stable", "min_tau"]
CLAIM_COLUMNS = ["claim", "comparison", "protocol", "cv", "cv_label", "estimate", "low", "high",
                 "n_groups", "verdict", "rule"]  # fmt: skip


def verdict(lows: Iterable[float], highs: Iterable[float], threshold: float = 0.0) -> str:
    """``holds`` when every interval lies above ``threshold``; ``fails`` when any lies below it;
    ``inconclusive`` otherwise (some interval straddles it, or an interval is missing)."""
    lows, highs = np.asarray(list(lows), float), np.asarray(list(highs), float)
    if lows.size == 0:
        return "inconclusive"
    if np.any(np.isfinite(highs) & (highs < threshold)):
        return "fails"
    if np.all(np.isfinite(lows) & (lows > threshold)):
        return "holds"
    return "inconclusive"


def _ok(regression: pd.DataFrame) -> pd.DataFrame:
    ok = regression[regression["status"] == "ok"]
    return ok.assign(_gid=group_ids(ok))


def _common(frame: pd.DataFrame, by: list[str]) -> set[str]:
    per = frame.groupby(by)["_gid"].agg(set)
    return set.intersection(*per) if len(per) else set()


def headline_r2(regression: pd.DataFrame, cfg: AnalysisConfig) -> pd.DataFrame:
    """Feature set (and floor, ceiling) × CV scheme, per protocol and primary learner, on common groups."""
    ok = _ok(regression)
    sets = [*cfg.headline_feature_sets, FLOOR_CONSTANT, CEILING_SEEDS]
    est = cfg.importance_estimator
    rows = []
    for protocol, grp in ok.groupby("protocol", sort=True):
        sel = grp[grp["feature_set"].isin(sets) & grp["cv"].isin(cfg.cv)]
        sel = sel[(sel["kind"] != "features") | (sel["estimator"] == est)]
        common = _common(sel, ["feature_set", "cv"])
        if not common:
            continue
        for (fs, kind, cv), g in sel[sel["_gid"].isin(common)].groupby(["feature_set", "kind", "cv"]):
            mean, lo, hi = bootstrap_mean_ci(g["r2"].to_numpy(float), cfg.bootstrap, cfg.seed, cfg.ci)
            rows.append({"protocol": protocol, "estimator": est, "row": fs, "kind": kind, "cv": cv,
                         "cv_label": CV_SCHEMES.get(cv).label, "n_groups": len(common), "r2_mean": mean,
                         "r2_low": lo, "r2_high": hi, "r2_median": float(g["r2"].median())})  # fmt: skip
    out = pd.DataFrame(rows, columns=HEADLINE_COLUMNS)
    return out.sort_values(["protocol", "kind", "row", "cv"], kind="mergesort").reset_index(drop=True)


def learner_stability(regression: pd.DataFrame, cfg: AnalysisConfig) -> pd.DataFrame:
    """Order of the headline feature sets by mean R² (common groups) under each headline learner."""
    from snntopo.analysis.ranking import kendall_tau_b

    ok = _ok(regression)
    learners = list(dict.fromkeys([*cfg.headline_estimators]))
    rows = []
    for (protocol, cv), grp in ok[ok["cv"].isin(cfg.cv)].groupby(["protocol", "cv"], sort=True):
        sel = grp[grp["feature_set"].isin(cfg.headline_feature_sets) & grp["estimator"].isin(learners)]
        if sel.empty:
            continue
        common = _common(sel, ["feature_set", "estimator"])
        means = sel[sel["_gid"].isin(common)].pivot_table(index="estimator", columns="feature_set",
                                                            values="r2", aggfunc="mean")  # fmt: skip
        if means.empty or means.shape[1] < 2:
            continue
        orders = {e: " > ".join(means.loc[e].sort_values(ascending=False, kind="mergesort").index)
                  for e in means.index}  # fmt: skip
        vals = means.to_numpy(float)
        taus = [
            float(kendall_tau_b(vals[i], vals[j])) for i in range(len(vals)) for j in range(i + 1, len(vals))
        ]
        stable = len(set(orders.values())) == 1
        for e in means.index:
            rows.append({"protocol": protocol, "cv": cv, "estimator": e, "family": FAMILY.get(e, e),
                         "n_groups": len(common), "order": orders[e], "stable": stable,
                         "min_tau": min(taus) if taus else np.nan})  # fmt: skip
    return pd.DataFrame(rows, columns=STABILITY_COLUMNS)


def _paired(
    ok: pd.DataFrame, protocol: str, cv: str, est: str, a: str, b: str, cfg: AnalysisConfig
) -> dict[str, Any]:
    """Mean over common groups of R²(a) − R²(b) and its bootstrap interval."""
    sel = ok[(ok["protocol"] == protocol) & (ok["cv"] == cv) & (ok["estimator"] == est)]
    wide = sel.pivot_table(index="_gid", columns="feature_set", values="r2", aggfunc="mean")
    if a not in wide or b not in wide:
        missing = a if a not in wide else b
        return {
            "estimate": np.nan,
            "low": np.nan,
            "high": np.nan,
            "n_groups": 0,
            "note": f"no {missing} result",
        }
    diff = (wide[a] - wide[b]).dropna().to_numpy(float)
    mean, lo, hi = bootstrap_mean_ci(diff, cfg.bootstrap, cfg.seed, cfg.ci)
    return {"estimate": mean, "low": lo, "high": hi, "n_groups": len(diff), "note": ""}


def _claim_rows(claim: str, protocol: str, cv: str, parts: list[tuple[str, dict[str, Any]]], rule: str,
                threshold: float = 0.0) -> list[dict[str, Any]]:  # fmt: skip
    label = CV_SCHEMES.get(cv).label if cv in CV_SCHEMES else cv
    n_min = min((p["n_groups"] for _, p in parts), default=0)
    overall = _judged([p["low"] for _, p in parts], [p["high"] for _, p in parts], n_min, threshold)
    rule += f"; fewer than {MIN_VERDICT_GROUPS} groups: inconclusive"
    rows = [{"claim": claim, "comparison": name, "protocol": protocol, "cv": cv, "cv_label": label,
             "estimate": p["estimate"], "low": p["low"], "high": p["high"], "n_groups": p["n_groups"],
             "verdict": _with_note(_judged([p["low"]], [p["high"]], p["n_groups"], threshold), p["note"]),
             "rule": rule} for name, p in parts]  # fmt: skip
    rows.append({"claim": claim, "comparison": "overall", "protocol": protocol, "cv": cv, "cv_label": label,
                 "n_groups": n_min, "verdict": overall, "rule": rule})  # fmt: skip
    return rows


def _judged(lows: Iterable[float], highs: Iterable[float], n_groups: int, threshold: float) -> str:
    """:func:`verdict`, or ``inconclusive`` naming why when too few groups stand behind the intervals."""
    if 0 < n_groups < MIN_VERDICT_GROUPS:
        return f"inconclusive (only {n_groups} groups; a verdict needs {MIN_VERDICT_GROUPS})"
    return verdict(lows, highs, threshold)


def _with_note(text: str, note: str) -> str:
    return f"{text} ({note})" if note else text


def claims_table(
    regression: pd.DataFrame,
    permutation_importance: pd.DataFrame,
    ranking: pd.DataFrame,
    cfg: AnalysisConfig,
) -> pd.DataFrame:
    """The verdict on each claim of the MGE study, under ``config`` (the pruner scheme for rankings) and
    ``network`` (seen configurations), per protocol."""
    ok = _ok(regression)
    est = cfg.importance_estimator
    rows: list[dict[str, Any]] = []
    c1 = "MGE topometrics predict the accuracy drop better than BGE metrics and layer density"
    r1 = "holds if the interval of mean R²(mge) − R²(other) over common groups is above 0 for every other; "
    r1 += "fails if it is below 0 for any; else inconclusive"
    for protocol in sorted(ok["protocol"].unique()):
        for cv in [c for c in CLAIM_SCHEMES if c in cfg.cv]:
            parts = [(f"mge − {b}", _paired(ok, protocol, cv, est, "mge", b, cfg)) for b in BGE_AND_DENSITY]
            rows += _claim_rows(c1, protocol, cv, parts, r1)
    rows += _importance_claims(permutation_importance, cfg)
    rows += _ranking_claims(ranking, cfg)
    out = pd.DataFrame(rows, columns=CLAIM_COLUMNS)
    return out.reset_index(drop=True)


def _importance_claims(imp: pd.DataFrame, cfg: AnalysisConfig) -> list[dict[str, Any]]:
    """Claim 2: which topometric groups matter (held-out permutation importance summed over a group)."""
    claim = "Topometric groups that matter for the prediction"
    rule = (f"per group: holds if the interval of the mean R² lost when the group's metrics are permuted "
            f"is above {NEGLIGIBLE_IMPORTANCE}; fails if below it; else inconclusive. Permutation importance "
            f"understates correlated metrics")  # fmt: skip
    if imp is None or imp.empty:
        return []
    sel = imp[(imp["feature_set"] == "mge") & (imp["estimator"] == cfg.importance_estimator)]
    rows = []
    for (protocol, cv), grp in sel.groupby(["protocol", "cv"], sort=True):
        if cv not in CLAIM_SCHEMES:
            continue
        per = grp.groupby([*("dataset", "model", "sparsity"), "group"], dropna=False)["importance_mean"].sum()
        per = per.reset_index()
        parts = []
        for g in METRIC_GROUPS:
            v = per.loc[per["group"] == g, "importance_mean"].to_numpy(float)
            mean, lo, hi = bootstrap_mean_ci(v, cfg.bootstrap, cfg.seed, cfg.ci)
            parts.append((g, {"estimate": mean, "low": lo, "high": hi, "n_groups": len(v),
                              "note": "" if len(v) else "no importance"}))  # fmt: skip
        for name, p in parts:  # one verdict per group (no "overall": groups are not one claim)
            rows += _claim_rows(claim, protocol, cv, [(name, p)], rule, NEGLIGIBLE_IMPORTANCE)[:1]
    return rows


def _ranking_claims(ranking: pd.DataFrame, cfg: AnalysisConfig) -> list[dict[str, Any]]:
    """Claim 3: topometrics rank PaI algorithms better than Ramanujan metrics (paired τ_b per group)."""
    claim = "MGE topometrics rank pruning algorithms better than Ramanujan metrics"
    rule = "holds if the interval of mean τ_b(mge) − τ_b(Ramanujan score) over common groups is above 0 for "
    rule += "every Ramanujan score; fails if below 0 for any; else inconclusive"
    if ranking is None or ranking.empty:
        return []
    ok = ranking[ranking["status"] == "ok"]
    key = ["dataset", "model", "sparsity"]
    ram = ok[ok["candidate"].str.startswith(RAMANUJAN_PREFIX)]
    rows = []
    for cv in ("pruner", "network"):
        mge = ok[(ok["candidate"] == f"mge/{cfg.importance_estimator}") & (ok["cv"] == cv)]
        if mge.empty or ram.empty:
            continue
        parts = []
        for name, r in ram.groupby("candidate", sort=True):
            m = mge.merge(r, on=key, suffixes=("", "_r"))
            diff = (m["kendall_tau"] - m["kendall_tau_r"]).to_numpy(float)
            mean, lo, hi = bootstrap_mean_ci(diff, cfg.bootstrap, cfg.seed, cfg.ci)
            parts.append((f"mge − {name}", {"estimate": mean, "low": lo, "high": hi, "n_groups": len(diff),
                                              "note": ""}))  # fmt: skip
        rows += _claim_rows(claim, cfg.ranking_protocol, cv, parts, rule)
    return rows


def claims_wide(claims: pd.DataFrame) -> pd.DataFrame:
    """The report's view: one row per claim × comparison × protocol, held-out verdict beside the
    seen-configurations one."""
    if claims.empty:
        return pd.DataFrame(columns=["claim", "comparison", "protocol"])
    c = claims.assign(
        held_out=claims["cv"].isin(["config", "pruner"]),
        cell=[_cell(e, lo, hi) for e, lo, hi in claims[["estimate", "low", "high"]].to_numpy(float)],
    )
    c["side"] = np.where(c["held_out"], "held-out", "seen configurations")
    wide = c.pivot_table(index=["claim", "comparison", "protocol"], columns="side",
                         values=["verdict", "cell", "n_groups"], aggfunc="first")  # fmt: skip
    wide.columns = [f"{side}: {what}" for what, side in wide.columns]
    order = [
        f"{s}: {w}" for s in ("held-out", "seen configurations") for w in ("verdict", "cell", "n_groups")
    ]
    return wide.reindex(columns=[c for c in order if c in wide.columns]).reset_index()


def _cell(mean: float, lo: float, hi: float) -> str:
    if not np.isfinite(mean):
        return "–"
    if np.isfinite(lo) and np.isfinite(hi):
        return f"{mean:.3f} [{lo:.3f}, {hi:.3f}]"
    return f"{mean:.3f}"


def run_claims(
    tables: Mapping[str, pd.DataFrame], config: Mapping[str, Any] | AnalysisConfig | None = None
) -> dict[str, pd.DataFrame]:
    """``headline_r2``, ``learner_stability`` and ``claims`` from the other stages' tables."""
    cfg = AnalysisConfig.from_dict(config)
    return {
        "headline_r2": headline_r2(tables["regression"], cfg),
        "learner_stability": learner_stability(tables["regression"], cfg),
        "claims": claims_table(
            tables["regression"], tables.get("permutation_importance"), tables.get("ranking"), cfg
        ),
    }
