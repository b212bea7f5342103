"""Small statistics helpers: bootstrap confidence intervals of a mean, out-of-fold scores."""

from __future__ import annotations

import numpy as np


def bootstrap_mean_ci(
    values: np.ndarray, n_boot: int = 1000, seed: int = 0, ci: float = 0.95
) -> tuple[float, float, float]:
    """Mean of the finite ``values`` and its percentile bootstrap interval (resampling the values).

    Returns ``(mean, low, high)``; the interval is NaN when ``n_boot == 0`` or fewer than 2 values.
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return (np.nan, np.nan, np.nan)
    mean = float(v.mean())
    if n_boot <= 0 or v.size < 2:
        return (mean, np.nan, np.nan)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, v.size, size=(n_boot, v.size))
    means = v[idx].mean(axis=1)
    alpha = (1.0 - ci) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return (mean, float(lo), float(hi))


def r2_score(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """R² = 1 − SSE/SST along the last axis (``pred`` may carry leading batch axes); NaN if y is constant."""
    y = np.asarray(y, dtype=float)
    sst = float(((y - y.mean()) ** 2).sum())
    sse = ((np.asarray(pred, dtype=float) - y) ** 2).sum(axis=-1)
    if sst == 0.0:
        return np.full(np.shape(sse), np.nan)
    return 1.0 - sse / sst
