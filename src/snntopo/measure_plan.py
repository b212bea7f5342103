"""Which encoding job computes which metric family: the plan of the metrics stage.

Kept free of heavy imports (no torch, no graph-tool): the Snakefile reads it while it is parsed, which
happens in the main Snakemake process and again in every job that a cluster executor starts, so an
import of the metrics stage there would cost each SLURM job seconds before any work.
"""

from __future__ import annotations

from collections.abc import Iterable

from snntopo.errors import InvalidValueError

#: Metric family → the encoding whose graph it is computed on (the job that computes it).
ENCODING_OF_FAMILY: dict[str, str] = {
    "mge": "mge",
    "rolled": "rolled",
    "ramanujan": "rolled",
    "fullspectrum": "rolled",
    "density": "rolled",
    "rolled_channel": "rolled_channel",
}


def encodings_for(families: Iterable[str]) -> list[str]:
    """The encoding jobs needed for ``families``, in a fixed order (mge, rolled, rolled_channel)."""
    families = list(families)
    unknown = sorted(set(families) - set(ENCODING_OF_FAMILY))
    if unknown:
        raise InvalidValueError("metric families", unknown, ", ".join(sorted(ENCODING_OF_FAMILY)))
    needed = {ENCODING_OF_FAMILY[f] for f in families}
    return [e for e in ("mge", "rolled", "rolled_channel") if e in needed]


def families_for(encoding: str, families: Iterable[str]) -> list[str]:
    """The families among ``families`` that the ``encoding`` job computes, in the given order."""
    return [f for f in families if ENCODING_OF_FAMILY.get(f) == encoding]
