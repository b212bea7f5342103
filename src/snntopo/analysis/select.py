"""Restrict the tidy table to the networks an analysis is about (``analysis.pruners``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pandas as pd

from snntopo.errors import InvalidValueError

log = logging.getLogger(__name__)


def restrict_to_pruners(table: pd.DataFrame, pruners: Sequence[str] | None) -> pd.DataFrame:
    """The rows of ``table`` whose pruner is in ``pruners`` (all rows when ``None``).

    Every name must occur in the table: a misspelt name would otherwise silently shrink the analysis.
    Raises ``InvalidValueError`` naming the first missing pruner and listing the pruners present.
    """
    if pruners is None:
        return table
    present = sorted(set(table["pruner"].astype(str)))
    missing = [p for p in pruners if p not in present]
    if missing:
        raise InvalidValueError("analysis pruners", missing[0], f"pruners in the table: {', '.join(present)}")
    kept = table[table["pruner"].isin(list(pruners))].reset_index(drop=True)
    log.info("analysis restricted to pruners %s: %d of %d networks", list(pruners), len(kept), len(table))
    return kept
