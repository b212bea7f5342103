"""Cross-validation schemes of the analysis stage: which networks may share a training fold.

The networks of one configuration (dataset, model, pruner, sparsity) differ only by their seed and have
near-identical topology. A shuffled k-fold over networks puts a configuration's other seeds in the
training folds, so a flexible learner recalls the answer instead of predicting it. Schemes (registry
``CV_SCHEMES``, config key ``analysis.cv``):

* ``config`` (default): grouped k-fold; a group is a configuration, and configurations whose networks
  share a mask (same ``mask_checksum``) are merged into one group, so identical masks never straddle a
  training and a test fold;
* ``pruner``: leave one pruner out (pruners linked by an identical mask are left out together); the
  scheme of anything that ranks pruners, since a pruner is then ranked from a model that never saw it;
* ``network``: shuffled k-fold over networks, shown as "seen configurations": what the study measures
  when memorisation of a configuration is allowed.

A scheme that cannot make two folds in a group (one configuration, one pruner) raises
``CVNotPossibleError``; the regression records the group as skipped with that message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from snntopo.registry import Registry

CONFIG_KEYS: tuple[str, ...] = ("dataset", "model", "pruner", "sparsity")
CHECKSUM_COLUMN = "mask_checksum"

Splits = list[tuple[np.ndarray, np.ndarray]]


class CVNotPossibleError(ValueError):
    """A scheme cannot make two folds in this group; the message says why."""


@dataclass(frozen=True)
class CVScheme:
    """How one group is split: ``split(frame, folds, seed)`` → list of (train, test) row positions."""

    label: str  # how the scheme is named in tables and figures
    split: Callable[[pd.DataFrame, int, int], Splits]


CV_SCHEMES: Registry[CVScheme] = Registry("cross-validation scheme")


def linked_groups(labels: np.ndarray, checksums: np.ndarray | None) -> np.ndarray:
    """Group id per row: rows with equal ``labels`` or equal (non-missing) ``checksums`` share a group,
    transitively (connected components of the label–checksum graph)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    lab = pd.factorize(pd.Series(labels), sort=True)[0]
    n_lab = lab.max() + 1 if len(lab) else 0
    if checksums is None:
        return lab
    cks = pd.Series(checksums, dtype=object)
    has = cks.notna().to_numpy() & (cks.astype(str) != "").to_numpy()
    if not has.any():
        return lab
    ck = pd.factorize(cks[has], sort=True)[0] + n_lab
    n = n_lab + ck.max() + 1
    graph = coo_matrix((np.ones(has.sum()), (lab[has], ck)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    return pd.factorize(comp[lab], sort=True)[0]


def _checksums(frame: pd.DataFrame) -> np.ndarray | None:
    return frame[CHECKSUM_COLUMN].to_numpy(object) if CHECKSUM_COLUMN in frame else None


def config_labels(frame: pd.DataFrame) -> np.ndarray:
    """One label per configuration (dataset, model, pruner, sparsity) present in ``frame``."""
    keys = [k for k in CONFIG_KEYS if k in frame]
    if frame.empty:
        return np.array([], dtype=object)
    return frame[keys].astype(str).agg("|".join, axis=1).to_numpy()


def config_groups(frame: pd.DataFrame) -> np.ndarray:
    """Group id per row for the ``config`` scheme (configurations merged where masks are identical)."""
    return linked_groups(config_labels(frame), _checksums(frame))


def _grouped(groups: np.ndarray, folds: int, seed: int, what: str) -> Splits:
    n_groups = int(groups.max()) + 1 if len(groups) else 0
    if n_groups < 2:
        raise CVNotPossibleError(f"{what}: only {n_groups} in this group, grouped CV needs at least 2")
    # groups are shuffled to folds by a seeded permutation, then dealt round-robin by size (largest first)
    # so fold sizes stay balanced; every group lies in exactly one test fold
    k = min(int(folds), n_groups)
    rng = np.random.default_rng(seed)
    sizes = np.bincount(groups, minlength=n_groups)
    order = rng.permutation(n_groups)
    order = order[np.argsort(-sizes[order], kind="stable")]
    fold_of_group = np.empty(n_groups, dtype=int)
    load = np.zeros(k)
    for g in order:  # loop over groups (tens), not networks
        f = int(np.argmin(load))
        fold_of_group[g] = f
        load[f] += sizes[g]
    fold = fold_of_group[groups]
    return [(np.flatnonzero(fold != f), np.flatnonzero(fold == f)) for f in range(k)]


def _split_config(frame: pd.DataFrame, folds: int, seed: int) -> Splits:
    return _grouped(config_groups(frame), folds, seed, "configurations (linked by identical masks)")


def _split_pruner(frame: pd.DataFrame, folds: int, seed: int) -> Splits:
    groups = linked_groups(frame["pruner"].astype(str).to_numpy(), _checksums(frame))
    # leave one out: as many folds as (linked) pruners
    return _grouped(groups, int(groups.max()) + 1 if len(groups) else 0, seed, "pruners")


def _split_network(frame: pd.DataFrame, folds: int, seed: int) -> Splits:
    from sklearn.model_selection import KFold

    if len(frame) < folds:
        raise CVNotPossibleError(f"networks: {len(frame)} < {folds} folds")
    return list(KFold(n_splits=int(folds), shuffle=True, random_state=seed).split(np.arange(len(frame))))


CV_SCHEMES.register("config")(CVScheme("held-out configurations", _split_config))
CV_SCHEMES.register("pruner")(CVScheme("held-out pruner", _split_pruner))
CV_SCHEMES.register("network")(CVScheme("seen configurations", _split_network))

#: The default of ``analysis.cv``; the ranking study adds ``pruner`` for its supervised candidates.
DEFAULT_CV: tuple[str, ...] = ("config", "network")


def make_splits(frame: pd.DataFrame, scheme: str, folds: int, seed: int) -> Splits:
    """(train, test) row positions of ``frame`` under ``scheme``; raises ``CVNotPossibleError``."""
    return CV_SCHEMES.get(scheme).split(frame.reset_index(drop=True), folds, seed)


def fold_index(splits: Splits, n: int) -> np.ndarray:
    """Test fold of every row (each row is in exactly one test fold)."""
    out = np.full(n, -1)
    for f, (_, te) in enumerate(splits):
        out[te] = f
    return out
