"""Snakemake entry point: every analysis of the tidy table (tables and figures) in one pass."""

from pathlib import Path

import pandas as pd

from snntopo.analysis import run_all
from snntopo.utils import job_logger

log = job_logger(f"snntopo.{snakemake.rule}", snakemake.log[0] if snakemake.log else None)
table = pd.read_parquet(snakemake.input.table)
table = table[table.pruner != "dense"]  # the dense baselines are the reference of the drop, not samples
outdir = Path(snakemake.output.tables[0]).parent.parent  # <analysis>/tables/x.csv → <analysis>
variant = snakemake.params.ramanujan_variant
log.info("Ramanujan quantities of this table: %s variant (docs/method/metrics.md)", variant)
if variant != "mge":
    log.warning(
        "Ramanujan feature sets use the %s variant; the MGE study's (and its published tables') is mge: "
        "set metrics.ramanujan_variant: mge to compare them",
        variant,
    )
written = run_all(table, outdir, dict(snakemake.params.options))
log.info(
    "analysis of the table's %d networks (before analysis.pruners) written: %s",
    len(table),
    {k: len(v) for k, v in written.items()},
)
