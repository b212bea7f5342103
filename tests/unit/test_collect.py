"""Collecting per-point JSONs into the tidy table."""

import json
import math

import pandas as pd
import pytest

from snntopo.analysis.collect import attach_dense_accuracy, collect_rows, flatten_metrics, write_table


def test_flatten_metrics_names_network_and_layer_columns():
    record = {"families": {"ramanujan": {"mean_delta_r": 0.5, "L00:delta_r": 1.0, "L01:delta_r": None}}}
    flat = flatten_metrics(record)
    assert flat["ramanujan:mean_delta_r"] == 0.5
    assert flat["ramanujan:L00:delta_r"] == 1.0
    assert math.isnan(flat["ramanujan:L01:delta_r"])
    assert set(flat) == {"ramanujan:mean_delta_r", "ramanujan:L00:delta_r", "ramanujan:L01:delta_r"}


def _point(tmp_path, pruner, sparsity, seed, acc, value):
    base = tmp_path / f"{pruner}{sparsity}{seed}"
    base.mkdir()
    (base / "train.json").write_text(json.dumps({"final_accuracy": acc, "best_accuracy": acc + 0.01}))
    (base / "m.json").write_text(json.dumps({"families": {"mge": {"cut-edges": value}}}))
    ids = {"dataset": "digits", "model": "cnn", "pruner": pruner, "sparsity": sparsity, "seed": seed}
    return {"ids": ids, "train": base / "train.json", "metrics": [base / "m.json"]}


def test_collect_joins_dense_accuracy_of_the_same_seed(tmp_path):
    points = [
        _point(tmp_path, "snip", 0.9, 0, 0.80, 3.0),
        _point(tmp_path, "snip", 0.9, 1, 0.70, 4.0),
        _point(tmp_path, "dense", 0.0, 0, 0.95, 1.0),
        _point(tmp_path, "dense", 0.0, 1, 0.90, 1.0),
    ]
    table = collect_rows(points)
    out = attach_dense_accuracy(table, table[table.pruner == "dense"])
    snip = out[out.pruner == "snip"].set_index("seed")
    assert snip.loc[0, "dense_accuracy"] == pytest.approx(0.95)
    assert snip.loc[1, "dense_accuracy"] == pytest.approx(0.90)
    assert snip.loc[1, "mge:cut-edges"] == 4.0
    assert list(out.columns[:5]) == ["dataset", "model", "pruner", "sparsity", "seed"]
    assert list(out.pruner) == ["dense", "dense", "snip", "snip"]  # sorted by ids


def test_missing_dense_run_gives_nan(tmp_path):
    table = collect_rows([_point(tmp_path, "snip", 0.9, 0, 0.8, 1.0)])
    out = attach_dense_accuracy(table, table.iloc[0:0])
    assert math.isnan(out.loc[0, "dense_accuracy"])


def test_written_parquet_and_csv_round_trip(tmp_path):
    table = collect_rows([_point(tmp_path, "snip", 0.9, 0, 0.8, 2.5)])
    write_table(table, tmp_path / "t.parquet", tmp_path / "t.csv")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "t.parquet"), table)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "t.csv"), table, check_dtype=False)
