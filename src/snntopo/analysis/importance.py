"""Metric importance per sparsity and per architecture (docs/method/analyses.md), grouped by the five metric
groups.

Two sources, both computed inside the per-group regressions of ``run_regression``:

* ``permutation``: R² decrease of the out-of-fold predictions when a feature is permuted within the
  held-out folds (estimator ``importance_estimator``, default gradient-boosted trees);
* ``ols_coef``: |standardised OLS coefficient| of the whole-group fit, only in groups where OLS applies
  (n ≥ 10 p) and every VIF ≤ 10: collinear metrics (e.g. counts that are exact functions of each other)
  get large coefficients of opposite sign that cancel, which says nothing about importance.

Permutation importance has its own caveat: with correlated features the model reads a permuted
feature's information from its correlates, so each of a correlated pair looks less important than the
pair is. Importances are computed per CV scheme (``cv``); ``ols_coef`` has ``cv = none``.

Within each regression group the importances are clipped at 0, summed over layers of the same metric
(per-layer feature sets), and normalised to sum 1, so groups of different difficulty weigh the same.
They are then averaged: *per sparsity* over the (model, dataset) groups of the
``model_dataset_sparsity`` protocol, and *per architecture* over the datasets of the ``model_dataset``
protocol. Metric-group importance is the sum over the group's metrics.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from snntopo.analysis.config import AnalysisConfig
from snntopo.analysis.features import GROUP_ORDER
from snntopo.analysis.regression import run_regression

#: (importance level, protocol whose groups are averaged, column that names the level)
LEVELS: tuple[tuple[str, str, str], ...] = (
    ("sparsity", "model_dataset_sparsity", "sparsity"),
    ("model", "model_dataset", "model"),
)
_GKEY = ["protocol", "cv", "feature_set", "dataset", "model", "sparsity"]
METRIC_COLUMNS = [
    "source",
    "cv",
    "feature_set",
    "by",
    "level",
    "family",
    "metric",
    "group",
    "importance",
    "importance_std",
    "n_groups",
]
GROUP_COLUMNS = [
    "source",
    "cv",
    "feature_set",
    "by",
    "level",
    "group",
    "importance",
    "importance_std",
    "n_groups",
]


def _normalised(raw: pd.DataFrame, value: str) -> pd.DataFrame:
    """Per regression group: clip at 0, sum over layers of a metric, normalise to sum 1."""
    df = raw.assign(_v=raw[value].clip(lower=0).fillna(0.0))
    keys = [*_GKEY, "family", "metric", "group"]
    per_metric = df.groupby(keys, dropna=False, sort=True)["_v"].sum().reset_index()
    total = per_metric.groupby(_GKEY, dropna=False)["_v"].transform("sum")
    per_metric["share"] = np.where(total > 0, per_metric["_v"] / total.where(total > 0, 1.0), np.nan)
    return per_metric


def _aggregate(norm: pd.DataFrame, source: str) -> tuple[list[pd.DataFrame], list[pd.DataFrame]]:
    metrics, groups = [], []
    for by, protocol, col in LEVELS:
        sub = norm[(norm["protocol"] == protocol) & norm["share"].notna()]
        if sub.empty:
            continue
        level = sub[col].map(lambda v: f"{v:g}" if isinstance(v, float) else str(v))
        sub = sub.assign(level=level)
        m = (
            sub.groupby(["cv", "feature_set", "level", "family", "metric", "group"], sort=True)["share"]
            .agg(importance="mean", importance_std="std", n_groups="count")
            .reset_index()
        )
        metrics.append(m.assign(source=source, by=by))
        per_group = sub.groupby([*_GKEY, "level", "group"], dropna=False, sort=True)["share"].sum()
        per_group = per_group.reset_index()
        g = (
            per_group.groupby(["cv", "feature_set", "level", "group"], sort=True)["share"]
            .agg(importance="mean", importance_std="std", n_groups="count")
            .reset_index()
        )
        groups.append(g.assign(source=source, by=by))
    return metrics, groups


def summarise_importance(
    permutation_importance: pd.DataFrame, ols_coefficients: pd.DataFrame, cfg: AnalysisConfig
) -> dict[str, pd.DataFrame]:
    """Build ``importance_metrics`` and ``importance_groups`` from the raw per-group tables."""
    metrics: list[pd.DataFrame] = []
    groups: list[pd.DataFrame] = []
    if len(permutation_importance):
        m, g = _aggregate(_normalised(permutation_importance, "importance_mean"), "permutation")
        metrics += m
        groups += g
    if len(ols_coefficients):
        coef = ols_coefficients[ols_coefficients["feature_set"].isin(cfg.importance_feature_sets)]
        # coefficients of collinear features trade off against each other (VIF > 10): not importances
        coef = coef[coef["coef_importance"].astype(bool)]
        coef = coef.assign(abs_coef=coef["coef"].abs())
        m, g = _aggregate(_normalised(coef, "abs_coef"), "ols_coef")
        metrics += m
        groups += g
    metric_table = _finish(
        metrics, METRIC_COLUMNS, ["source", "cv", "feature_set", "by", "level", "family", "metric"]
    )
    group_table = _finish(groups, GROUP_COLUMNS, ["source", "cv", "feature_set", "by", "level", "group"])
    if len(group_table):  # the five groups in docs/method/metrics.md order, not alphabetical
        order = {g: i for i, g in enumerate(GROUP_ORDER)}
        group_table = (
            group_table.assign(_o=group_table["group"].map(order))
            .sort_values(["source", "cv", "feature_set", "by", "level", "_o"], kind="mergesort")
            .drop(columns="_o")
            .reset_index(drop=True)
        )
    return {"importance_metrics": metric_table, "importance_groups": group_table}


def _finish(frames: list[pd.DataFrame], columns: list[str], by: list[str]) -> pd.DataFrame:
    if not frames:
        return pd.DataFrame(columns=columns)
    df = pd.concat(frames, ignore_index=True).reindex(columns=columns)
    return df.sort_values(by, kind="mergesort").reset_index(drop=True)


def run_importance(
    table: pd.DataFrame,
    config: Mapping[str, Any] | AnalysisConfig | None = None,
    regression: Mapping[str, pd.DataFrame] | None = None,
) -> dict[str, pd.DataFrame]:
    """Importance of metrics and metric groups per sparsity and per architecture.

    ``regression`` is the output of ``run_regression`` (its ``permutation_importance`` and
    ``ols_coefficients``); when omitted, the regressions needed (``importance_feature_sets`` under the
    ``model_dataset`` and ``model_dataset_sparsity`` protocols) are run here. Config keys:
    ``importance_feature_sets, importance_estimator, importance_repeats`` and those of ``run_regression``.

    Returns ``importance_metrics`` (per source × feature set × by (sparsity|model) × level × metric) and
    ``importance_groups`` (the same per metric group).
    """
    cfg = AnalysisConfig.from_dict(config)
    if regression is None:
        from dataclasses import asdict

        sub = {
            **asdict(cfg),
            "protocols": tuple(p for _, p, _ in LEVELS),
            "feature_sets": cfg.importance_feature_sets,
            "estimators": tuple(dict.fromkeys(("linear", cfg.importance_estimator))),
            "headline_estimators": (),
        }
        regression = run_regression(table, sub)
    return summarise_importance(regression["permutation_importance"], regression["ols_coefficients"], cfg)
