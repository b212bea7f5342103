"""Regression of the accuracy drop on feature sets, per grouping protocol, CV scheme and learner.

For every protocol, group, CV scheme (``cv.CV_SCHEMES``: held-out configurations, held-out pruner,
seen configurations) and feature set, the target ``y`` (``drop.add_target``) is predicted out of fold
with each learner (XGBoost, scikit-learn random forests, OLS or ridge); scores are R² and MAE of the
pooled out-of-fold predictions. Each group also gets a constant-predictor floor and the seed-noise
ceiling (``kind`` floor / ceiling). The same pass yields the out-of-fold predictions used by the ranking
study and, for the feature sets named in ``importance_feature_sets``, permutation importances on the
held-out folds. OLS is also fitted once on the whole group (where n ≥ 10 p) for coefficients, intervals,
p-values and variance inflation factors.

Degenerate cases (each recorded in the ``status``/``reason`` columns, never silently):

* rows with every feature of the set missing are left out of that set's regression (``n`` counts the rest);
* columns all-missing or constant within the group are dropped before CV; inside each training fold,
  columns constant in the fold (up to rounding, relative to their magnitude) are dropped and remaining
  NaN/±inf are imputed with the training-fold median (also applied to the test fold), then features are
  standardised with training-fold statistics;
* groups with fewer than ``min_group_size`` networks (default 2 × folds), without any informative
  feature, or with a constant target are skipped, and so is a combination ``a+b`` in a group where one
  of its parts has no informative column; a scheme that cannot make two folds (one configuration,
  one pruner) is skipped with that reason;
* a protocol that pools (model, dataset) pairs needs dense accuracies; without them it is refused
  (one ``skipped`` row per feature set and estimator carries the message).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from snntopo.analysis.config import AnalysisConfig
from snntopo.analysis.cv import CHECKSUM_COLUMN, CV_SCHEMES, CVNotPossibleError, config_labels, make_splits
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
    pooled: bool  # pools several (model, dataset) pairs ⇒ needs dense accuracies (docs/method/analyses.md)
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
# Estimators: maintained libraries (XGBoost, scikit-learn, statsmodels), used as they are
# --------------------------------------------------------------------------------------------------

#: A column whose spread is at most this fraction of its magnitude is constant up to rounding: kept, its
#: z-score in a test fold would be rounding noise divided by rounding noise.
CONSTANT_RTOL = 1e-9
#: The linear learner is OLS where the training fold has at least this many networks per feature, ridge
#: otherwise (OLS with p close to n interpolates noise).
OLS_MIN_RATIO = 10
#: Coefficients are read as importances only where every VIF of the group is at most this.
MAX_VIF = 10.0
RIDGE_ALPHAS = np.logspace(-3, 3, 13)


class Estimator(Protocol):
    kind: str

    def fit(self, X: np.ndarray, y: np.ndarray) -> Any: ...
    def predict(self, X: np.ndarray) -> np.ndarray: ...


ESTIMATORS: Registry[Any] = Registry("estimator")


@ESTIMATORS.register("linear")
class LinearEstimator:
    """statsmodels OLS (intercept, standardised features) where n ≥ OLS_MIN_RATIO · p in the training
    fold; otherwise scikit-learn ``RidgeCV`` whose penalty is chosen by leave-one-out inside the training
    fold. ``kind`` says which was fitted."""

    def __init__(self, cfg: AnalysisConfig):
        self.kind = ""
        self.model: Any = None

    def fit(self, X: np.ndarray, y: np.ndarray) -> LinearEstimator:
        n, p = X.shape
        if n >= OLS_MIN_RATIO * p:
            import statsmodels.api as sm

            self.kind = "ols"
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                self.model = sm.OLS(y, _with_const(X)).fit()
        else:
            from sklearn.linear_model import RidgeCV

            self.kind = "ridge"
            self.model = RidgeCV(alphas=RIDGE_ALPHAS).fit(X, y)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        if self.kind == "ols":
            return np.asarray(self.model.predict(_with_const(X)), dtype=float)
        return np.asarray(self.model.predict(X), dtype=float)


def _xgboost_model(cfg: AnalysisConfig, setting: str) -> Any:
    """XGBoost ``XGBRegressor`` with exact greedy splits and one thread (groups run in parallel).

    On groups of tens to hundreds of networks the exact method is both faithful (no quantile sketch) and
    faster: the hist method builds a quantile matrix per fit, which costs more than the trees (0.05 s vs
    0.12 s per 100-tree fit on 170 × 16, measured with bench/analysis.py's machine)."""
    from xgboost import XGBRegressor

    return XGBRegressor(**getattr(cfg, setting), tree_method="exact", n_jobs=1, random_state=cfg.seed)


def _forest_model(cfg: AnalysisConfig, setting: str) -> Any:
    """scikit-learn ``RandomForestRegressor`` (one job: groups run in parallel instead)."""
    from sklearn.ensemble import RandomForestRegressor

    return RandomForestRegressor(**getattr(cfg, setting), n_jobs=1, random_state=cfg.seed)


def _library_learner(kind: str, build: Callable[[AnalysisConfig, str], Any], setting: str) -> type:
    """An estimator class of the registry around a maintained library's regressor, used as it is."""

    class LibraryEstimator:
        def __init__(self, cfg: AnalysisConfig):
            self.model = build(cfg, setting)

        def fit(self, X: np.ndarray, y: np.ndarray) -> Any:
            self.model.fit(X, y)
            return self

        def predict(self, X: np.ndarray) -> np.ndarray:
            return np.asarray(self.model.predict(X), dtype=float)

    LibraryEstimator.kind = kind
    LibraryEstimator.__name__ = f"{kind}_{setting}"
    LibraryEstimator.__doc__ = build.__doc__
    return LibraryEstimator


for _setting in ("gbt", "gbt_alt"):
    ESTIMATORS.register(_setting)(_library_learner("xgboost", _xgboost_model, _setting))
for _setting in ("rf", "rf_alt"):
    ESTIMATORS.register(_setting)(_library_learner("random_forest", _forest_model, _setting))

#: Learner family of each estimator (the sensitivity check needs two families).
FAMILY: dict[str, str] = {
    "linear": "linear",
    "gbt": "boosted trees",
    "gbt_alt": "boosted trees",
    "rf": "random forest",
    "rf_alt": "random forest",
}


def _with_const(X: np.ndarray) -> np.ndarray:
    return np.column_stack([np.ones(len(X)), X])


def constant_columns(X: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """Columns whose ``spread`` (std or range) is zero or rounding noise relative to their magnitude."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        scale = np.nanmax(np.abs(X), axis=0) if len(X) else np.zeros(X.shape[1])
    return ~(spread > CONSTANT_RTOL * np.nan_to_num(scale, nan=np.inf))


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
        keep = np.isfinite(median) & ~constant_columns(Xi, std)
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
    """Boolean mask of columns that are neither all-missing nor constant up to rounding (NaN ignored)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanmin(X, axis=0), np.nanmax(X, axis=0)
    return np.isfinite(lo) & ~constant_columns(X, hi - lo)


@dataclass
class CVResult:
    oof: np.ndarray  # out-of-fold predictions, one per row
    r2: float
    mae: float
    fitted: str = ""  # what was fitted (``ols``, ``ridge``, ``ols+ridge`` across folds, ``xgboost``, ...)
    train_mean: np.ndarray | None = None  # mean target of the training fold each row was predicted from
    importance_mean: np.ndarray | None = None  # R² decrease per feature (permutation on held-out folds)
    importance_std: np.ndarray | None = None


def cross_validate(
    X: np.ndarray,
    y: np.ndarray,
    estimator: str,
    cfg: AnalysisConfig,
    splits: list[tuple[np.ndarray, np.ndarray]] | None = None,
    *,
    importance_repeats: int = 0,
) -> CVResult:
    """Out-of-fold predictions of ``estimator`` over ``splits`` (default: the ``network`` scheme's
    shuffled k-fold); optional held-out permutation importance.

    Permutation importance of feature j = R²(out-of-fold) − R²(out-of-fold with column j permuted within
    each held-out fold), mean and std over ``importance_repeats`` permutations. Permutation is applied to
    the raw test features, before the training-fold preprocessing, so a column dropped in a fold simply
    has no effect there. With correlated features it understates each one (the model reads a permuted
    feature's information from its correlates); that caveat goes with every importance shown.
    """
    X, y = _clean(X), np.asarray(y, dtype=float)
    n, p = X.shape
    if splits is None:
        from snntopo.analysis.cv import make_splits

        splits = make_splits(pd.DataFrame(index=range(n)), "network", cfg.folds, cfg.seed)
    make = ESTIMATORS.get(estimator)
    oof, train_mean = np.empty(n), np.empty(n)
    kinds: set[str] = set()
    R = int(importance_repeats)
    perm_pred = np.empty((R, p, n)) if R else None
    for fold, (tr, te) in enumerate(splits):
        prep = Preprocessor.fit(X[tr])
        train_mean[te] = y[tr].mean()
        if not prep.keep.any():  # nothing varies in this training fold: predict its mean
            oof[te] = y[tr].mean()
            kinds.add("mean")
            if R:
                perm_pred[:, :, te] = y[tr].mean()
            continue
        model = make(cfg).fit(prep.transform(X[tr]), y[tr])
        kinds.add(model.kind)
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
    result = CVResult(oof, r2, mae, "+".join(sorted(kinds)), train_mean)
    if R:
        drops = r2 - r2_score(y, perm_pred)  # (R, p)
        result.importance_mean = drops.mean(axis=0)
        result.importance_std = drops.std(axis=0)
    return result


def constant_floor(y: np.ndarray, splits: list[tuple[np.ndarray, np.ndarray]]) -> CVResult:
    """The floor every learner must beat: predict each test fold by its training fold's mean."""
    oof = np.empty(len(y))
    for tr, te in splits:
        oof[te] = y[tr].mean()
    return CVResult(oof, float(r2_score(y, oof)), float(np.abs(oof - y).mean()), "mean")


def seed_ceiling(y: np.ndarray, configs: np.ndarray) -> CVResult:
    """The seed-noise ceiling: predict each network by the mean target of the other seeds of its
    configuration (networks of single-seed configurations get NaN and are left out of the score).

    It is the best a feature set that only identifies the configuration can do; a feature set can beat it
    only by reading what differs between the seeds of one configuration."""
    codes = pd.factorize(pd.Series(configs))[0]
    total = np.bincount(codes, weights=y)
    count = np.bincount(codes)
    others = count[codes] - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        oof = np.where(others > 0, (total[codes] - y) / np.maximum(others, 1), np.nan)
    ok = np.isfinite(oof)
    if ok.sum() < 2:
        return CVResult(oof, np.nan, np.nan, "seed_mean")
    return CVResult(oof, float(r2_score(y[ok], oof[ok])), float(np.abs(oof[ok] - y[ok]).mean()), "seed_mean")


def variance_inflation(Z: np.ndarray) -> np.ndarray:
    """VIF_j = 1 / (1 − R²_j), R²_j of column j regressed on the others (with intercept); inf where a
    column is an exact combination of the others."""
    p = Z.shape[1]
    out = np.empty(p)
    for j in range(p):  # p ≤ n / OLS_MIN_RATIO columns: a few small least-squares problems
        A = _with_const(np.delete(Z, j, axis=1))
        coef, *_ = np.linalg.lstsq(A, Z[:, j], rcond=None)
        resid = Z[:, j] - A @ coef
        sst = float(((Z[:, j] - Z[:, j].mean()) ** 2).sum())
        r2 = 1.0 - float(resid @ resid) / sst if sst > 0 else 1.0
        out[j] = np.inf if r2 >= 1.0 - 1e-12 else 1.0 / (1.0 - r2)
    return out


def ols_coefficients(X: np.ndarray, y: np.ndarray, ci: float = 0.95) -> pd.DataFrame:
    """Standardised OLS fit on the whole group: one row per kept feature (index into X's columns).

    Columns: ``index, coef, std_err, ci_low, ci_high, p_value, df_resid, vif``. Only meaningful where
    p ≪ n (the caller fits it where n ≥ OLS_MIN_RATIO · p); inference is NaN when the residual degrees of
    freedom are not positive.
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
            "vif": variance_inflation(Z),
        }
    )


# --------------------------------------------------------------------------------------------------
# The regression study
# --------------------------------------------------------------------------------------------------


def _group_fields(protocol: str, keys: tuple[str, ...], values: tuple[Any, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {"protocol": protocol, "dataset": np.nan, "model": np.nan, "sparsity": np.nan}
    out.update(dict(zip(keys, values, strict=True)))
    return out


def schemes_for(protocol: str, cfg: AnalysisConfig) -> tuple[str, ...]:
    """CV schemes run under ``protocol``: ``analysis.cv``, plus ``pruner`` for the ranking protocol."""
    schemes = tuple(cfg.cv)
    if protocol == cfg.ranking_protocol and "pruner" not in schemes:
        schemes = (*schemes, "pruner")
    return schemes


def estimators_for(fs: str, scheme: str, cfg: AnalysisConfig) -> tuple[str, ...]:
    """``estimators`` everywhere; ``headline_estimators`` too on the headline feature sets under the
    schemes of ``analysis.cv`` (the ``pruner`` scheme added for ranking runs ``estimators`` only)."""
    names = list(cfg.estimators)
    if fs in cfg.headline_feature_sets and scheme in cfg.cv:
        names += [e for e in cfg.headline_estimators if e not in names]
    return tuple(names)


def _skipped_rows(
    protocol: str, schemes: Iterable[str], feature_sets: Iterable[str], cfg: AnalysisConfig, reason: str
) -> list[dict[str, Any]]:
    """One "skipped" row per (scheme, feature set, estimator) of ``protocol``, with the reason recorded."""
    return [
        {
            "protocol": protocol,
            "cv": cv,
            "feature_set": fs,
            "kind": "features",
            "estimator": est,
            "status": "skipped",
            "reason": reason,
        }
        for cv in schemes
        for fs in feature_sets
        for est in estimators_for(fs, cv, cfg)
    ]


def run_regression(
    table: pd.DataFrame, config: Mapping[str, Any] | AnalysisConfig | None = None
) -> dict[str, pd.DataFrame]:
    """Cross-validated regression of the accuracy drop on every feature set, protocol, CV scheme and
    estimator, with the floors (constant predictor; the ``density`` feature set) and the seed-noise
    ceiling of each group beside them.

    Config keys (see ``snntopo.analysis.config``): ``drop, dense_reference, folds, cv, seed, protocols,
    feature_sets, estimators, headline_*, gbt*, rf*, min_group_size, importance_*, bootstrap, ci``.

    Returns tables (all sorted, deterministic; every one has a ``cv`` column):

    * ``regression``: one row per protocol × group × cv × feature set (or floor/ceiling, ``kind``) ×
      estimator: ``fitted`` (what was fitted), ``n, n_features, r2, mae, target, status, reason``;
    * ``regression_summary``: per protocol × cv × feature set × estimator, mean R² over groups with
      bootstrap interval, median and IQR, range, mean MAE, group counts, mean over common groups;
    * ``predictions``: out-of-fold predictions per network (``y``, ``y_pred``);
    * ``ols_coefficients``: standardised whole-group OLS coefficients (where n ≥ 10 p), CIs, p-values,
      VIF and whether coefficients may be read as importances (every VIF ≤ 10);
    * ``permutation_importance``: held-out permutation importances per group, scheme and feature.
    """
    cfg = AnalysisConfig.from_dict(config)
    for name in (*cfg.estimators, *cfg.headline_estimators):
        ESTIMATORS.get(name)
    frame = add_target(table, cfg.drop, cfg.dense_reference).reset_index(drop=True)
    fsets: dict[str, list[str]] = {fs: select_features(fs, table.columns) for fs in cfg.feature_sets}
    rows: list[dict[str, Any]] = []
    preds: list[pd.DataFrame] = []
    coefs: list[pd.DataFrame] = []
    imps: list[pd.DataFrame] = []
    tasks: list[tuple[pd.DataFrame, list[tuple[str, list[str]]], dict[str, Any]]] = []
    extra = [c for c in (CHECKSUM_COLUMN,) if c in frame]
    for protocol in cfg.protocols:
        spec = PROTOCOLS.get(protocol)
        schemes = schemes_for(protocol, cfg)
        for fs in [fs for fs, cols in fsets.items() if not cols]:
            rows += _skipped_rows(protocol, schemes, [fs], cfg, why_no_columns(fs, table.columns))
        if spec.pooled:
            try:
                require_dense(frame, f"protocol {protocol!r}")
            except DenseAccuracyMissingError as err:
                log.warning("%s", err)
                rows += _skipped_rows(protocol, schemes, fsets, cfg, str(err))
                continue
        for values, group in frame.groupby(list(spec.keys), sort=True, dropna=False):
            gfields = _group_fields(protocol, spec.keys, values if isinstance(values, tuple) else (values,))
            sets = [(fs, cols) for fs, cols in fsets.items() if cols]
            needed = sorted({c for _, cols in sets for c in cols})
            tasks.append((group[[*NETWORK_KEYS, *extra, "target", "y", *needed]], sets, gfields))
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
    order = ["protocol", "cv", "kind", "feature_set", "estimator"]
    tables = {
        "regression": _sort(pd.DataFrame(rows), [*order, *GROUP_KEYS], REGRESSION_COLUMNS),
        "predictions": _sort(
            _concat(preds), ["protocol", "cv", "feature_set", "estimator", *NETWORK_KEYS], PREDICTION_COLUMNS
        ),
        "ols_coefficients": _sort(
            _concat(coefs), ["protocol", "feature_set", *GROUP_KEYS, "feature"], COEFFICIENT_COLUMNS
        ),
        "permutation_importance": _sort(
            _concat(imps),
            ["protocol", "cv", "feature_set", "estimator", *GROUP_KEYS, "feature"],
            IMPORTANCE_COLUMNS,
        ),
    }
    tables["regression_summary"] = summarise_regression(tables["regression"], cfg)
    return tables


REGRESSION_COLUMNS = [
    "protocol",
    "cv",
    "cv_label",
    "kind",
    "feature_set",
    "estimator",
    "fitted",
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
PREDICTION_COLUMNS = [
    "protocol",
    "cv",
    "feature_set",
    "estimator",
    *NETWORK_KEYS,
    "target",
    "y",
    "y_pred",
    "y_train_mean",
]
_FEATURE_INFO = ["feature", "family", "layer", "metric", "group"]
COEFFICIENT_COLUMNS = [
    "protocol",
    "cv",
    "feature_set",
    *GROUP_KEYS,
    *_FEATURE_INFO,
    "n",
    "fitted",
    "coef",
    "std_err",
    "ci_low",
    "ci_high",
    "p_value",
    "df_resid",
    "vif",
    "max_vif",
    "coef_importance",
]
IMPORTANCE_COLUMNS = [
    "protocol",
    "cv",
    "feature_set",
    "estimator",
    *GROUP_KEYS,
    *_FEATURE_INFO,
    "n",
    "r2",
    "importance_mean",
    "importance_std",
]

#: Pseudo feature sets of the floor and the ceiling rows (``kind`` floor / ceiling).
FLOOR_CONSTANT = "floor:constant"
CEILING_SEEDS = "ceiling:seed_mean"

_Results = tuple[list[dict[str, Any]], list[pd.DataFrame], list[pd.DataFrame], list[pd.DataFrame]]


def _regress_task(
    group: pd.DataFrame, sets: list[tuple[str, list[str]]], gfields: dict[str, Any], cfg: AnalysisConfig
) -> list[_Results]:
    """All feature sets of one group, plus its floor and ceiling rows. Sets that reduce to the same
    informative columns and rows in this group (e.g. ``mge+density`` where the density is constant) reuse
    one fit instead of refitting."""
    cache: dict[tuple[Any, ...], Any] = {}
    out = [_bounds(group, gfields, cfg)]
    return out + [_regress_group(group, fs, cols, gfields, cfg, cache) for fs, cols in sets]


def _target_name(sub: pd.DataFrame) -> str:
    targets = sorted(sub["target"].unique())
    return targets[0] if len(targets) == 1 else "+".join(targets)


def _bounds(group: pd.DataFrame, gfields: dict[str, Any], cfg: AnalysisConfig) -> _Results:
    """Floor (training-fold mean) per scheme and the seed-noise ceiling of one group."""
    y = group["y"].to_numpy(dtype=float)
    base = {**gfields, "n": len(group), "n_features": 0, "folds": cfg.folds, "target": _target_name(group)}
    rows: list[dict[str, Any]] = []
    ceiling = seed_ceiling(y, config_labels(group))
    for scheme in schemes_for(gfields["protocol"], cfg):
        label = CV_SCHEMES.get(scheme).label
        head = {**base, "cv": scheme, "cv_label": label}
        reason = _group_reason(group, y, cfg)
        splits = None
        if reason is None:
            try:
                splits = make_splits(group, scheme, cfg.folds, cfg.seed)
            except CVNotPossibleError as err:
                reason = str(err)
        for fs, kind, est in ((FLOOR_CONSTANT, "floor", "mean"), (CEILING_SEEDS, "ceiling", "seed_mean")):
            row = {**head, "feature_set": fs, "kind": kind, "estimator": est, "fitted": est}
            if reason is not None:
                rows.append({**row, "status": "skipped", "reason": reason})
                continue
            res = constant_floor(y, splits) if kind == "floor" else ceiling
            if not np.isfinite(res.r2):
                rows.append({**row, "status": "skipped", "reason": "no configuration with two seeds"})
                continue
            rows.append({**row, "r2": res.r2, "mae": res.mae, "status": "ok", "reason": ""})
    return rows, [], [], []


def _group_reason(sub: pd.DataFrame, y: np.ndarray, cfg: AnalysisConfig) -> str | None:
    if len(sub) < cfg.group_min:
        return f"too few networks for {cfg.folds}-fold CV: n={len(sub)} < min_group_size={cfg.group_min}"
    if np.ptp(y) == 0:
        return "constant target in this group"
    return None


def _regress_group(
    group: pd.DataFrame,
    fs: str,
    cols: list[str],
    gfields: dict[str, Any],
    cfg: AnalysisConfig,
    cache: dict[tuple[Any, ...], Any] | None = None,
) -> _Results:
    """One group × feature set, every scheme: rows, out-of-fold predictions, OLS coefficients,
    importances."""
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
    base = {
        **gfields,
        "feature_set": fs,
        "kind": "features",
        "n": len(sub),
        "n_features": len(kept),
        "folds": cfg.folds,
        "target": _target_name(sub) if len(sub) else "",
    }
    reason = _group_reason(sub, y, cfg)
    if reason is None and not kept:
        reason = "no informative feature (every column missing or constant in this group)"
    elif reason is None and (
        empty_parts := [part for part in fs.split("+") if not select_features(part, kept)]
    ):
        # a combination is only itself where every part contributes; otherwise it repeats one part
        reason = f"no informative feature of {', '.join(empty_parts)} in this group (combination incomplete)"
    info = (
        parse_columns(kept).set_index("column").loc[kept].reset_index().rename(columns={"column": "feature"})
    )
    data_key = (tuple(kept), present.tobytes())
    for scheme in schemes_for(gfields["protocol"], cfg):
        head = {**base, "cv": scheme, "cv_label": CV_SCHEMES.get(scheme).label}
        estimators = estimators_for(fs, scheme, cfg)
        why, splits = reason, None
        if why is None:
            try:
                splits = make_splits(sub, scheme, cfg.folds, cfg.seed)
            except CVNotPossibleError as err:
                why = str(err)
        if why is not None:
            rows += [{**head, "estimator": est, "status": "skipped", "reason": why} for est in estimators]
            continue
        for est in estimators:
            want_imp = est == cfg.importance_estimator and fs in cfg.importance_feature_sets
            repeats = cfg.importance_repeats if want_imp else 0
            key = (*data_key, scheme, est, repeats)
            if key not in cache:
                cache[key] = cross_validate(X, y, est, cfg, splits, importance_repeats=repeats)
            res = cache[key]
            rows.append(
                {
                    **head,
                    "estimator": est,
                    "fitted": res.fitted,
                    "r2": res.r2,
                    "mae": res.mae,
                    "status": "ok",
                    "reason": "",
                }
            )
            p = sub[list(NETWORK_KEYS)].copy()
            p.insert(0, "estimator", est)
            p.insert(0, "feature_set", fs)
            p.insert(0, "cv", scheme)
            p.insert(0, "protocol", gfields["protocol"])
            p["target"], p["y"], p["y_pred"] = sub["target"].to_numpy(), y, res.oof
            p["y_train_mean"] = res.train_mean
            preds.append(p)
            if want_imp:
                imp = info.copy()
                fields = {**gfields, "cv": scheme, "feature_set": fs, "estimator": est, "n": len(sub)}
                for k, v in {**fields, "r2": res.r2}.items():
                    imp[k] = v
                imp["importance_mean"], imp["importance_std"] = res.importance_mean, res.importance_std
                imps.append(imp)
    if reason is None and "linear" in cfg.estimators and len(sub) >= OLS_MIN_RATIO * len(kept):
        if (*data_key, "ols_coefficients") not in cache:
            cache[(*data_key, "ols_coefficients")] = ols_coefficients(X, y, cfg.ci)
        c = cache[(*data_key, "ols_coefficients")].copy()
        c = pd.concat([info.iloc[c.pop("index").to_numpy()].reset_index(drop=True), c], axis=1)
        for k, v in {**gfields, "cv": "none", "feature_set": fs, "n": len(sub), "fitted": "ols"}.items():
            c[k] = v
        c["max_vif"] = float(c["vif"].max()) if len(c) else np.nan
        c["coef_importance"] = bool(c["max_vif"].iloc[0] <= MAX_VIF) if len(c) else False
        coefs.append(c)
    return rows, preds, coefs, imps


def summarise_regression(regression: pd.DataFrame, cfg: AnalysisConfig) -> pd.DataFrame:
    """Per protocol × cv × feature set × estimator: mean out-of-fold R² over groups (bootstrap interval),
    median and quartiles, range, mean MAE, group counts, and the mean over the groups common to every
    feature set, floor and ceiling of the protocol × cv."""
    out = []
    ok = regression[regression["status"] == "ok"]
    keys = ["protocol", "cv", "kind", "feature_set", "estimator"]
    counts = regression.groupby(keys, dropna=False)["status"].agg(
        n_groups_ok=lambda s: int((s == "ok").sum()), n_groups_skipped=lambda s: int((s != "ok").sum())
    )
    for key, grp in ok.groupby(keys, sort=True):
        r2 = grp["r2"].to_numpy(float)
        mean, lo, hi = bootstrap_mean_ci(r2, cfg.bootstrap, cfg.seed, cfg.ci)
        q25, med, q75 = np.quantile(r2, [0.25, 0.5, 0.75])
        out.append(
            {
                **dict(zip(keys, key, strict=True)),
                "fitted": "+".join(sorted(set("+".join(grp["fitted"].astype(str)).split("+")))),
                "r2_mean": mean,
                "r2_low": lo,
                "r2_high": hi,
                "r2_median": float(med),
                "r2_q25": float(q25),
                "r2_q75": float(q75),
                "r2_min": float(r2.min()),
                "r2_max": float(r2.max()),
                "mae_mean": float(grp["mae"].mean()),
            }
        )
    if not out:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    summary = pd.DataFrame(out).merge(counts.reset_index(), on=keys, how="left")
    summary = summary.merge(_common_groups(ok), on=["protocol", "cv", "feature_set", "estimator"], how="left")
    summary["cv_label"] = summary["cv"].map(lambda c: CV_SCHEMES.get(c).label)
    return _sort(summary, keys, SUMMARY_COLUMNS)


SUMMARY_COLUMNS = [
    "protocol",
    "cv",
    "cv_label",
    "kind",
    "feature_set",
    "estimator",
    "fitted",
    "n_groups_ok",
    "n_groups_skipped",
    "r2_mean",
    "r2_low",
    "r2_high",
    "r2_median",
    "r2_q25",
    "r2_q75",
    "r2_min",
    "r2_max",
    "mae_mean",
    "n_groups_common",
    "r2_mean_common",
]


def group_ids(frame: pd.DataFrame) -> pd.Series:
    """One string per regression group (its dataset, model and sparsity)."""
    if frame.empty:  # agg over no rows returns a frame, not a series
        return pd.Series([], index=frame.index, dtype=object)
    return frame[list(GROUP_KEYS)].astype(str).agg("|".join, axis=1)


def _common_groups(ok: pd.DataFrame) -> pd.DataFrame:
    """Mean R² over the groups where every feature set of the protocol × cv ran (any estimator), and
    the floors and ceiling were defined.

    Feature sets exist for different subsets of groups (e.g. BGE tables for some model/dataset pairs
    only), so their plain means are over different groups; this restricts the comparison to common ones.
    """
    ok = ok.assign(_gid=group_ids(ok))
    rows = []
    for (protocol, cv), grp in ok.groupby(["protocol", "cv"], sort=True):
        per_set = grp.groupby("feature_set")["_gid"].agg(set)
        common = set.intersection(*per_set) if len(per_set) else set()
        sel = grp[grp["_gid"].isin(common)]
        for (fs, est), r2 in sel.groupby(["feature_set", "estimator"])["r2"]:
            rows.append(
                {
                    "protocol": protocol,
                    "cv": cv,
                    "feature_set": fs,
                    "estimator": est,
                    "n_groups_common": len(common),
                    "r2_mean_common": float(r2.mean()),
                }
            )
    return pd.DataFrame(
        rows, columns=["protocol", "cv", "feature_set", "estimator", "n_groups_common", "r2_mean_common"]
    )


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _sort(df: pd.DataFrame, by: list[str], columns: list[str]) -> pd.DataFrame:
    """Fixed column order and a total, deterministic row order (NaN last)."""
    df = df.reindex(columns=columns)
    if len(df):
        df = df.sort_values(by, kind="mergesort", na_position="last")
    return df.reset_index(drop=True)
