"""snntopo.analysis: which graph representation and metric family predicts the accuracy drop.

Entry points (all take the tidy table and the ``analysis`` config dict, keys in
``snntopo.analysis.config``):

* ``run_regression(table, config) -> dict[str, DataFrame]``: ``regression``, ``regression_summary``,
  ``predictions``, ``ols_coefficients``, ``permutation_importance``;
* ``run_importance(table, config, regression=None)``: ``importance_metrics``, ``importance_groups``;
* ``run_ranking(table, config, predictions=None)``: ``ranking``, ``ranking_summary``;
* ``run_claims(tables, config)``: ``headline_r2``, ``learner_stability``, ``claims`` (verdicts);
* ``snntopo.plots.make_figures(table, tables, outdir, config)``;
* ``run_all(table, outdir, config)``: all of the above, written under ``outdir/tables`` and
  ``outdir/figures``; ``expected_outputs(outdir)`` lists the same files without running anything;
* ``load_published_tables(directory)``: the tables published with the MGE study as a tidy table;
* ``restrict_to_pruners(table, pruners)``: the rows of the pruners an analysis is about
  (``analysis.pruners``; ``run_all`` applies it first).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from snntopo.analysis.claims import run_claims
from snntopo.analysis.config import AnalysisConfig
from snntopo.analysis.cv import CV_SCHEMES
from snntopo.analysis.drop import DenseAccuracyMissingError, add_target
from snntopo.analysis.features import DEFAULT_FEATURE_SETS, FEATURE_SETS, select_features
from snntopo.analysis.importance import run_importance, summarise_importance
from snntopo.analysis.published import load_published_tables
from snntopo.analysis.ranking import run_ranking
from snntopo.analysis.regression import ESTIMATORS, PROTOCOLS, run_regression
from snntopo.analysis.report_tables import LATEX, write_html_tables, write_tables
from snntopo.analysis.select import restrict_to_pruners
from snntopo.topometric_names import METRIC_GROUPS

#: Result tables per stage (each written as ``<name>.csv``; names in ``report_tables.LATEX`` also ``.tex``).
TABLES: dict[str, tuple[str, ...]] = {
    "regression": (
        "regression",
        "regression_summary",
        "predictions",
        "ols_coefficients",
        "permutation_importance",
    ),
    "importance": ("importance_metrics", "importance_groups"),
    "ranking": ("ranking", "ranking_summary"),
    "claims": ("claims", "headline_r2", "learner_stability"),
}
#: Tables shown in the HTML report (``report/<name>.html``), with the caption file of each.
REPORT_TABLES: tuple[str, ...] = ("claims", "headline_r2", "learner_stability", "ranking_summary")

__all__ = [
    "CV_SCHEMES",
    "DEFAULT_FEATURE_SETS",
    "ESTIMATORS",
    "FEATURE_SETS",
    "METRIC_GROUPS",
    "PROTOCOLS",
    "REPORT_TABLES",
    "TABLES",
    "AnalysisConfig",
    "DenseAccuracyMissingError",
    "add_target",
    "expected_outputs",
    "load_published_tables",
    "restrict_to_pruners",
    "run_all",
    "run_claims",
    "run_importance",
    "run_ranking",
    "run_regression",
    "select_features",
    "summarise_importance",
    "write_tables",
]


def expected_outputs(outdir: str | os.PathLike[str]) -> dict[str, list[Path]]:
    """Every file ``run_all(table, outdir, ...)`` writes, by stage (for Snakemake ``output:``)."""
    from snntopo.plots.figures import FIGURES

    tables_dir, fig_dir = Path(outdir) / "tables", Path(outdir) / "figures"
    out: dict[str, list[Path]] = {}
    for stage, names in TABLES.items():
        out[stage] = []
        for name in sorted(names):
            out[stage].append(tables_dir / f"{name}.csv")
            if name in LATEX:
                out[stage].append(tables_dir / f"{name}.tex")
    out["figures"] = [fig_dir / f"{name}{ext}" for name in FIGURES for ext in (".png", ".pdf")]
    out["report"] = [Path(outdir) / "report" / f"{name}.html" for name in REPORT_TABLES]
    return out


def run_all(
    table: pd.DataFrame, outdir: str | os.PathLike[str], config: Mapping[str, Any] | None = None
) -> dict[str, list[Path]]:
    """Regression, importance, ranking and figures on ``table``; files under ``outdir/{tables,figures}``.

    The regressions are run once: importances and rankings reuse their held-out permutation importances
    and out-of-fold predictions; the claims table and the headline tables are computed from all of them.
    Returns the written paths by stage (same keys and files as
    ``expected_outputs``). Config: see ``snntopo.analysis.config`` (defaults: folds 5, seed 0, drop
    relative, dense_reference seed, cv config and network, bootstrap 1000).
    """
    from snntopo.plots.figures import make_figures

    cfg = AnalysisConfig.from_dict(config)
    outdir = Path(outdir)
    table = restrict_to_pruners(table, cfg.pruners)  # before anything: tables and figures alike
    reg = run_regression(table, cfg)
    imp = run_importance(table, cfg, regression=reg)
    rank = run_ranking(table, cfg, predictions=reg["predictions"])
    claims = run_claims({**reg, **rank}, cfg)
    written: dict[str, list[Path]] = {}
    for stage, tables in (("regression", reg), ("importance", imp), ("ranking", rank), ("claims", claims)):
        written[stage] = write_tables({k: tables[k] for k in TABLES[stage]}, outdir / "tables")
    everything = {**reg, **imp, **rank, **claims}
    written["figures"] = make_figures(table, everything, outdir / "figures", cfg)
    written["report"] = write_html_tables({k: everything[k] for k in REPORT_TABLES}, outdir / "report")
    return written
