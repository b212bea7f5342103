"""Is there an effect to analyse? The accuracy drop's spread between configurations vs seed noise.

A configuration is one (pruner, sparsity) of a (dataset, model); its seeds are repeats. For each
(dataset, model):

* ``between_var`` — the variance (ddof 1) of the configurations' mean drops;
* ``within_var`` — the mean over configurations of the drop's variance across seeds (ddof 1);
* ``ratio = between_var / within_var``.

A ratio near 1 (or below) means the configurations differ by no more than re-running with another seed
would, so regressions and rankings of the drop would fit noise. Computed on all pruned configurations
(``scope = "all"``) and on the configurations at the highest sparsity only (``scope = "highest
sparsity"``, where the pruners should differ most).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from snntopo.analysis.drop import add_target

CONFIGURATION = ("pruner", "sparsity")
GROUP = ("dataset", "model")
STATS = ["configurations", "seeds", "between_var", "within_var", "ratio"]
COLUMNS = ["dataset", "model", "scope", "sparsity", *STATS]


def variance_ratio(drops: pd.DataFrame, value: str = "y") -> dict[str, float]:
    """Between-configuration over mean within-configuration (seed) variance of ``value``.

    ``drops`` has one row per (configuration, seed) with columns ``pruner``, ``sparsity`` and ``value``.
    Configurations with a single seed add to the between-variance but not to the within-variance.
    """
    by_config = drops.groupby(list(CONFIGURATION), sort=True)[value]
    means, variances = by_config.mean(), by_config.var(ddof=1).dropna()
    between = float(means.var(ddof=1)) if len(means) > 1 else float("nan")
    within = float(variances.mean()) if len(variances) else float("nan")
    if np.isnan(between) or np.isnan(within):
        ratio = float("nan")
    else:
        ratio = between / within if within > 0 else float("inf")
    seeds = int(by_config.size().max()) if len(means) else 0
    return {"configurations": len(means), "seeds": seeds, "between_var": between, "within_var": within,
            "ratio": ratio}  # fmt: skip


def effect_table(table: pd.DataFrame, drop: str = "relative", dense_reference: str = "seed") -> pd.DataFrame:
    """Per (dataset, model): the drop's variance ratio over all configurations and at the highest sparsity."""
    drops = add_target(table, drop=drop, dense_reference=dense_reference)
    drops["sparsity"] = drops["sparsity"].astype(float)
    rows = []
    for (dataset, model), group in drops.groupby(list(GROUP), sort=True):
        highest = group["sparsity"].max()
        scopes = {"all": (group, np.nan), "highest sparsity": (group[group["sparsity"] == highest], highest)}
        for scope, (rows_in_scope, sparsity) in scopes.items():
            stats = variance_ratio(rows_in_scope)
            rows.append({"dataset": dataset, "model": model, "scope": scope, "sparsity": sparsity, **stats})
    return pd.DataFrame(rows, columns=COLUMNS)
