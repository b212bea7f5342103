"""Synthetic tidy tables with planted relations, for tests and benchmarks of the analysis stage.

The planted truth:

* the relative accuracy drop is ``0.05 + s + noise · ε`` with ``s = 0.3 · x + 0.1 · i`` for pruner ``p{i}``
  (``x`` uniform, shared by the pruners of one dataset/model/sparsity/seed cell); the informative
  feature ``mge:spectral_gap`` equals ``s``; every other feature is independent noise (``mge:motif``,
  ``rolled:Lxx:*``) or layer densities drawn around the global density;
* the true pruner ranking by mean accuracy is therefore ``p0 > p1 > ...`` in every group;
  ``ramanujan:mean_delta_r_norm`` (higher = better) reproduces it exactly and ``ramanujan:mean_imdb_norm``
  reverses it exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def make_synthetic_table(
    models: Sequence[str] = ("mlp", "cnn"),
    datasets: Sequence[str] = ("digits",),
    n_pruners: int = 5,
    sparsities: Sequence[float] = (0.5, 0.8, 0.9),
    seeds: Sequence[int] = (0, 1, 2, 3),
    noise: float = 0.0,
    n_layers: int = 3,
    seed: int = 0,
    dense_accuracy: float | None = 0.95,
) -> pd.DataFrame:
    """One row per (dataset, model, pruner, sparsity, seed), columns as in the tidy-table contract."""
    rng = np.random.default_rng(seed)
    idx = pd.MultiIndex.from_product(
        [list(datasets), list(models), [f"p{i}" for i in range(n_pruners)], list(sparsities), list(seeds)],
        names=["dataset", "model", "pruner", "sparsity", "seed"],
    )
    t = idx.to_frame(index=False)
    n = len(t)
    rank = t["pruner"].str[1:].astype(int).to_numpy()
    # x is shared by all pruners of one (dataset, model, sparsity, seed), so the mean accuracy of a pruner
    # over seeds differs from another's only by the planted pruner effect: the true ranking is p0 > p1 > ...
    cell = t.groupby(["dataset", "model", "sparsity", "seed"], sort=False).ngroup().to_numpy()
    x = rng.uniform(0.0, 1.0, cell.max() + 1)[cell]
    signal = 0.3 * x + 0.1 * rank
    drop = 0.05 + signal + noise * rng.standard_normal(n)
    dense = np.nan if dense_accuracy is None else dense_accuracy
    t["accuracy"] = 0.95 * (1.0 - drop)
    t["best_accuracy"] = t["accuracy"] + 0.001
    t["dense_accuracy"] = dense
    t["mge:spectral_gap"] = signal
    t["mge:motif"] = rng.normal(size=n)
    for layer in range(n_layers):
        t[f"rolled:L{layer:02d}:motif"] = rng.normal(size=n)
        t[f"rolled:L{layer:02d}:k-core"] = rng.normal(size=n)
        t[f"density:L{layer:02d}:density"] = np.clip((1 - t["sparsity"]) * rng.uniform(0.5, 1.5, n), 0, 1)
    t["density:global"] = 1.0 - t["sparsity"]
    # unsupervised scores: exact order of pruner quality (p0 best) and its reverse; per-seed jitter is
    # smaller than the gap between pruners, so seed means keep the order
    jitter = rng.uniform(0.0, 0.1, n)
    t["ramanujan:mean_delta_r_norm"] = -rank + jitter
    t["ramanujan:mean_imdb_norm"] = rank + jitter
    return t
