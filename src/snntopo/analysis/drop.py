"""Accuracy drop, the regression target (docs/method/analyses.md).

``drop = (acc_dense − acc) / acc_dense`` (relative, default) or ``acc_dense − acc`` (absolute), where
``acc_dense`` is the dense accuracy of the same model, dataset and seed (``dense_reference="seed"``) or
its mean over seeds (``"seed_mean"``).

Where dense accuracies are unknown (the published MGE tables carry none), the target of a
(model, dataset) group falls back to ``1 − accuracy``. Inside such a group the drop is an affine,
decreasing function of accuracy with the same orientation as ``1 − accuracy`` (higher = worse), so
R², rankings and tree/permutation importances of per-group analyses are unchanged; only MAE is in
other units, which the ``target`` column records. Analyses that pool several (model, dataset) pairs
have no such invariance and are refused (``DenseAccuracyMissingError``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from snntopo.errors import InvalidValueError, SnntopoError

DROP_MODES = ("relative", "absolute")
DENSE_REFERENCES = ("seed", "seed_mean")
#: Values of the ``target`` column: what the ``y`` of a row is.
TARGET_RELATIVE, TARGET_ABSOLUTE, TARGET_FALLBACK = "drop_relative", "drop_absolute", "one_minus_accuracy"


class DenseAccuracyMissingError(SnntopoError):
    """An analysis pools (model, dataset) pairs but some of them have no dense accuracy."""

    def __init__(self, what: str, pairs: list[tuple[str, str]]):
        self.what, self.pairs = what, pairs
        shown = ", ".join(f"{m}/{d}" for m, d in pairs[:6]) + (" ..." if len(pairs) > 6 else "")
        super().__init__(
            f"{what} pools models/datasets and needs the dense accuracy, which is missing for "
            f"{len(pairs)} model/dataset pair(s) ({shown}); train the dense baselines, or use the "
            "per-group protocols (per model×dataset, per model×dataset×sparsity), which need none "
            "(docs/method/analyses.md)"
        )


def add_target(table: pd.DataFrame, drop: str = "relative", dense_reference: str = "seed") -> pd.DataFrame:
    """Return a copy of ``table`` with columns ``dense_ref``, ``y`` (the target) and ``target`` (its kind).

    Rows with sparsity 0 (dense runs, should the table include them) are left out.

    ``dense_ref`` is the dense accuracy used for the row; a (model, dataset) pair where any row lacks it
    uses ``y = 1 − accuracy`` for all its rows (``target = "one_minus_accuracy"``), so every group is
    internally consistent.
    """
    if drop not in DROP_MODES:
        raise InvalidValueError("analysis drop", drop, " | ".join(DROP_MODES))
    if dense_reference not in DENSE_REFERENCES:
        raise InvalidValueError("analysis dense_reference", dense_reference, " | ".join(DENSE_REFERENCES))
    # dense baselines, if a table carries them as rows (sparsity 0), are references, not samples
    out = table[table["sparsity"].astype(float) > 0].copy()
    dense = (
        out["dense_accuracy"].astype(float)
        if "dense_accuracy" in out
        else pd.Series(np.nan, index=out.index, dtype=float)
    )
    if dense_reference == "seed_mean":
        # one value per (model, dataset, seed) first, so seeds with more sparse runs do not weigh more
        per_seed = (
            out.assign(_d=dense)
            .drop_duplicates(["model", "dataset", "seed"])
            .groupby(["model", "dataset"], sort=True)["_d"]
            .mean()  # skips NaN: a missing seed does not void the others
            .rename("_dm")
        )
        dense = out[["model", "dataset"]].join(per_seed, on=["model", "dataset"])["_dm"]
    out["dense_ref"] = dense.to_numpy()
    missing_any = out["dense_ref"].isna().groupby([out["model"], out["dataset"]]).transform("any")
    complete = ~missing_any.astype(bool).to_numpy()
    acc = out["accuracy"].astype(float)
    if drop == "relative":
        y = (out["dense_ref"] - acc) / out["dense_ref"]
        kind = TARGET_RELATIVE
    else:
        y = out["dense_ref"] - acc
        kind = TARGET_ABSOLUTE
    out["y"] = np.where(complete, y, 1.0 - acc)
    out["target"] = np.where(complete, kind, TARGET_FALLBACK)
    return out


def require_dense(frame: pd.DataFrame, what: str) -> None:
    """Raise ``DenseAccuracyMissingError`` if ``frame`` (from ``add_target``) pools pairs lacking dense."""
    missing = frame.loc[frame["target"] == TARGET_FALLBACK, ["model", "dataset"]].drop_duplicates()
    pairs = frame[["model", "dataset"]].drop_duplicates()
    if len(missing) and len(pairs) > 1:
        raise DenseAccuracyMissingError(what, sorted(map(tuple, missing.to_numpy().tolist())))
