"""Assemble the tidy table: one row per trained network, every metric family flattened into columns.

Each per-point job writes a small JSON; this module is the only place that reads them together. A metrics
file holds ``{"families": {family: {key: value}}}`` where keys are network-level names (``mean_imdb``) or
per-layer ``L03:metric`` (layer index in module order), as returned by :func:`snntopo.metrics.compute`;
they become columns ``"family:key"`` as documented in the tidy-table contract. The dense accuracy of the
same (dataset, model, seed) is joined in.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

ID_COLUMNS = ["dataset", "model", "pruner", "sparsity", "seed"]


def flatten_metrics(record: Mapping[str, Any]) -> dict[str, float]:
    """``{"families": {f: {key: v}}}`` → flat ``{"f:key": v}``; None (an invalid layer) becomes NaN."""
    return {
        f"{family}:{key}": _number(value)
        for family, values in record["families"].items()
        for key, value in values.items()
    }


def _number(value: Any) -> float:
    """Metric values are numbers; None (an invalid layer, e.g. Ramanujan d < 3) becomes NaN."""
    if value is None:
        return math.nan
    return float(value)


def read_json(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def collect_rows(points: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per point: ``{"ids": {...}, "train": metrics.json path, "metrics": [metric json paths]}``."""
    rows = []
    for point in points:
        train = read_json(point["train"])
        row: dict[str, Any] = dict(point["ids"])
        row["accuracy"] = float(train["final_accuracy"])
        row["best_accuracy"] = float(train["best_accuracy"])
        row["achieved_sparsity"] = float(train.get("achieved_sparsity", math.nan))
        # the mask the metrics were measured on (DST: the evolved one): equal checksums mean identical
        # masks, which the analysis keeps in one cross-validation fold
        row["mask_checksum"] = (train.get("dst") or {}).get("final_masks_checksum") or train.get(
            "masks_checksum"
        )
        for path in point.get("metrics", []):
            row.update(flatten_metrics(read_json(path)))
        rows.append(row)
    return pd.DataFrame(rows)


def attach_dense_accuracy(table: pd.DataFrame, dense: pd.DataFrame) -> pd.DataFrame:
    """Join the dense accuracy of the same (dataset, model, seed); NaN where no dense run exists."""
    keys = ["dataset", "model", "seed"]
    dense = dense[[*keys, "accuracy"]].rename(columns={"accuracy": "dense_accuracy"})
    out = table.merge(dense, on=keys, how="left", validate="many_to_one")
    return order_columns(out)


def order_columns(table: pd.DataFrame) -> pd.DataFrame:
    """Ids first, then accuracies, then features sorted by name; rows sorted by ids (stable output)."""
    first = [c for c in [*ID_COLUMNS, "accuracy", "best_accuracy", "dense_accuracy", "achieved_sparsity",
                         "mask_checksum"] if c in table.columns]  # fmt: skip
    rest = sorted(c for c in table.columns if c not in first)
    sort_keys = [c for c in ID_COLUMNS if c in table.columns]
    return table[first + rest].sort_values(sort_keys, kind="mergesort").reset_index(drop=True)


def write_table(table: pd.DataFrame, parquet: str | Path, csv: str | Path) -> None:
    """Write the table as Parquet and CSV, each atomically."""
    from snntopo.utils import atomic_path

    with atomic_path(parquet) as tmp:
        table.to_parquet(tmp, index=False)
    with atomic_path(csv) as tmp:
        table.to_csv(tmp, index=False)
