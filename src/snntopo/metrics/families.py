"""The registered metric families (see :mod:`.registry`)."""

from __future__ import annotations

from snntopo.metrics.density import density_metrics
from snntopo.metrics.fullspectrum import fullspectrum_metrics
from snntopo.metrics.registry import register_metric
from snntopo.metrics.table import flatten_layers, network_means, per_layer_table
from snntopo.metrics.topometrics import mge_topometrics


@register_metric("mge")
def mge(g, **options) -> dict[str, float]:
    """16 topometrics of the MGE, published normalisation and ``_raw`` (:func:`.mge_topometrics`)."""
    return mge_topometrics(g, **options)


def _per_layer_family(family: str):
    def run(layers, **options) -> dict[str, float]:
        df = per_layer_table(layers, family, **options)
        return {**flatten_layers(df), **network_means(df)}

    run.__doc__ = f"Per-layer ``{family}`` metrics ``L{{idx:02d}}:<metric>`` and network ``mean_<metric>``."
    return run


register_metric("rolled")(_per_layer_family("rolled"))
register_metric("rolled_channel")(_per_layer_family("rolled_channel"))
register_metric("ramanujan")(_per_layer_family("ramanujan"))


@register_metric("fullspectrum")
def fullspectrum(layers, **options) -> dict[str, float]:
    """Per layer ``dr, lam, dr_iter, lam_iter, norm[, dist_init]``; ``mean_*`` and ``dist_init``."""
    return fullspectrum_metrics(layers, **options)


@register_metric("density")
def density(layers, **options) -> dict[str, float]:
    """Per layer ``density``; network ``global`` (kept / total weights)."""
    return density_metrics(layers, **options)
