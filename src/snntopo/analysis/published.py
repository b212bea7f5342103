"""Adapter: the metric tables published with the MGE study → the project's tidy table.

Reads a directory in either layout (docs/method/analyses.md#published-tables):

* the release layout ``graph_metrics/unrolled/unrolled.csv``, ``graph_metrics/rolled/rolled-<d>-<m>.csv``,
  ``graph_metrics/rolled_channel/rolled_channel-<d>-<m>.csv``,
  ``ramanunjan_results/<m>/rolled-<d>-<m>.csv``;
* flat names as in the shared sample: ``unrolled*.csv``, ``rolled-*.csv``, ``rolled_channel-*.csv``,
  ``ramanujan*.csv``.

What it does:

* each file is mapped to the common names on its own, before anything is concatenated, because the
  release mixes two schemas inside one family (``FILE_SCHEMAS``): ids ``pruning``/``pruning_algorithm``
  → ``pruner``; model and dataset names → project names (``Resnet-20`` → ``resnet20``,
  ``Wide-Resnet-28-2`` → ``wrn28_2``, ``CIFAR-10`` → ``cifar10``, ...); the full 57-column BGE schema
  renamed to the MGE names (``bridges`` → ``cut-edges``, ...), the reduced schema (already MGE names)
  taken as is. A column, model or dataset name that no schema knows, a missing id column, or two columns
  that map to one name raise ``PublishedTableError`` naming the file and the column;
* ``dense_accuracy`` and ``best_accuracy`` are NaN (not released; see ``drop``);
* ``unrolled`` rows → ``mge:<topometric>`` (16 columns); duplicated networks (same model, dataset,
  pruner, sparsity, seed; the release repeats some) are dropped, the first occurrence kept, and counted
  (logged and in ``table.attrs["published"]``); likewise duplicated (network, layer) rows of BGE files;
* per-layer BGE rows → ``rolled:Lxx:<metric>`` / ``rolled_channel:Lxx:<metric>`` for the 10 BGE
  topometrics; ``layer_sparsity`` (a density) → ``density:Lxx:density``. ``xx`` is the rank of
  ``layer_id`` among the model's layers, so it counts conv/linear layers in module order even where the
  published ids skip pooling modules (CONV-6);
* Ramanujan rows (no pruner column) → networks delimited by ``layer_id`` not increasing (restart),
  per-layer ``ramanujan:Lxx:{delta_r_norm, imdb_norm, iter_spectral_gap}`` and network means
  ``ramanujan:mean_<metric>`` over the finite layer values (±inf → NaN). These are the names our own
  runs give the same quantities (``snntopo.metrics.ramanujan``, variant ``mge``): ``degree_bound`` is
  Δr_norm of the whole layer, ``iterative_degree_bound`` the mean Δr_norm over the d-left-regular
  subgraphs (``imdb_norm``; ``imdb`` is the mean of the raw Δr, which the release does not hold) and
  ``iterative_spectral_gap`` the mean weighted spectral gap. Each network is matched to its pruner by
  (model, dataset, sparsity, seed, accuracy); where several networks share that key, the layer-density
  vector (equal to the BGE files' ``layer_sparsity``) decides. Networks left ambiguous or unmatched are
  dropped and counted in ``table.attrs["published"]``;
* ``density:global`` = 1 − sparsity.

The result has one row per network, sorted by (dataset, model, pruner, sparsity, seed).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from snntopo.errors import DatasetNotFoundError, SnntopoError
from snntopo.topometric_names import BGE_METRICS, MGE_METRICS

log = logging.getLogger(__name__)

KEY = ["dataset", "model", "pruner", "sparsity", "seed"]
_MATCH_KEY = ["dataset", "model", "sparsity", "seed", "_acc"]

#: Full BGE schema (57 columns in the release) → the MGE names of the 10 BGE topometrics
#: (docs/method/analyses.md#published-tables).
BGE_RENAME: dict[str, str] = {
    "bridges": "cut-edges",
    "a_point": "cut-nodes",
    "motifs_count": "motif",
    "nei_one_hop": "1-hop_nei",
    "strenght_all": "avg_node_strength",
    "coreness_all": "k-core",
    "strong_clusters": "no_connected_components",
    "mean_strong": "mean_connected_components",
    "spectral_gap_weighted_undirected": "spectral_gap",
    "spectral_radius_laplacian_weighted_undirected": "spectral_radius",
}
#: Ramanujan columns of ``ramanunjan_results`` → the names of ``snntopo.metrics.ramanujan.LAYER_KEYS``
#: for the same quantities (docs/method/metrics.md: all three are normalised / weighted as the MGE code
#: computes).
RAMANUJAN_RENAME: dict[str, str] = {
    "degree_bound": "delta_r_norm",
    "iterative_degree_bound": "imdb_norm",
    "iterative_spectral_gap": "iter_spectral_gap",
}
MODEL_NAMES: dict[str, str] = {
    "conv6": "conv6",
    "resnet20": "resnet20",
    "resnet32": "resnet32",
    "wideresnet282": "wrn28_2",
    "wrn282": "wrn28_2",
    "mobilenetv2": "mobilenetv2",
}
DATASET_NAMES: dict[str, str] = {"cifar10": "cifar10", "cifar100": "cifar100", "tinyimagenet": "tinyimagenet"}
_FAMILIES = ("mge", "rolled", "rolled_channel", "ramanujan")
_PRUNER_COLUMNS = {"pruning_algorithm": "pruner", "pruning": "pruner"}
_NETWORK_IDS = ("accuracy", "sparsity", "model", "dataset", "seed")
_LAYER_IDS = ("layer_id", "layer_sparsity")
#: Columns of the full BGE schema that are recognised but not used: degree statistics, other topometrics
#: and the Ramanujan-like variants of an unreleased script (docs/method/metrics.md).
_BGE_UNUSED = (
    "layer_name", "nodes", "edges", "unique_edges", "weights_edges_ratio", "density_directed",
    "density_undirected", "avg_degree_all", "avg_degree_in", "avg_degree_out", "max_degree", "min_degree",
    "assortativity", "motifs", "sink_nodes", "source_nodes", "disconnected_nodes", "lost_out_edges",
    "lost_in_edges", "nei_two_hop", "strenght_out", "coreness_out", "weak_clusters", "max_strong",
    "max_weak", "min_strong", "min_weak", "mean_weak", "transitivity", "delta_r_directed",
    "delta_s_directed", "spectral_gap_unweighted_directed", "spectral_radius_laplacian_unweighted_directed",
    "spectral_gap_weighted_directed", "spectral_radius_laplacian_weighted_directed", "delta_r_undirected",
    "delta_s_undirected", "spectral_gap_unweighted_undirected",
    "spectral_radius_laplacian_unweighted_undirected",
)  # fmt: skip


class PublishedTableError(SnntopoError, ValueError):
    """A published table has a column or value the adapter cannot map; names the file and column."""


@dataclass(frozen=True)
class FileSchema:
    """How the files of one family map to the common names.

    ``rename`` applies to every file of the family (full-schema names → common names; a reduced-schema
    file already has the common names); ``required`` must be present after renaming; ``metrics`` are the
    columns carried on; ``unused`` are known and dropped. Anything else is an error.
    """

    rename: dict[str, str]
    required: tuple[str, ...]
    metrics: tuple[str, ...]
    unused: tuple[str, ...]

    def known(self) -> set[str]:
        return {*self.required, *self.metrics, *self.unused}


_BGE_SCHEMA = FileSchema(
    rename={**_PRUNER_COLUMNS, **BGE_RENAME},
    required=(*_NETWORK_IDS, "pruner", *_LAYER_IDS),
    metrics=BGE_METRICS,
    unused=_BGE_UNUSED,
)
FILE_SCHEMAS: dict[str, FileSchema] = {
    "mge": FileSchema(
        rename=dict(_PRUNER_COLUMNS),
        required=(*_NETWORK_IDS, "pruner"),
        metrics=MGE_METRICS,
        unused=("nodes", "edges"),
    ),
    "rolled": _BGE_SCHEMA,
    "rolled_channel": _BGE_SCHEMA,
    "ramanujan": FileSchema(
        rename=dict(RAMANUJAN_RENAME),
        required=(*_NETWORK_IDS, *_LAYER_IDS),
        metrics=tuple(RAMANUJAN_RENAME.values()),
        unused=("layer_name", "no_weights", "no_params"),
    ),
}


def _norm_name(values: pd.Series, known: dict[str, str], path: Path, column: str) -> pd.Series:
    key = values.astype(str).str.lower().str.replace(r"[^a-z0-9]", "", regex=True)
    unknown = sorted(set(values[~key.isin(list(known))].astype(str)))
    if unknown:
        raise PublishedTableError(
            f"{path}: column {column!r} has value {unknown[0]!r}, which names no known {column}; "
            f"accepted (case, '-' and '_' ignored): {', '.join(sorted(set(known.values())))}"
        )
    return key.map(known)


def classify_file(path: Path) -> str | None:
    """Family of a published CSV from its path (``mge``, ``rolled``, ``rolled_channel``, ``ramanujan``)."""
    name = path.name.lower()
    if not name.endswith(".csv"):
        return None
    in_ramanujan_dir = any(re.fullmatch(r"ramanu[n]?jan_results", p.lower()) for p in path.parts[:-1])
    if name.startswith("ramanujan") or (in_ramanujan_dir and name.startswith("rolled-")):
        return "ramanujan"
    if in_ramanujan_dir:
        return None
    if name.startswith("unrolled"):
        return "mge"
    if name.startswith("rolled_channel"):
        return "rolled_channel"
    if name.startswith("rolled"):
        return "rolled"
    return None


def discover(directory: str | os.PathLike[str]) -> dict[str, list[Path]]:
    """Published CSVs under ``directory`` (recursively), by family, sorted by path."""
    root = Path(directory)
    if not root.is_dir():
        raise DatasetNotFoundError(
            f"published tables directory {str(root)!r} (external_tables) does not exist or is not a directory"
        )
    found: dict[str, list[Path]] = {f: [] for f in _FAMILIES}
    for path in sorted(root.rglob("*.csv")):
        fam = classify_file(path.relative_to(root))
        if fam is None:
            log.info("published tables: ignoring %s", path)
        else:
            found[fam].append(path)
    if not any(found.values()):
        raise DatasetNotFoundError(
            f"no published metric table under {str(root)!r} (external_tables); expected unrolled*.csv, "
            "rolled-*.csv, rolled_channel-*.csv or ramanujan*.csv (flat), or the release layout "
            "graph_data/graph_metrics/{unrolled,rolled,rolled_channel}/*.csv, "
            "graph_data/ramanunjan_results/<model>/*.csv"
        )
    log.info("published tables under %s: %s", root, {f: len(p) for f, p in found.items()})
    return found


def read_file(path: Path, family: str) -> pd.DataFrame:
    """One published CSV with the common column names and project ids (see ``FileSchema``)."""
    schema = FILE_SCHEMAS[family]
    raw = pd.read_csv(path)
    renamed = [schema.rename.get(c, c) for c in raw.columns]
    seen: dict[str, str] = {}
    for original, name in zip(raw.columns, renamed, strict=True):
        if name in seen:
            raise PublishedTableError(
                f"{path}: columns {seen[name]!r} and {original!r} both map to {name!r} ({family} family)"
            )
        seen[name] = original
        if name not in schema.known():
            raise PublishedTableError(
                f"{path}: column {original!r} cannot be mapped to a column of the {family} family; "
                f"accepted: {', '.join(sorted(schema.known() | set(schema.rename)))}"
            )
    df = raw.set_axis(renamed, axis=1)
    missing = [c for c in schema.required if c not in df]
    if missing:
        accepted = [k for k, v in schema.rename.items() if v == missing[0]] or [missing[0]]
        raise PublishedTableError(
            f"{path}: required column {missing[0]!r} is missing ({family} family; accepted: "
            f"{' or '.join(accepted)})"
        )
    df = df[[c for c in df.columns if c not in schema.unused]].copy()
    df["model"] = _norm_name(df["model"], MODEL_NAMES, path, "model")
    df["dataset"] = _norm_name(df["dataset"], DATASET_NAMES, path, "dataset")
    df["sparsity"] = df["sparsity"].astype(float).round(6)
    df["seed"] = df["seed"].astype(int)
    df["accuracy"] = df["accuracy"].astype(float)
    if "pruner" in df:
        df["pruner"] = df["pruner"].astype(str).str.lower()
    return df


def _read(paths: list[Path], family: str) -> pd.DataFrame:
    """The family's files, each mapped to the common names, then concatenated."""
    frames = [read_file(p, family) for p in paths]
    return pd.concat(frames, ignore_index=True, sort=False) if frames else pd.DataFrame()


def _drop_duplicates(df: pd.DataFrame, key: list[str], family: str, stats: dict[str, Any]) -> pd.DataFrame:
    """First occurrence of each ``key``; the number dropped is logged and kept in ``stats``."""
    n0 = len(df)
    df = df.drop_duplicates(key, keep="first")
    stats[f"{family}_rows"], stats[f"{family}_duplicates_dropped"] = n0, n0 - len(df)
    if n0 > len(df):
        log.warning("published tables: %d duplicated %s rows dropped (first kept)", n0 - len(df), family)
    return df


def _layer_rank(df: pd.DataFrame) -> pd.Series:
    """Rank of ``layer_id`` among the distinct layer ids of the row's model (0, 1, ...)."""
    ranks = df.groupby("model")["layer_id"].rank(method="dense").astype(int) - 1
    return ranks


def _pivot_layers(df: pd.DataFrame, index: list[str], family: str, metrics: list[str]) -> pd.DataFrame:
    wide = df.set_index([*index, "layer"])[metrics].unstack("layer")
    wide.columns = [f"{family}:L{layer:02d}:{metric}" for metric, layer in wide.columns]
    return wide.dropna(axis=1, how="all")


def _density(df: pd.DataFrame, index: list[str]) -> pd.DataFrame:
    """Layer densities (the published ``layer_sparsity`` is nnz/numel) as ``density:Lxx:density``."""
    wide = _pivot_layers(df, index, "density", ["layer_sparsity"])
    return wide.rename(columns=lambda c: c.replace(":layer_sparsity", ":density"))


def _mge(paths: list[Path], stats: dict[str, Any]) -> pd.DataFrame:
    df = _read(paths, "mge")
    if df.empty:
        return pd.DataFrame()
    df = _drop_duplicates(df, KEY, "mge", stats)
    metrics = [m for m in MGE_METRICS if m in df]
    out = df.set_index(KEY)[["accuracy", *metrics]]
    return out.rename(columns={m: f"mge:{m}" for m in metrics})


def _bge(paths: list[Path], family: str, stats: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-layer BGE metrics and the layer-density vectors, both indexed by the network key."""
    df = _read(paths, family)
    if df.empty:
        return pd.DataFrame(), pd.DataFrame()
    df = _drop_duplicates(df, [*KEY, "layer_id"], family, stats)
    df["layer"] = _layer_rank(df)
    metrics = [m for m in BGE_METRICS if m in df]
    wide = _pivot_layers(df, KEY, family, metrics)
    acc = df.groupby(KEY)["accuracy"].first().rename("accuracy")
    dens = _density(df, KEY)
    return wide.join(acc), dens


def _ramanujan(paths: list[Path], stats: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-network Ramanujan features and density vectors, indexed by a running network number."""
    frames = []
    offset = 0
    for path in paths:  # delimit networks file by file: a new file always starts a new network
        df = read_file(path, "ramanujan")
        if df.empty:
            continue
        restart = df["layer_id"].diff().fillna(-1).to_numpy() <= 0
        df["_net"] = np.cumsum(restart) - 1 + offset
        offset = int(df["_net"].max()) + 1
        frames.append(df)
    if not frames:
        return pd.DataFrame(), pd.DataFrame()
    df = pd.concat(frames, ignore_index=True)
    df["layer"] = _layer_rank(df)
    metrics = [m for m in RAMANUJAN_RENAME.values() if m in df]
    df[metrics] = df[metrics].astype(float).where(np.isfinite(df[metrics].astype(float)))
    ids = df.groupby("_net")[["dataset", "model", "sparsity", "seed", "accuracy"]].first()
    wide = _pivot_layers(df, ["_net"], "ramanujan", metrics)
    means = df.groupby("_net")[metrics].mean()  # NaN-skipping: mean over the valid layers
    means.columns = [f"ramanujan:mean_{m}" for m in metrics]
    dens = _density(df, ["_net"])
    stats["ramanujan_networks"] = len(ids)
    return ids.join(wide).join(means), dens


def _match_ramanujan(
    ram: pd.DataFrame,
    ram_dens: pd.DataFrame,
    known: pd.DataFrame,
    known_dens: pd.DataFrame,
    stats: dict[str, Any],
    tol: float = 1e-6,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Attach a pruner to each Ramanujan network (see module docstring).

    Returns the matched networks' Ramanujan features and layer densities, indexed by the network key.
    """
    left = ram[["dataset", "model", "sparsity", "seed", "accuracy"]].assign(_acc=ram["accuracy"].round(6))
    right = known.reset_index()[[*KEY, "accuracy"]].assign(_acc=lambda d: d["accuracy"].round(6))
    pairs = left.reset_index().merge(right.drop(columns="accuracy"), on=_MATCH_KEY, how="inner")
    if len(pairs) and len(known_dens):
        cols = sorted(set(ram_dens.columns) & set(known_dens.columns))
        a = ram_dens.reindex(pairs["_net"].to_numpy())[cols].to_numpy(dtype=float)
        b = known_dens.reindex(pd.MultiIndex.from_frame(pairs[KEY]))[cols].to_numpy(dtype=float)
        diff = np.abs(a - b)
        overlap = ~np.isnan(diff).all(axis=1) if cols else np.zeros(len(pairs), dtype=bool)
        dist = np.where(overlap, np.nanmax(np.where(np.isnan(diff), -np.inf, diff), axis=1), np.nan)
        pairs = pairs[~(dist > tol)]  # NaN distance (no density to compare) keeps the pair
    per_net = pairs.groupby("_net")["_net"].transform("size")
    per_key = pairs.groupby(KEY)["_net"].transform("size")
    unique = pairs[(per_net == 1) & (per_key == 1)]
    stats["ramanujan_matched"] = len(unique)
    stats["ramanujan_unmatched"] = len(ram) - pairs["_net"].nunique()
    stats["ramanujan_ambiguous"] = len(ram) - stats["ramanujan_matched"] - stats["ramanujan_unmatched"]
    feats = ram.drop(columns=["dataset", "model", "sparsity", "seed", "accuracy"])
    out = unique[[*KEY, "_net"]].join(feats, on="_net").drop(columns="_net").set_index(KEY)
    dens = unique[[*KEY, "_net"]].join(ram_dens, on="_net").drop(columns="_net").set_index(KEY)
    if stats["ramanujan_matched"] < len(ram):
        log.warning(
            "published tables: %d of %d Ramanujan networks matched to a pruner (%d ambiguous, %d unmatched)",
            stats["ramanujan_matched"],
            len(ram),
            stats["ramanujan_ambiguous"],
            stats["ramanujan_unmatched"],
        )
    return out, dens


def load_published_tables(directory: str | os.PathLike[str]) -> pd.DataFrame:
    """Read the published MGE-study metric tables under ``directory`` into the tidy table.

    One row per network (dataset, model, pruner, sparsity, seed); id columns ``dataset, model, pruner,
    sparsity, seed, accuracy, best_accuracy (NaN), dense_accuracy (NaN)``, then family-prefixed feature
    columns, sorted. ``table.attrs["published"]`` holds counts (files per family, duplicates dropped,
    Ramanujan networks matched/ambiguous/unmatched).
    """
    files = discover(directory)
    stats: dict[str, Any] = {f"files_{fam}": len(paths) for fam, paths in files.items()}
    parts: list[pd.DataFrame] = []
    dens_parts: list[pd.DataFrame] = []
    mge = _mge(files["mge"], stats)
    if len(mge):
        parts.append(mge)
    for fam in ("rolled", "rolled_channel"):
        wide, dens = _bge(files[fam], fam, stats)
        if len(wide):
            parts.append(wide)
            dens_parts.append(dens)
    known = _combine([p[["accuracy"]] for p in parts])
    stats["accuracy_mismatches"] = _accuracy_mismatches([p["accuracy"] for p in parts])
    known_dens = _combine(dens_parts)
    ram, ram_dens = _ramanujan(files["ramanujan"], stats)
    if len(ram):
        if known.empty:
            raise DatasetNotFoundError(
                f"Ramanujan tables under {str(directory)!r} have no pruner column and no unrolled/rolled "
                "table to match their networks against"
            )
        ram_rows, ram_key_dens = _match_ramanujan(ram, ram_dens, known, known_dens, stats)
        parts.append(ram_rows)
        # the Ramanujan files also carry layer densities: they fill networks without a BGE file
        known_dens = _combine([known_dens, ram_key_dens])
    if known.empty:
        raise DatasetNotFoundError(f"no network in the published tables under {str(directory)!r}")
    # accuracy: first family that has the network (all families agree in the release,
    # docs/method/analyses.md#published-tables)
    table = known
    for frame in [*(p.drop(columns="accuracy", errors="ignore") for p in parts), known_dens]:
        if frame.shape[1]:
            table = table.join(frame, how="left")
    table = table.reset_index()
    table["best_accuracy"] = np.nan
    table["dense_accuracy"] = np.nan
    table["density:global"] = 1.0 - table["sparsity"]
    ids = ["dataset", "model", "pruner", "sparsity", "seed", "accuracy", "best_accuracy", "dense_accuracy"]
    feats = sorted(c for c in table.columns if c not in ids)
    table = table[ids + feats].sort_values(KEY, kind="mergesort").reset_index(drop=True)
    table["seed"] = table["seed"].astype(int)
    stats["networks"] = len(table)
    for fam in _FAMILIES:  # how many networks each family covers (the release's files overlap unevenly)
        cols = [c for c in table.columns if c.startswith(f"{fam}:")]
        stats[f"networks_with_{fam}"] = int(table[cols].notna().any(axis=1).sum()) if cols else 0
    log.info("published tables: %s", stats)
    table.attrs["published"] = stats
    return table


def _accuracy_mismatches(series: list[pd.Series], tol: float = 1e-6) -> int:
    """Networks whose accuracy differs between families (none in the release,
    docs/method/analyses.md#published-tables)."""
    if len(series) < 2:
        return 0
    wide = pd.concat(series, axis=1, keys=range(len(series)))
    spread = wide.max(axis=1) - wide.min(axis=1)
    return int((spread > tol).sum())


def _combine(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Union of rows (index = network key); for rows in several frames the first frame's values win."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame()
    out = frames[0]
    for f in frames[1:]:
        out = out.combine_first(f)
    return out
