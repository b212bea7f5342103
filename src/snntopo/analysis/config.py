"""Configuration of the analysis stage: one flat dict (the ``analysis:`` block of the pipeline config).

Keys and defaults (every analysis function takes the same dict; unknown keys are an error):

===========================  ===============================================================================
key                          meaning (default)
===========================  ===============================================================================
``drop``                     ``relative`` | ``absolute`` accuracy drop (``relative``), docs/method/analyses.md
``dense_reference``          ``seed`` (dense run of the same seed) | ``seed_mean`` (mean over seeds)
                             (``seed``)
``folds``                    k of the k-fold cross-validations (5)
``cv``                       cross-validation schemes, see ``cv.CV_SCHEMES`` (``[config, network]``); the
                             ranking study adds ``pruner`` for the ranking protocol
``seed``                     seed of folds, tree models, permutations and bootstrap (0)
``bootstrap``                bootstrap resamples of group-level scores for confidence intervals (1000)
``ci``                       confidence level of the intervals (0.95)
``protocols``                grouping protocols, see ``regression.PROTOCOLS``
                             (``[model_dataset, model_dataset_sparsity]``)
``feature_sets``             feature sets to regress on, see ``features.FEATURE_SETS``; ``a+b`` = union
                             (``features.DEFAULT_FEATURE_SETS``)
``estimators``               learners run on every feature set, see ``regression.ESTIMATORS``
                             (``[linear, gbt]``)
``headline_estimators``      learners added on the headline feature sets, for the sensitivity of the
                             feature-set order to learner family and hyper-parameters
                             (``[gbt, gbt_alt, rf, rf_alt]``)
``headline_feature_sets``    the feature sets of the headline comparison
                             (``[density, mge, rolled, rolled_channel, ramanujan]``)
``gbt`` / ``gbt_alt``        XGBoost settings: ``{n_estimators: 100, max_depth: 3, learning_rate: 0.1}`` /
                             ``{n_estimators: 50, max_depth: 6, learning_rate: 0.2}``
``rf`` / ``rf_alt``          random-forest settings: ``{n_estimators: 50, max_features: 1.0,
                             min_samples_leaf: 1}`` / ``{n_estimators: 50, max_features: 0.33,
                             min_samples_leaf: 3}``
``min_group_size``           groups with fewer networks are skipped, reason recorded (``2 × folds``)
``importance_feature_sets``  feature sets whose permutation importances are computed (``[mge]``)
``importance_estimator``     model whose held-out permutation importance is reported (``gbt``)
``importance_repeats``       permutations per feature and fold (5)
``ranking_protocol``         protocol whose out-of-fold predictions rank the pruners (``model_dataset``)
``ranking_scores``           unsupervised ranking scores: column → ``higher`` | ``lower`` is better
                             (network means of Δr_norm, IMDB, iterative spectral gap, full-spectrum norm)
``min_pruners``              groups with fewer pruners are not ranked (3)
``scatter_features``         columns of the metric-vs-drop figure (``null``: the 16 MGE topometrics, else
                             the network-level features)
``mge_graph``                path of a graph-tool MGE (``.gt``/``.gt.xz``) to draw (``null``: a small MGE
                             of a random sparse MLP built for illustration)
``n_jobs``                   worker processes for the per-group regressions (1); results do not depend on it
``pruners``                  analyse only these pruners (``null``: all in the table), e.g. the 7 PaI methods
                             of the published tables without their DST rows; applied to the table before
                             any analysis (``select.restrict_to_pruners``), a name not in the table is an
                             error listing the pruners present
===========================  ===============================================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from snntopo.analysis.cv import CV_SCHEMES, DEFAULT_CV
from snntopo.analysis.features import DEFAULT_FEATURE_SETS
from snntopo.errors import InvalidValueError

DEFAULT_RANKING_SCORES: dict[str, str] = {
    "ramanujan:mean_delta_r_norm": "higher",
    "ramanujan:mean_imdb_norm": "higher",
    "ramanujan:mean_iter_spectral_gap": "higher",
    "fullspectrum:mean_norm": "higher",
}


_LIST_KEYS = (
    "cv",
    "protocols",
    "feature_sets",
    "estimators",
    "headline_estimators",
    "headline_feature_sets",
    "importance_feature_sets",
    "scatter_features",
    "pruners",
)
_NULLABLE = ("min_group_size", "scatter_features", "mge_graph", "pruners")
#: Hyper-parameter settings of the tree learners: key → (defaults, accepted options).
LEARNER_SETTINGS: dict[str, dict[str, Any]] = {
    "gbt": {"n_estimators": 100, "max_depth": 3, "learning_rate": 0.1},
    "gbt_alt": {"n_estimators": 50, "max_depth": 6, "learning_rate": 0.2},
    "rf": {"n_estimators": 50, "max_features": 1.0, "min_samples_leaf": 1},
    "rf_alt": {"n_estimators": 50, "max_features": 0.33, "min_samples_leaf": 3},
}


@dataclass(frozen=True)
class AnalysisConfig:
    """Resolved analysis configuration; build it with ``AnalysisConfig.from_dict``."""

    drop: str = "relative"
    dense_reference: str = "seed"
    folds: int = 5
    cv: tuple[str, ...] = DEFAULT_CV
    seed: int = 0
    bootstrap: int = 1000
    ci: float = 0.95
    protocols: tuple[str, ...] = ("model_dataset", "model_dataset_sparsity")
    feature_sets: tuple[str, ...] = DEFAULT_FEATURE_SETS
    estimators: tuple[str, ...] = ("linear", "gbt")
    headline_estimators: tuple[str, ...] = ("gbt", "gbt_alt", "rf", "rf_alt")
    headline_feature_sets: tuple[str, ...] = ("density", "mge", "rolled", "rolled_channel", "ramanujan")
    gbt: dict[str, Any] = field(default_factory=lambda: dict(LEARNER_SETTINGS["gbt"]))
    gbt_alt: dict[str, Any] = field(default_factory=lambda: dict(LEARNER_SETTINGS["gbt_alt"]))
    rf: dict[str, Any] = field(default_factory=lambda: dict(LEARNER_SETTINGS["rf"]))
    rf_alt: dict[str, Any] = field(default_factory=lambda: dict(LEARNER_SETTINGS["rf_alt"]))
    min_group_size: int | None = None
    importance_feature_sets: tuple[str, ...] = ("mge",)
    importance_estimator: str = "gbt"
    importance_repeats: int = 5
    ranking_protocol: str = "model_dataset"
    ranking_scores: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_RANKING_SCORES))
    min_pruners: int = 3
    scatter_features: tuple[str, ...] | None = None
    mge_graph: str | None = None
    n_jobs: int = 1
    pruners: tuple[str, ...] | None = None

    @classmethod
    def from_dict(cls, config: Mapping[str, Any] | AnalysisConfig | None) -> AnalysisConfig:
        """Defaults overridden by ``config``; unknown keys and bad values raise ``InvalidValueError``."""
        if isinstance(config, AnalysisConfig):
            return config
        config = dict(config or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise InvalidValueError("analysis config key", unknown[0], ", ".join(sorted(known)))
        kwargs: dict[str, Any] = {}
        for key, value in config.items():
            if value is None and key not in _NULLABLE:
                continue  # null = default
            if key in _LIST_KEYS and value is not None:
                value = (value,) if isinstance(value, str) else tuple(value)
            elif key in LEARNER_SETTINGS:
                value = {**LEARNER_SETTINGS[key], **dict(value)}
            elif key == "ranking_scores":
                value = dict(value)
            kwargs[key] = value
        cfg = cls(**kwargs)
        cfg._validate()
        return cfg

    def _validate(self) -> None:
        if int(self.folds) != self.folds or self.folds < 2:
            raise InvalidValueError("analysis folds", self.folds, "an integer >= 2")
        if self.bootstrap < 0:
            raise InvalidValueError("analysis bootstrap", self.bootstrap, "an integer >= 0")
        if not 0 < self.ci < 1:
            raise InvalidValueError("analysis ci", self.ci, "a number in (0, 1)")
        if self.importance_repeats < 1:
            raise InvalidValueError("analysis importance_repeats", self.importance_repeats, "an integer >= 1")
        for col, how in self.ranking_scores.items():
            if how not in ("higher", "lower"):
                raise InvalidValueError(f"analysis ranking_scores[{col!r}]", how, "higher | lower")
        if self.pruners is not None and (
            not self.pruners or not all(isinstance(p, str) and p for p in self.pruners)
        ):
            raise InvalidValueError(
                "analysis pruners", list(self.pruners), "null or a non-empty list of names"
            )
        for key, defaults in LEARNER_SETTINGS.items():
            unknown_opt = sorted(set(getattr(self, key)) - set(defaults))
            if unknown_opt:
                raise InvalidValueError(f"analysis {key} option", unknown_opt[0], ", ".join(defaults))
        if not self.cv:
            raise InvalidValueError("analysis cv", list(self.cv), f"a non-empty list of {CV_SCHEMES.names()}")
        for scheme in self.cv:
            if scheme not in CV_SCHEMES:
                raise InvalidValueError("analysis cv", scheme, ", ".join(CV_SCHEMES.names()))

    @property
    def group_min(self) -> int:
        """Smallest group that is cross-validated (``min_group_size`` or 2 × folds)."""
        return int(self.min_group_size) if self.min_group_size is not None else 2 * int(self.folds)
