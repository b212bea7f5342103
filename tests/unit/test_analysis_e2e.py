"""End to end on the shared sample of the published tables: every table and figure; determinism."""

import matplotlib

matplotlib.use("Agg")

import pandas as pd
import pytest
from _analysis_sample import sample_dir

from snntopo.analysis import (
    TABLES,
    expected_outputs,
    load_published_tables,
    run_all,
    run_claims,
    run_importance,
    run_ranking,
    run_regression,
    write_tables,
)
from snntopo.topometric_names import METRIC_GROUPS

# few, shallow trees and short bootstraps: the point is that everything runs and is reproducible
FAST = {
    "gbt": {"n_estimators": 5, "max_depth": 2, "learning_rate": 0.5},
    "bootstrap": 50,
    "importance_repeats": 2,
    "gbt_alt": {"n_estimators": 5},
    "rf": {"n_estimators": 5},
    "rf_alt": {"n_estimators": 5},
}


@pytest.fixture(scope="module")
def table():
    return load_published_tables(sample_dir())


@pytest.fixture(scope="module")
def run(table, tmp_path_factory):
    out = tmp_path_factory.mktemp("analysis")
    return out, run_all(table, out, FAST)


def test_every_table_and_figure_is_written(run):
    out, written = run
    expected = expected_outputs(out)
    assert {k: sorted(v) for k, v in written.items()} == {k: sorted(v) for k, v in expected.items()}
    for paths in expected.values():
        for path in paths:
            assert path.is_file() and path.stat().st_size > 0, path
    names = {p.name for p in expected["figures"]}
    assert {"mge_drawing.png", "mge_drawing.pdf", "accuracy_vs_sparsity.png", "metric_vs_drop.pdf"} <= names
    assert (out / "tables/regression_summary.tex").read_text().startswith(r"\begin{table}")


def test_tables_cover_both_protocols_estimators_and_feature_families(run):
    out, _ = run
    reg = pd.read_csv(out / "tables/regression.csv")
    assert set(reg["cv"]) == {"config", "network", "pruner"}  # pruner: added for the ranking protocol
    assert set(reg.loc[reg["cv"] == "pruner", "protocol"]) == {"model_dataset"}
    ok = reg[(reg["status"] == "ok") & (reg["kind"] == "features")]
    assert set(ok["protocol"]) == {"model_dataset", "model_dataset_sparsity"}
    assert set(ok["estimator"]) == {"linear", "gbt", "gbt_alt", "rf", "rf_alt"}
    assert {"floor", "ceiling"} <= set(reg["kind"])
    ok = ok[ok["cv"] == "config"]
    assert {"mge", "density", "rolled", "rolled_channel", "ramanujan", "mge+density"} <= set(
        ok["feature_set"]
    )
    # 6 model×dataset groups and 30 model×dataset×sparsity groups have MGE topometrics
    mge = ok[(ok["feature_set"] == "mge") & (ok["estimator"] == "gbt")]
    assert (mge["protocol"] == "model_dataset").sum() == 6 and (
        mge["protocol"] == "model_dataset_sparsity"
    ).sum() == 30
    assert (ok["target"] == "one_minus_accuracy").all()  # no dense accuracy in the published tables
    skipped = reg[reg["status"] == "skipped"]
    assert (skipped["reason"].str.len() > 0).all()
    # the published tables have no full-spectrum coordinate: the skipped rows say which columns are missing
    fullspectrum = skipped[skipped["feature_set"] == "fullspectrum"]["reason"]
    assert (
        len(fullspectrum)
        and fullspectrum.str.startswith(
            "no column of feature set 'fullspectrum' in the table: it takes fullspectrum:"
        ).all()
    )
    groups = pd.read_csv(out / "tables/importance_groups.csv")
    perm = groups[(groups["source"] == "permutation") & (groups["by"] == "sparsity")]
    assert set(perm["group"]) == set(METRIC_GROUPS)
    # shares of the five groups sum to 1 per level and CV scheme
    sums = perm.groupby(["level", "cv"])["importance"].sum()
    assert sums.to_numpy() == pytest.approx(1.0)
    rank = pd.read_csv(out / "tables/ranking_summary.csv")
    rank = rank[rank["cv"].isin(["pruner", "none"])]
    assert {"mge/gbt", "density/linear", "ramanujan:mean_delta_r_norm", "ramanujan:mean_imdb_norm"} <= set(
        rank["candidate"]
    )
    by = rank.set_index("candidate")
    # Ramanujan tables: ResNet-20 / CIFAR-10 and CONV-6 / Tiny-ImageNet, 5 sparsities each
    assert by.loc["mge/gbt", "n_groups"] == 30 and by.loc["ramanujan:mean_imdb_norm", "n_groups"] == 2 * 5


def test_identical_inputs_give_identical_table_bytes(table, tmp_path):
    # one model × dataset with every feature family (ResNet-20 / CIFAR-10), two sparsities: short runs
    keep = (table["model"] == "resnet20") & (table["dataset"] == "cifar10") & (table["sparsity"] >= 0.9)
    sub = table[keep & (table["sparsity"] != 0.95)].reset_index(drop=True)
    written = []
    for run_dir in (tmp_path / "a", tmp_path / "b"):
        reg = run_regression(sub, FAST)
        imp = run_importance(sub, FAST, regression=reg)
        rank = run_ranking(sub, FAST, predictions=reg["predictions"])
        tables = {**reg, **imp, **rank}
        tables.update(run_claims(tables, FAST))
        written.append(write_tables({k: tables[k] for names in TABLES.values() for k in names}, run_dir))
    assert [p.name for p in written[0]] == [p.name for p in written[1]] and len(written[0]) == 15
    for a, b in zip(*written, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
    assert pd.read_csv(written[0][0]).shape[0] > 0
