"""Feature columns of the tidy table: parsing, metric groups and the registry of feature sets.

Column names follow docs/method/metrics.md: network-level ``"{family}:{metric}"`` and per-layer
``"{family}:L{idx:02d}:{metric}"``. A *feature set* is a named selection of such columns; the registry
holds the base sets and a name joined with ``+`` (``"mge+density"``) is the union of its parts, so
combinations need no registration.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence

import pandas as pd

from snntopo.registry import Registry
from snntopo.topometric_names import METRIC_GROUPS, MGE_METRICS

#: Identifier columns of the tidy table (everything else that parses as a feature is a feature).
ID_COLUMNS: tuple[str, ...] = (
    "dataset",
    "model",
    "pruner",
    "sparsity",
    "seed",
    "accuracy",
    "best_accuracy",
    "dense_accuracy",
)

FAMILIES: tuple[str, ...] = ("mge", "rolled", "rolled_channel", "ramanujan", "fullspectrum", "density")

_COLUMN_RE = re.compile(r"^(?P<family>[a-z_]+):(?:L(?P<layer>\d+):)?(?P<metric>[^:]+)$")

#: The five metric groups of docs/method/metrics.md (names as printed by the MGE code), keyed by metric name.
#: BGE metrics share the MGE names (the adapter renames the published columns), so they fall into the
#: same groups. Ramanujan and full-spectrum quantities are spectral expansion measures and join
#: "Expansion"; layer densities are the baseline and form their own group "Density".
GROUP_ORDER: tuple[str, ...] = (*METRIC_GROUPS, "Density", "Other")
_METRIC_TO_GROUP = {m: g for g, ms in METRIC_GROUPS.items() for m in ms}
_FAMILY_GROUP = {"ramanujan": "Expansion", "fullspectrum": "Expansion", "density": "Density"}


def parse_columns(columns: Iterable[str]) -> pd.DataFrame:
    """Split feature column names into ``column, family, layer (int or -1), metric, group``.

    Columns that are not feature columns (ids, anything without a known family prefix) are left out.
    """
    return _parse_cached(tuple(c for c in columns if isinstance(c, str))).copy()


@functools.lru_cache(maxsize=512)
def _parse_cached(columns: tuple[str, ...]) -> pd.DataFrame:
    # the same column lists are parsed once per group and feature set: cache, and match with re directly
    rows = []
    for col in columns:
        m = _COLUMN_RE.match(col)
        if m and m["family"] in FAMILIES:
            rows.append((col, m["family"], int(m["layer"]) if m["layer"] else -1, m["metric"]))
    parts = pd.DataFrame(rows, columns=["column", "family", "layer", "metric"])
    parts["layer"] = parts["layer"].astype(int)
    parts["group"] = metric_group(parts["family"], parts["metric"])
    return parts


def metric_group(family: pd.Series, metric: pd.Series) -> pd.Series:
    """Metric group of docs/method/metrics.md for each (family, metric); see ``METRIC_GROUPS``."""
    by_metric = metric.map(_METRIC_TO_GROUP)
    by_family = family.map(_FAMILY_GROUP)
    # family decides for ramanujan/fullspectrum/density (their metric names say nothing about the group)
    return by_family.fillna(by_metric).fillna("Other")


def feature_columns(columns: Iterable[str]) -> list[str]:
    """All feature columns among ``columns``, sorted."""
    return sorted(parse_columns(columns)["column"])


# --------------------------------------------------------------------------------------------------
# Feature-set registry
# --------------------------------------------------------------------------------------------------

Selector = Callable[[pd.DataFrame], pd.Series]
FEATURE_SETS: Registry[Selector] = Registry("feature set")


def _family(name: str, *, per_layer: bool | None = None, metrics: Sequence[str] | None = None) -> Selector:
    def select(parts: pd.DataFrame) -> pd.Series:
        keep = parts["family"] == name
        if per_layer is not None:
            keep &= (parts["layer"] >= 0) == per_layer
        if metrics is not None:
            keep &= parts["metric"].isin(metrics)
        return keep

    layer = {True: "L<i>:", False: "", None: "[L<i>:]"}[per_layer]
    select.__doc__ = f"{name}:{layer}" + ("{" + ", ".join(metrics) + "}" if metrics is not None else "<any>")
    return select


def describe_feature_set(name: str) -> str:
    """The column patterns feature set ``name`` selects, e.g. ``ramanujan:L<i>:{delta_r_norm, ...}``."""
    return " + ".join(FEATURE_SETS.get(part.strip()).__doc__ or part for part in name.split("+"))


def why_no_columns(name: str, columns: Iterable[str]) -> str:
    """Reason recorded when feature set ``name`` has no column in a table with ``columns``."""
    families = sorted(set(parse_columns(columns)["family"]))
    return (
        f"no column of feature set {name!r} in the table: it takes {describe_feature_set(name)}; "
        f"the table's feature families are {', '.join(families) or 'none'}"
    )


FEATURE_SETS.register("mge")(_family("mge", per_layer=False, metrics=MGE_METRICS))
FEATURE_SETS.register("rolled")(_family("rolled", per_layer=True))
FEATURE_SETS.register("rolled_channel")(_family("rolled_channel", per_layer=True))
# layer-wise density vector (plus the global density, which is constant at fixed sparsity and then dropped)
FEATURE_SETS.register("density")(_family("density"))

#: The Ramanujan quantities among ``snntopo.metrics.ramanujan.LAYER_KEYS``: bounds, gaps and their
#: iterative means. Left out on purpose: sizes, edge counts, mean degrees, ``mu0``/``mu_hat`` (the raw
#: eigenvalues, which grow with the degree), expansion ratios, ``valid`` and ``n_subgraphs`` — ``edges`` /
#: numel *is* the layer density, so a set holding them answers "density or Ramanujan?" with "both".
RAMANUJAN_QUANTITIES: tuple[str, ...] = (
    "delta_r",
    "delta_r_norm",
    "delta_s",
    "delta_s_norm",
    "narc",
    "spectral_gap",
    "is_ramanujan",
    "imdb",
    "imdb_norm",
    "ism",
    "ism_norm",
    "iter_spectral_gap",
)
#: The three per-layer quantities of the MGE study's Ramanujan analysis (docs/method/metrics.md), with the
#: names both routes give them: Δr_norm of the whole layer (published ``degree_bound``), IMDB as the mean
#: Δr_norm over the d-left-regular subgraphs (``iterative_degree_bound``; ``imdb`` would be the mean raw
#: Δr, which the published tables do not hold) and the mean weighted spectral gap of those subgraphs
#: (``iterative_spectral_gap``). The published values are computed with the ``mge`` variant's validity
#: rules; our runs with ``metrics.ramanujan_variant`` (the paper configuration sets ``mge``).
RAMANUJAN_MGE: tuple[str, ...] = ("delta_r_norm", "imdb_norm", "iter_spectral_gap")
#: The same three as [ICLR23]/[NeurIPS23] report them, not normalised (our runs only).
RAMANUJAN_RAW: tuple[str, ...] = ("delta_r", "imdb", "iter_spectral_gap")

FEATURE_SETS.register("ramanujan")(_family("ramanujan", per_layer=True, metrics=RAMANUJAN_MGE))
FEATURE_SETS.register("ramanujan_dr")(_family("ramanujan", per_layer=True, metrics=("delta_r_norm",)))
FEATURE_SETS.register("ramanujan_imdb")(_family("ramanujan", per_layer=True, metrics=("imdb_norm",)))
FEATURE_SETS.register("ramanujan_isg")(_family("ramanujan", per_layer=True, metrics=("iter_spectral_gap",)))
FEATURE_SETS.register("ramanujan_raw")(_family("ramanujan", per_layer=True, metrics=RAMANUJAN_RAW))
FEATURE_SETS.register("ramanujan_all")(_family("ramanujan", per_layer=True, metrics=RAMANUJAN_QUANTITIES))
FEATURE_SETS.register("fullspectrum")(_family("fullspectrum"))

#: Feature sets analysed when the config names none: every base family and the combinations that
#: answer "does it add anything to density?". The single-metric Ramanujan sets (``ramanujan_dr``,
#: ``ramanujan_imdb``, ``ramanujan_isg``; docs/method/analyses.md), ``ramanujan_raw`` and ``ramanujan_all``
#: are
#: registered but not default, to keep the default run short; name them in ``feature_sets`` to add them.
DEFAULT_FEATURE_SETS: tuple[str, ...] = (
    "density",
    "mge",
    "rolled",
    "rolled_channel",
    "ramanujan",
    "fullspectrum",
    "mge+density",
    "ramanujan+density",
)


def select_features(name: str, columns: Iterable[str]) -> list[str]:
    """Columns of feature set ``name`` (``a+b`` = union of sets ``a`` and ``b``), sorted.

    Raises ``UnknownNameError`` for an unknown part. An empty list means the table has no such columns.
    """
    parts = parse_columns(columns)
    keep = pd.Series(False, index=parts.index)
    for part in name.split("+"):
        keep |= FEATURE_SETS.get(part.strip())(parts)
    return sorted(parts.loc[keep, "column"])
