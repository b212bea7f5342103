"""Snakemake entry point: one table of every DST point's snapshot metrics, and the topology figure."""

from pathlib import Path

import pandas as pd

from snntopo.metrics.evolution import collect_topology
from snntopo.plots.dst import plot_dst_topology
from snntopo.utils import atomic_path, job_logger

log = job_logger(f"snntopo.{snakemake.rule}", snakemake.log[0] if snakemake.log else None)
params, output = snakemake.params, snakemake.output
# One input per DST point, in the order of params.points.
points = [
    ({**p, "seed": int(p["seed"]), "sparsity": float(p["sparsity"])}, pd.read_csv(path))
    for p, path in zip(params.points, snakemake.input, strict=True)
]
table = collect_topology(points, network_only=True)  # per-layer rows stay in the point files
with atomic_path(output.table) as tmp:
    table.to_csv(tmp, index=False)
written = plot_dst_topology(table, Path(output.figure).with_suffix(""), params.panels)
log.info("%d DST points, %d rows; %s", len(points), len(table), ", ".join(map(str, written)))
