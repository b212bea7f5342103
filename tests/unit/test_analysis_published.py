"""Adapter of the published MGE tables: row counts, renames, layer ranks, Ramanujan delimitation/matching."""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _analysis_sample import sample_dir

from snntopo.analysis import load_published_tables
from snntopo.analysis.published import BGE_RENAME, PublishedTableError, classify_file
from snntopo.errors import DatasetNotFoundError

KEY_RAW = ["model", "dataset", "pruning", "sparsity", "seed"]


@pytest.fixture(scope="module")
def sample():
    return sample_dir()


@pytest.fixture(scope="module")
def table(sample):
    return load_published_tables(sample)


def test_one_row_per_network_counted_from_the_csvs(sample, table):
    # networks = distinct (model, dataset, algorithm, sparsity, seed) over the files that name the algorithm
    u = pd.read_csv(sample / "unrolled-sample.csv")[KEY_RAW]
    bge = [
        pd.read_csv(p).rename(columns={"pruning_algorithm": "pruning"})[KEY_RAW]
        for p in sorted(sample.glob("rolled*.csv"))
    ]
    expected = len(pd.concat([u, *bge]).drop_duplicates())
    # 958 networks in the MGE table (CONV-6 and ResNet-20, three datasets) + 12 CONV-6 Tiny-ImageNet DST
    # networks at sparsity 0.6 that only the BGE files hold (the release lacks them in unrolled.csv)
    assert expected == 958 + 12
    assert len(table) == expected
    assert not table.duplicated(["dataset", "model", "pruner", "sparsity", "seed"]).any()
    assert table.attrs["published"]["networks"] == expected
    stats = table.attrs["published"]
    covered = {f: stats[f"networks_with_{f}"] for f in ("mge", "rolled", "rolled_channel", "ramanujan")}
    assert covered == {"mge": 958, "rolled": 2 * 165, "rolled_channel": 2 * 165, "ramanujan": 2 * 165}


def test_ids_and_names(table):
    assert list(table.columns[:8]) == [
        "dataset",
        "model",
        "pruner",
        "sparsity",
        "seed",
        "accuracy",
        "best_accuracy",
        "dense_accuracy",
    ]
    assert set(table["model"]) == {"conv6", "resnet20"}
    assert set(table["dataset"]) == {"cifar10", "cifar100", "tinyimagenet"}
    assert table["dense_accuracy"].isna().all() and table["best_accuracy"].isna().all()
    assert table["accuracy"].between(0, 1).all()
    assert len([c for c in table if c.startswith("mge:")]) == 16


def test_ramanujan_networks_delimited_by_layer_id_restart(sample, table):
    raw = pd.read_csv(sample / "ramanujan-rolled-CIFAR-10-Resnet-20.csv")
    restarts = int((raw["layer_id"] == 0).sum())
    assert restarts == 165 and len(raw) == 165 * 22  # 22 layers per ResNet-20, every network complete
    conv6 = pd.read_csv(sample / "ramanujan-rolled-tinyimagenet-CONV-6.csv")
    assert int((conv6["layer_id"] == 0).sum()) == 165 and len(conv6) == 165 * 9  # 9 layers per CONV-6
    stats = table.attrs["published"]
    assert stats["ramanujan_networks"] == 2 * 165
    # accuracy alone leaves some ties; the layer-density vectors resolve them all
    assert stats["ramanujan_matched"] == 2 * 165 and stats["ramanujan_ambiguous"] == 0
    assert stats["accuracy_mismatches"] == 0  # the families agree on every network
    has_ram = table["ramanujan:mean_delta_r_norm"].notna()
    pairs = set(map(tuple, table.loc[has_ram, ["model", "dataset"]].drop_duplicates().to_numpy()))
    assert pairs == {("resnet20", "cifar10"), ("conv6", "tinyimagenet")}
    assert has_ram.sum() == 2 * 165
    rn = table[(table["model"] == "resnet20") & (table["dataset"] == "cifar10")]
    # network 0 of the file is GraSP 0.98 seed 0 (its first rows, cross-checked with the rolled file)
    row = rn[(rn["pruner"] == "grasp") & (rn["sparsity"] == 0.98) & (rn["seed"] == 0)].iloc[0]
    first = raw.iloc[:22]
    assert row["ramanujan:L00:delta_r_norm"] == pytest.approx(0.0914094996152915)
    # iterative_degree_bound is the mean Δr_norm over subgraphs: our name for it is imdb_norm
    assert np.isnan(row["ramanujan:L00:imdb_norm"])
    assert row["ramanujan:L01:imdb_norm"] == pytest.approx(0.1228723636564589)
    assert not any(c.endswith(":imdb") or c.endswith("mean_imdb") for c in table)
    finite = first["degree_bound"][np.isfinite(first["degree_bound"])]
    assert row["ramanujan:mean_delta_r_norm"] == pytest.approx(finite.mean())


def test_bge_renames_and_layer_density(sample, table):
    raw = pd.read_csv(sample / "rolled-CIFAR-10-Resnet-20.csv")
    r0 = raw[(raw["pruning_algorithm"] == "snip") & (raw["sparsity"] == 0.9) & (raw["seed"] == 1)]
    row = table[
        (table["model"] == "resnet20")
        & (table["dataset"] == "cifar10")
        & (table["pruner"] == "snip")
        & (table["sparsity"] == 0.9)
        & (table["seed"] == 1)
    ].iloc[0]
    for raw_name, name in BGE_RENAME.items():
        np.testing.assert_allclose(
            row[[f"rolled:L{i:02d}:{name}" for i in range(22)]].to_numpy(float),
            r0.sort_values("layer_id")[raw_name].to_numpy(float),
        )
    np.testing.assert_allclose(
        row[[f"density:L{i:02d}:density" for i in range(22)]].to_numpy(float),
        r0.sort_values("layer_id")["layer_sparsity"].to_numpy(float),
    )
    assert row["density:global"] == pytest.approx(0.1)
    assert len([c for c in table if c.startswith("rolled:")]) == 22 * 10


def _reduced(df: pd.DataFrame) -> pd.DataFrame:
    """The reduced schema of two released BGE files: `pruning`, MGE-style names, 10 metrics only."""
    keep = [
        "accuracy",
        "pruning_algorithm",
        "sparsity",
        "model",
        "dataset",
        "seed",
        "layer_id",
        "layer_name",
        "layer_sparsity",
        "nodes",
        "edges",
        *BGE_RENAME,
    ]
    return df[keep].rename(columns={"pruning_algorithm": "pruning", **BGE_RENAME})


def _release_path(name: str) -> str:
    """Where a file of the flat sample sits in the release's ``graph_data/`` layout."""
    if name.startswith("ramanujan-"):
        model = name.removesuffix(".csv").split("-", 3)[-1]  # ramanujan-rolled-<dataset>-<model>.csv
        model = "Resnet-20" if model.endswith("Resnet-20") else "CONV-6"
        return f"ramanunjan_results/{model}/{name.removeprefix('ramanujan-')}"
    if name.startswith("rolled_channel"):
        return f"graph_metrics/rolled_channel/{name}"
    return f"graph_metrics/rolled/{name}"


def test_release_layout_and_mixed_schemas_give_the_same_table(sample, table, tmp_path):
    root = tmp_path / "graph_data"
    (root / "graph_metrics/unrolled").mkdir(parents=True)
    # the copied (and derived) files are the MGE study's Apache-2.0 data: their notice travels with them
    shutil.copy(sample / "LICENSE-Apache-2.0", root / "LICENSE-Apache-2.0")
    u = pd.read_csv(sample / "unrolled-sample.csv")
    dup = u.iloc[[5, 700]].assign(accuracy=0.0)  # duplicated networks: the first occurrence wins
    pd.concat([u, dup]).to_csv(root / "graph_metrics/unrolled/unrolled.csv", index=False)
    for path in [p for p in sample.glob("*rolled*-*.csv") if not p.name.startswith("unrolled")]:
        target = root / _release_path(path.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    # the ResNet-20 rolled file in the reduced schema too: then both families mix the two schemas
    rolled_channel = root / "graph_metrics/rolled_channel/rolled_channel-CIFAR-10-Resnet-20.csv"
    _reduced(pd.read_csv(rolled_channel)).to_csv(rolled_channel, index=False)
    release = load_published_tables(tmp_path)
    stats = release.attrs["published"]
    assert stats["mge_duplicates_dropped"] == 2
    assert {k: stats[f"files_{k}"] for k in ("mge", "rolled", "rolled_channel", "ramanujan")} == {
        "mge": 1,
        "rolled": 2,
        "rolled_channel": 2,
        "ramanujan": 2,
    }
    assert not release.columns.duplicated().any()
    pd.testing.assert_frame_equal(release, table)


def test_both_schemas_in_one_family_fill_the_same_columns(sample, table):
    # rolled-tinyimagenet-CONV-6 is in the reduced schema, rolled-CIFAR-10-Resnet-20 in the full one
    assert (
        pd.read_csv(sample / "rolled-tinyimagenet-CONV-6.csv", nrows=0)
        .columns.str.contains("cut-edges")
        .any()
    )
    assert "bridges" in pd.read_csv(sample / "rolled-CIFAR-10-Resnet-20.csv", nrows=0).columns
    assert not table.columns.duplicated().any()
    raw = pd.read_csv(sample / "rolled-tinyimagenet-CONV-6.csv")
    r0 = raw[(raw["pruning"] == "erk") & (raw["sparsity"] == 0.8) & (raw["seed"] == 2)].sort_values(
        "layer_id"
    )
    row = table.set_index(["model", "dataset", "pruner", "sparsity", "seed"]).loc[
        ("conv6", "tinyimagenet", "erk", 0.8, 2)
    ]
    np.testing.assert_allclose(
        row[[f"rolled:L{i:02d}:cut-edges" for i in range(9)]].to_numpy(float), r0["cut-edges"]
    )
    # every value of either schema lands in a column: non-missing counts equal the files' per metric
    for name in ("rolled-tinyimagenet-CONV-6.csv", "rolled-CIFAR-10-Resnet-20.csv"):
        raw = pd.read_csv(name := sample / name).rename(columns=BGE_RENAME)
        model = "conv6" if "CONV-6" in name.name else "resnet20"
        sub = table[table["model"] == model]
        for metric in BGE_RENAME.values():
            cols = [c for c in table if c.startswith("rolled:L") and c.endswith(f":{metric}")]
            assert int(sub[cols].notna().to_numpy().sum()) == int(raw[metric].notna().sum()), (name, metric)


def test_the_regression_runs_on_the_adapted_sample(table):
    from snntopo.analysis import run_regression

    sub = table[(table["model"] == "conv6") & (table["dataset"] == "tinyimagenet")]
    out = run_regression(
        sub.assign(dense_accuracy=sub["accuracy"].max()),
        {
            "feature_sets": ["rolled", "density"],
            "protocols": ["model_dataset"],
            "estimators": ["gbt"],
            "gbt": {"n_estimators": 5},
            "bootstrap": 0,
            "folds": 3,
        },
    )
    reg = out["regression"]
    reg = reg[reg["kind"] == "features"]  # beside them: the constant floor and the seed ceiling
    assert set(reg["feature_set"]) == {"rolled", "density"}
    r2 = reg["r2"]
    assert np.isfinite(r2).all() and (r2 <= 1).all()
    assert (reg.loc[reg["feature_set"] == "rolled", "n_features"] == 9 * 10).all()


def _write_rolled(path: Path, **extra) -> None:
    base = {"accuracy": 0.5, "pruning": "snip", "sparsity": 0.9, "model": "CONV-6", "dataset": "CIFAR-10"}
    rows = [
        {**base, "seed": s, "layer_id": 0, "layer_sparsity": 0.1, "cut-edges": 1.0, **extra} for s in (0, 1)
    ]
    pd.DataFrame(rows).to_csv(path, index=False)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"bogus_metric": 1.0}, "column 'bogus_metric' cannot be mapped to a column of the rolled family"),
        ({"bridges": 2.0}, "columns 'cut-edges' and 'bridges' both map to 'cut-edges'"),
        ({"model": "VGG-19"}, "column 'model' has value 'VGG-19', which names no known model"),
    ],
)
def test_unmappable_columns_name_the_file_and_column(tmp_path, extra, message):
    (tmp_path / "graph_metrics/rolled").mkdir(parents=True)
    path = tmp_path / "graph_metrics/rolled/rolled-CIFAR-10-CONV-6.csv"
    _write_rolled(path, **extra)
    with pytest.raises(PublishedTableError) as err:
        load_published_tables(tmp_path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_a_missing_id_column_names_the_file(tmp_path):
    path = tmp_path / "rolled-CIFAR-10-CONV-6.csv"
    _write_rolled(path)
    pd.read_csv(path).drop(columns="pruning").to_csv(path, index=False)
    with pytest.raises(
        PublishedTableError, match=r"rolled-CIFAR-10-CONV-6.csv: required column 'pruner' is missing"
    ):
        load_published_tables(tmp_path)


def test_layer_ids_with_gaps_become_consecutive_and_ties_use_density(tmp_path):
    # CONV-6-like ids (pooling modules skipped: 0, 1, 3); two networks share (sparsity, seed, accuracy)
    base = {"accuracy": 0.5, "sparsity": 0.9, "seed": 0, "model": "CONV-6", "dataset": "CIFAR-10"}
    rows, ram = [], []
    for pruner, dens in (("snip", [0.1, 0.2, 0.3]), ("grasp", [0.3, 0.2, 0.1])):
        for lid, d in zip((0, 1, 3), dens, strict=True):
            rows.append(
                {
                    **base,
                    "pruning": pruner,
                    "layer_id": lid,
                    "layer_name": f"l{lid}",
                    "layer_sparsity": d,
                    "cut-edges": lid + (10 if pruner == "snip" else 20),
                }
            )
    for dens, db in (([0.3, 0.2, 0.1], 0.7), ([0.1, 0.2, 0.3], 0.4)):  # grasp first in this file
        for lid, d in zip((0, 1, 3), dens, strict=True):
            ram.append(
                {
                    **base,
                    "layer_id": lid,
                    "layer_name": f"l{lid}",
                    "degree_bound": db,
                    "iterative_degree_bound": np.nan,
                    "iterative_spectral_gap": np.inf,
                    "layer_sparsity": d,
                }
            )
    pd.DataFrame(rows).to_csv(tmp_path / "rolled-CIFAR-10-CONV-6.csv", index=False)
    pd.DataFrame(ram).to_csv(tmp_path / "ramanujan-CIFAR-10-CONV-6.csv", index=False)
    t = load_published_tables(tmp_path).set_index("pruner")
    assert [c for c in t if c.startswith("rolled:")] == [
        "rolled:L00:cut-edges",
        "rolled:L01:cut-edges",
        "rolled:L02:cut-edges",
    ]
    assert t.loc["snip", "rolled:L02:cut-edges"] == 13 and t.loc["grasp", "rolled:L02:cut-edges"] == 23
    assert t.loc["grasp", "ramanujan:mean_delta_r_norm"] == pytest.approx(0.7)
    assert t.loc["snip", "ramanujan:mean_delta_r_norm"] == pytest.approx(0.4)
    assert np.isnan(t.loc["snip", "ramanujan:mean_iter_spectral_gap"])  # inf → NaN, no finite layer
    assert t.attrs["published"]["ramanujan_matched"] == 2


def test_ambiguous_ramanujan_networks_are_dropped_and_counted(tmp_path):
    base = {"accuracy": 0.5, "sparsity": 0.9, "seed": 0, "model": "Resnet-20", "dataset": "CIFAR-10"}
    u = pd.DataFrame([{**base, "pruning": p, "sink_nodes": 0.1} for p in ("snip", "grasp")])
    u.to_csv(tmp_path / "unrolled.csv", index=False)
    ram = pd.DataFrame(
        [
            {
                **base,
                "layer_id": i,
                "layer_name": "x",
                "degree_bound": 0.5,
                "layer_sparsity": 0.1,
                "iterative_degree_bound": 0.1,
                "iterative_spectral_gap": 0.2,
            }
            for i in (0, 1, 0, 1)
        ]
    )
    ram.to_csv(tmp_path / "ramanujan-x.csv", index=False)
    t = load_published_tables(tmp_path)
    stats = t.attrs["published"]
    assert stats["ramanujan_networks"] == 2 and stats["ramanujan_matched"] == 0
    assert stats["ramanujan_ambiguous"] == 2 and len(t) == 2
    assert t["ramanujan:mean_delta_r_norm"].isna().all()


def test_file_classification_and_missing_directory(tmp_path):
    assert classify_file(Path("graph_metrics/unrolled/unrolled.csv")) == "mge"
    assert classify_file(Path("graph_metrics/rolled/rolled-CIFAR-10-CONV-6.csv")) == "rolled"
    assert classify_file(Path("graph_metrics/rolled_channel/rolled_channel-x.csv")) == "rolled_channel"
    assert classify_file(Path("ramanunjan_results/CONV-6/rolled-CIFAR-10-CONV-6.csv")) == "ramanujan"
    assert classify_file(Path("ramanujan-rolled-CIFAR-10-Resnet-20.csv")) == "ramanujan"
    assert classify_file(Path("notes.txt")) is None
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        load_published_tables(tmp_path / "nope")
    with pytest.raises(DatasetNotFoundError, match="no published metric table"):
        load_published_tables(tmp_path)
