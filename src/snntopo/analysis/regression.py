"""Regression of the accuracy drop on feature sets, under the grouping protocols of METHOD.md §4.2.

For every protocol, group and feature set, the target ``y`` (``drop.add_target``) is predicted out of
fold by seeded shuffled k-fold cross-validation with each estimator; scores are R² and MAE of the
pooled out-of-fold predictions. The same pass yields the out-of-fold predictions used by the ranking
study and, for the feature sets named in ``importance_feature_sets``, permutation importances on the
held-out folds. OLS is also fitted once on the whole group for coefficients, confidence intervals and
p-values.

Degenerate cases (each recorded in the ``status``/``reason`` columns, never silently):

* rows with every feature of the set missing are left out of that set's regression (``n`` counts the rest);
* columns all-missing or constant within the group are dropped before CV; inside each training fold,
  columns constant in the fold are dropped and remaining NaN/±inf are imputed with the training-fold
  median (also applied to the test fold), then features are standardised with training-fold statistics;
* groups with fewer than ``min_group_size`` networks (default 2 × folds), without any informative
  feature, or with a constant target are skipped, and so is a combination ``a+b`` in a group where one
  of its parts has no informative column;
* a protocol that pools (model, dataset) pairs needs dense accuracies; without them it is refused
  (one ``skipped`` row per feature set and estimator carries the message).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from snntopo.analysis.config import AnalysisConfig
from snntopo.analysis.drop import DenseAccuracyMissingError, add_target, require_dense
from snntopo.analysis.features import parse_columns, select_features, why_no_columns
from snntopo.analysis.stats import bootstrap_mean_ci, r2_score
from snntopo.registry import Registry

log = logging.getLogger(__name__)

GROUP_KEYS: tuple[str, ...] = ("dataset", "model", "sparsity")
NETWORK_KEYS: tuple[str, ...] = ("dataset", "model", "pruner", "sparsity", "seed")


# --------------------------------------------------------------------------------------------------
# Grouping protocols
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupingProtocol:
    """Which networks are regressed together: one regression per distinct value of ``keys``."""

    keys: tuple[str, ...]
    pooled: bool  # pools several (model, dataset) pairs ⇒ needs dense accuracies (METHOD §4.1)
    description: str


PROTOCOLS: Registry[GroupingProtocol] = Registry("grouping protocol")
PROTOCOLS.register("model_dataset")(
    GroupingProtocol(("model", "dataset"), False, "per model × dataset, sparsities pooled (protocol A)")
)
PROTOCOLS.register("model_dataset_sparsity")(
    GroupingProtocol(("model", "dataset", "sparsity"), False, "per model × dataset × sparsity (protocol B)")
)
PROTOCOLS.register("sparsity")(
    GroupingProtocol(("sparsity",), True, "per sparsity, models and datasets pooled (needs dense accuracy)")
)


# --------------------------------------------------------------------------------------------------
# Estimators
# --------------------------------------------------------------------------------------------------


class Estimator(Protocol):
    def fit(self, X: np.ndarray, y: np.ndarray) -> Any: ...
    def predict(self, X: np.ndarray) -> np.ndarray: ...


ESTIMATORS: Registry[Any] = Registry("estimator")


@ESTIMATORS.register("ols")
class OLSEstimator:
    """statsmodels OLS with intercept on (already standardised) features; pinv, so p > n still predicts."""

    def __init__(self, cfg: AnalysisConfig):
        self.result: Any = None

    def fit(self, X: np.ndarray, y: np.ndarray) -> OLSEstimator:
        import statsmodels.api as sm

        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            self.result = sm.OLS(y, _with_const(X)).fit()
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.result.predict(_with_const(X)), dtype=float)


@ESTIMATORS.register("gbt")
class GBTEstimator:
    """Gradient-boosted regression trees (squared error), equal to scikit-learn's
    ``GradientBoostingRegressor(n_estimators, max_depth, learning_rate, random_state=seed)``.

    The boosting loop is written out over scikit-learn's ``DecisionTreeRegressor`` (squared error, to
    which the ensemble's default friedman_mse criterion is equivalent; one shared ``RandomState`` as in
    the ensemble) so that the per-tree input validation of
    the ensemble, which dominates the cost on groups of a few dozen networks, is skipped; predictions are
    identical to the ensemble's (see the unit test). Initial prediction = mean of y, leaves = mean
    residual, as in scikit-learn for the squared error.
    """

    def __init__(self, cfg: AnalysisConfig):
        self.n_estimators = int(cfg.gbt["n_estimators"])
        self.max_depth = cfg.gbt["max_depth"]
        self.learning_rate = float(cfg.gbt["learning_rate"])
        self.seed = cfg.seed
        self.trees: list[Any] = []
        self.init = 0.0

    def fit(self, X: np.ndarray, y: np.ndarray) -> GBTEstimator:
        import sklearn
        from sklearn.tree import DecisionTreeRegressor

        X32 = np.ascontiguousarray(X, dtype=np.float32)  # the dtype scikit-learn's trees work in
        rs = np.random.RandomState(self.seed)
        self.init = float(np.mean(y))
        raw = np.full(len(y), self.init)
        self.trees = []
        with sklearn.config_context(skip_parameter_validation=True, assume_finite=True):
            for _ in range(self.n_estimators):
                tree = DecisionTreeRegressor(
                    criterion="squared_error", max_depth=self.max_depth, random_state=rs
                )
                tree.fit(X32, y - raw, check_input=False)
                raw += self.learning_rate * _tree_predict(tree, X32)
                self.trees.append(tree)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        X32 = np.ascontiguousarray(X, dtype=np.float32)
        raw = np.full(len(X32), self.init)
        for tree in self.trees:
            raw += self.learning_rate * _tree_predict(tree, X32)
        return raw


def _tree_predict(tree: Any, X32: np.ndarray) -> np.ndarray:
    # the fitted tree's own Cython predict: what DecisionTreeRegressor.predict returns, minus its checks
    return tree.tree_.predict(X32).reshape(len(X32))


def _with_const(X: np.ndarray) -> np.ndarray:
    return np.column_stack([np.ones(len(X)), X])


@dataclass
class Preprocessor:
    """Training-fold statistics: kept columns, medians for imputation, mean/std for standardisation."""

    keep: np.ndarray
    median: np.ndarray
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray) -> Preprocessor:
        median = nanmedian_columns(X)  # NaN for all-missing columns, which are dropped below
        Xi = np.where(np.isnan(X), median, X)
        std = Xi.std(axis=0)
        keep = np.isfinite(median) & (std > 0)
        return cls(keep, median[keep], Xi.mean(axis=0)[keep], std[keep])

    def transform(self, X: np.ndarray) -> np.ndarray:
        Z = X[..., self.keep]
        Z = np.where(np.isnan(Z), self.median, Z)
        return (Z - self.mean) / self.std


def nanmedian_columns(X: np.ndarray) -> np.ndarray:
    """Column medians ignoring NaN (NaN where a column has no value); ``np.nanmedian`` without its
    masked-array path, which is slow for many small matrices."""
    X = np.asarray(X, dtype=float)
    if X.shape[0] == 0:
        return np.full(X.shape[1], np.nan)
    srt = np.sort(X, axis=0)  # NaN sort last
    count = (~np.isnan(X)).sum(axis=0)
    lo = np.take_along_axis(srt, np.maximum((count - 1) // 2, 0)[None, :], axis=0)[0]
    hi = np.take_along_axis(srt, np.maximum(count // 2, 0)[None, :], axis=0)[0]
    # the hi index reaches the NaN tail only when count == 0
    return np.where(count > 0, (lo + hi) / 2.0, np.nan)


def _clean(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=float)
    return np.where(np.isfinite(X), X, np.nan)


def informative_columns(X: np.ndarray) -> np.ndarray:
    """Boolean mask of columns that are neither all-missing nor constant (NaN ignored)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanmin(X, axis=0), np.nanmax(X, axis=0)
    return np.isfinite(lo) & (hi > lo)


@dataclass
class CVResult:
    oof: np.ndarray  # out-of-fold predictions, one per row
    r2: float
    mae: float
    importance_mean: np.ndarray | None = None  # R² decrease per feature (permutation on held-out folds)
    importance_std: np.ndarray | None = None


def cross_validate(
    X: np.ndarray, y: np.ndarray, estimator: str, cfg: AnalysisConfig, *, importance_repeats: int = 0
) -> CVResult:
    """Seeded shuffled k-fold CV of ``estimator`` on ``(X, y)``; optional held-out permutation importance.

    Permutation importance of feature j = R²(out-of-fold) − R²(out-of-fold with column j permuted within
    each held-out fold), mean and std over ``importance_repeats`` permutations. Permutation is applied to
    the raw test features, before the training-fold preprocessing, so a column dropped in a fold simply
    has no effect there.
    """
    from sklearn.model_selection import KFold

    X, y = _clean(X), np.asarray(y, dtype=float)
    n, p = X.shape
    make = ESTIMATORS.get(estimator)
    oof = np.empty(n)
    R = int(importance_repeats)
    perm_pred = np.empty((R, p, n)) if R else None
    folds = KFold(n_splits=cfg.folds, shuffle=True, random_state=cfg.seed)
    for fold, (tr, te) in enumerate(folds.split(X)):
        prep = Preprocessor.fit(X[tr])
        model = make(cfg)
        if not prep.keep.any():  # nothing varies in this training fold: predict its mean
            oof[te] = y[tr].mean()
            if R:
                perm_pred[:, :, te] = y[tr].mean()
            continue
        model.fit(prep.transform(X[tr]), y[tr])
        Xt = X[te]
        oof[te] = model.predict(prep.transform(Xt))
        if R:
            m = len(te)
            rng = np.random.default_rng([cfg.seed, fold])
            J, K = np.arange(p)[:, None], np.arange(m)[None, :]
            for r in range(R):
                perm = rng.permutation(m)
                stacked = np.broadcast_to(Xt, (p, m, p)).copy()  # block j = test fold with column j permuted
                stacked[J, K, J] = Xt[perm[K], J]
                perm_pred[r][:, te] = model.predict(prep.transform(stacked.reshape(p * m, p))).reshape(p, m)
    r2 = float(r2_score(y, oof))
    mae = float(np.abs(oof - y).mean())
    result = CVResult(oof, r2, mae)
    if R:
        drops = r2 - r2_score(y, perm_pred)  # (R, p)
        result.importance_mean = drops.mean(axis=0)
        result.importance_std = drops.std(axis=0)
    return result


def ols_coefficients(X: np.ndarray, y: np.ndarray, ci: float = 0.95) -> pd.DataFrame:
    """Standardised OLS fit on the whole group: one row per kept feature (index into X's columns).

    Columns: ``index, coef, std_err, ci_low, ci_high, p_value, df_resid``. Inference is NaN when the
    residual degrees of freedom are not positive (more features than networks).
    """
    import statsmodels.api as sm

    X = _clean(X)
    prep = Preprocessor.fit(X)
    Z = prep.transform(X)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        res = sm.OLS(np.asarray(y, dtype=float), _with_const(Z)).fit()
        df_resid = float(res.df_resid)
        if df_resid > 0:
            bse, pv = np.asarray(res.bse)[1:], np.asarray(res.pvalues)[1:]
            cint = np.asarray(res.conf_int(alpha=1.0 - ci))[1:]
        else:
            bse = pv = np.full(Z.shape[1], np.nan)
            cint = np.full((Z.shape[1], 2), np.nan)
    return pd.DataFrame(
        {
            "index": np.flatnonzero(prep.keep),
            "coef": np.asarray(res.params)[1:],
            "std_err": bse,
            "ci_low": cint[:, 0],
            "ci_high": cint[:, 1],
            "p_value": pv,
            "df_resid": df_resid,
        }
    )


# --------------------------------------------------------------------------------------------------
# The regression study
# --------------------------------------------------------------------------------------------------


def _group_fields(protocol: str, keys: tuple[str, ...], values: tuple[Any, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {"protocol": protocol, "dataset": np.nan, "model": np.nan, "sparsity": np.nan}
    out.update(dict(zip(keys, values, strict=True)))
    return out


def _skipped_rows(
    protocol: str, feature_sets: Iterable[str], estimators: Iterable[str], reason: str
) -> list[dict[str, Any]]:
    """One "skipped" row per (feature set, estimator) of ``protocol``, with the reason recorded."""
    return [
        {"protocol": protocol, "feature_set": fs, "estimator": est, "status": "skipped", "reason": reason}
        for fs in feature_sets
        for est in estimators
    ]


def run_regression(
    table: pd.DataFrame, config: Mapping[str, Any] | AnalysisConfig | None = None
) -> dict[str, pd.DataFrame]:
    """Cross-validated regression of the accuracy drop on every feature set, protocol and estimator.

    Config keys (see ``snntopo.analysis.config``): ``drop, dense_reference, folds, seed, protocols,
    feature_sets, estimators, gbt, min_group_size, importance_feature_sets, importance_estimator,
    importance_repeats, bootstrap, ci``.

    Returns tables (all sorted, deterministic):

    * ``regression``: one row per protocol × group × feature set × estimator: ``n, n_features, r2, mae,
      target, status (ok|skipped), reason``;
    * ``regression_summary``: per protocol × feature set × estimator, mean R² over groups with bootstrap
      interval, mean MAE, group counts;
    * ``predictions``: out-of-fold predictions per network (``y``, ``y_pred``);
    * ``ols_coefficients``: standardised OLS coefficients, CIs and p-values per group and feature;
    * ``permutation_importance``: held-out permutation importances per group and feature.
    """
    cfg = AnalysisConfig.from_dict(config)
    for name in cfg.estimators:
        ESTIMATORS.get(name)
    frame = add_target(table, cfg.drop, cfg.dense_reference).reset_index(drop=True)
    fsets: dict[str, list[str]] = {fs: select_features(fs, table.columns) for fs in cfg.feature_sets}
    rows: list[dict[str, Any]] = []
    preds: list[pd.DataFrame] = []
    coefs: list[pd.DataFrame] = []
    imps: list[pd.DataFrame] = []
    tasks: list[tuple[pd.DataFrame, list[tuple[str, list[str]]], dict[str, Any]]] = []
    for protocol in cfg.protocols:
        spec = PROTOCOLS.get(protocol)
        for fs in [fs for fs, cols in fsets.items() if not cols]:
            rows += _skipped_rows(protocol, [fs], cfg.estimators, why_no_columns(fs, table.columns))
        if spec.pooled:
            try:
                require_dense(frame, f"protocol {protocol!r}")
            except DenseAccuracyMissingError as err:
                log.warning("%s", err)
                rows += _skipped_rows(protocol, fsets, cfg.estimators, str(err))
                continue
        for values, group in frame.groupby(list(spec.keys), sort=True, dropna=False):
            gfields = _group_fields(protocol, spec.keys, values if isinstance(values, tuple) else (values,))
            sets = [(fs, cols) for fs, cols in fsets.items() if cols]
            needed = sorted({c for _, cols in sets for c in cols})
            tasks.append((group[[*NETWORK_KEYS, "target", "y", *needed]], sets, gfields))
    # every task is seeded on its own, so the results do not depend on n_jobs or on the order of execution
    if cfg.n_jobs == 1 or len(tasks) < 2:
        results = [_regress_task(*task, cfg) for task in tasks]
    else:
        from joblib import Parallel, delayed

        results = Parallel(n_jobs=cfg.n_jobs)(delayed(_regress_task)(*task, cfg) for task in tasks)
    for task_results in results:
        for r, p, c, i in task_results:
            rows += r
            preds += p
            coefs += c
            imps += i
    tables = {
        "regression": _sort(
            pd.DataFrame(rows), ["protocol", "feature_set", "estimator", *GROUP_KEYS], REGRESSION_COLUMNS
        ),
        "predictions": _sort(
            _concat(preds), ["protocol", "feature_set", "estimator", *NETWORK_KEYS], PREDICTION_COLUMNS
        ),
        "ols_coefficients": _sort(
            _concat(coefs), ["protocol", "feature_set", *GROUP_KEYS, "feature"], COEFFICIENT_COLUMNS
        ),
        "permutation_importance": _sort(
            _concat(imps),
            ["protocol", "feature_set", "estimator", *GROUP_KEYS, "feature"],
            IMPORTANCE_COLUMNS,
        ),
    }
    tables["regression_summary"] = summarise_regression(tables["regression"], cfg)
    return tables


REGRESSION_COLUMNS = [
    "protocol",
    "feature_set",
    "estimator",
    *GROUP_KEYS,
    "n",
    "n_features",
    "folds",
    "target",
    "r2",
    "mae",
    "status",
    "reason",
]
PREDICTION_COLUMNS = ["protocol", "feature_set", "estimator", *NETWORK_KEYS, "target", "y", "y_pred"]
_FEATURE_INFO = ["feature", "family", "layer", "metric", "group"]
COEFFICIENT_COLUMNS = [
    "protocol",
    "feature_set",
    *GROUP_KEYS,
    *_FEATURE_INFO,
    "n",
    "coef",
    "std_err",
    "ci_low",
    "ci_high",
    "p_value",
    "df_resid",
]
IMPORTANCE_COLUMNS = [
    "protocol",
    "feature_set",
    "estimator",
    *GROUP_KEYS,
    *_FEATURE_INFO,
    "n",
    "r2",
    "importance_mean",
    "importance_std",
]


_Results = tuple[list[dict[str, Any]], list[pd.DataFrame], list[pd.DataFrame], list[pd.DataFrame]]


def _regress_task(
    group: pd.DataFrame, sets: list[tuple[str, list[str]]], gfields: dict[str, Any], cfg: AnalysisConfig
) -> list[_Results]:
    """All feature sets of one group. Sets that reduce to the same informative columns and rows in this
    group (e.g. ``mge+density`` where the density is constant) reuse one fit instead of refitting."""
    cache: dict[tuple[Any, ...], Any] = {}
    return [_regress_group(group, fs, cols, gfields, cfg, cache) for fs, cols in sets]


def _regress_group(
    group: pd.DataFrame,
    fs: str,
    cols: list[str],
    gfields: dict[str, Any],
    cfg: AnalysisConfig,
    cache: dict[tuple[Any, ...], Any] | None = None,
) -> _Results:
    """One group × feature set: result rows, out-of-fold predictions, OLS coefficients, importances."""
    cache = {} if cache is None else cache
    rows: list[dict[str, Any]] = []
    preds: list[pd.DataFrame] = []
    coefs: list[pd.DataFrame] = []
    imps: list[pd.DataFrame] = []
    X = _clean(group[cols].to_numpy(dtype=float))
    present = ~np.isnan(X).all(axis=1)
    sub, X, y = group.loc[present], X[present], group["y"].to_numpy(dtype=float)[present]
    keep = informative_columns(X) if len(X) else np.zeros(len(cols), dtype=bool)
    X, kept = X[:, keep], [c for c, k in zip(cols, keep, strict=True) if k]
    targets = sorted(sub["target"].unique())
    base = {
        **gfields,
        "feature_set": fs,
        "n": len(sub),
        "n_features": len(kept),
        "folds": cfg.folds,
        "target": targets[0] if len(targets) == 1 else "+".join(targets),
    }
    reason = None
    if len(sub) < cfg.group_min:
        reason = f"too few networks for {cfg.folds}-fold CV: n={len(sub)} < min_group_size={cfg.group_min}"
    elif not kept:
        reason = "no informative feature (every column missing or constant in this group)"
    elif empty_parts := [part for part in fs.split("+") if not select_features(part, kept)]:
        # a combination is only itself where every part contributes; otherwise it repeats one part
        reason = f"no informative feature of {', '.join(empty_parts)} in this group (combination incomplete)"
    elif np.ptp(y) == 0:
        reason = "constant target in this group"
    if reason is not None:
        for est in cfg.estimators:
            rows.append({**base, "estimator": est, "status": "skipped", "reason": reason})
        return rows, preds, coefs, imps
    info = parse_columns(kept).set_index("column").loc[kept].reset_index()
    info = info.rename(columns={"column": "feature"})
    data_key = (tuple(kept), present.tobytes())
    for est in cfg.estimators:
        want_imp = est == cfg.importance_estimator and fs in cfg.importance_feature_sets
        repeats = cfg.importance_repeats if want_imp else 0
        key = (*data_key, est, repeats)
        if key not in cache:
            cache[key] = cross_validate(X, y, est, cfg, importance_repeats=repeats)
        res = cache[key]
        rows.append({**base, "estimator": est, "r2": res.r2, "mae": res.mae, "status": "ok", "reason": ""})
        p = sub[list(NETWORK_KEYS)].copy()
        p.insert(0, "estimator", est)
        p.insert(0, "feature_set", fs)
        p.insert(0, "protocol", gfields["protocol"])
        p["target"], p["y"], p["y_pred"] = sub["target"].to_numpy(), y, res.oof
        preds.append(p)
        if want_imp:
            imp = info.copy()
            for k, v in {**gfields, "feature_set": fs, "estimator": est, "n": len(sub), "r2": res.r2}.items():
                imp[k] = v
            imp["importance_mean"], imp["importance_std"] = res.importance_mean, res.importance_std
            imps.append(imp)
    if "ols" in cfg.estimators:
        if (*data_key, "ols_coefficients") not in cache:
            cache[(*data_key, "ols_coefficients")] = ols_coefficients(X, y, cfg.ci)
        c = cache[(*data_key, "ols_coefficients")].copy()
        c = pd.concat([info.iloc[c.pop("index").to_numpy()].reset_index(drop=True), c], axis=1)
        for k, v in {**gfields, "feature_set": fs, "n": len(sub)}.items():
            c[k] = v
        coefs.append(c)
    return rows, preds, coefs, imps


def summarise_regression(regression: pd.DataFrame, cfg: AnalysisConfig) -> pd.DataFrame:
    """Mean out-of-fold R² (bootstrap interval over groups), mean MAE and group counts per
    protocol × feature set × estimator."""
    out = []
    ok = regression[regression["status"] == "ok"]
    keys = ["protocol", "feature_set", "estimator"]
    counts = regression.groupby(keys, dropna=False)["status"].agg(
        n_groups_ok=lambda s: int((s == "ok").sum()), n_groups_skipped=lambda s: int((s != "ok").sum())
    )
    for key, grp in ok.groupby(keys, sort=True):
        mean, lo, hi = bootstrap_mean_ci(grp["r2"].to_numpy(), cfg.bootstrap, cfg.seed, cfg.ci)
        out.append(
            {
                **dict(zip(keys, key, strict=True)),
                "r2_mean": mean,
                "r2_low": lo,
                "r2_high": hi,
                "r2_median": float(grp["r2"].median()),
                "mae_mean": float(grp["mae"].mean()),
            }
        )
    cols = [
        *keys,
        "n_groups_ok",
        "n_groups_skipped",
        "r2_mean",
        "r2_low",
        "r2_high",
        "r2_median",
        "mae_mean",
        "n_groups_common",
        "r2_mean_common",
    ]
    if not out:
        return pd.DataFrame(columns=cols)
    summary = pd.DataFrame(out).merge(counts.reset_index(), on=keys, how="left")
    summary = summary.merge(_common_groups(ok), on=keys, how="left")
    return _sort(summary, keys, cols)


def _common_groups(ok: pd.DataFrame) -> pd.DataFrame:
    """Mean R² over the groups where every feature set of the protocol × estimator ran.

    Feature sets exist for different subsets of groups (e.g. BGE tables for some model/dataset pairs
    only), so their plain means are over different groups; this restricts the comparison to common ones.
    """
    gid = ok[list(GROUP_KEYS)].astype(str).agg("|".join, axis=1)
    ok = ok.assign(_gid=gid)
    rows = []
    for (protocol, est), grp in ok.groupby(["protocol", "estimator"], sort=True):
        per_set = grp.groupby("feature_set")["_gid"].agg(set)
        common = set.intersection(*per_set) if len(per_set) else set()
        sel = grp[grp["_gid"].isin(common)]
        for fs, r2 in sel.groupby("feature_set")["r2"]:
            rows.append(
                {
                    "protocol": protocol,
                    "estimator": est,
                    "feature_set": fs,
                    "n_groups_common": len(common),
                    "r2_mean_common": float(r2.mean()),
                }
            )
    return pd.DataFrame(
        rows, columns=["protocol", "estimator", "feature_set", "n_groups_common", "r2_mean_common"]
    )


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _sort(df: pd.DataFrame, by: list[str], columns: list[str]) -> pd.DataFrame:
    """Fixed column order and a total, deterministic row order (NaN last)."""
    df = df.reindex(columns=columns)
    if len(df):
        df = df.sort_values(by, kind="mergesort", na_position="last")
    return df.reset_index(drop=True)
