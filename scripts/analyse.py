"""Snakemake entry point: every analysis of the tidy table (tables and figures) in one pass."""

from pathlib import Path

import pandas as pd

from snntopo.analysis import run_all
from snntopo.utils import job_logger

log = job_logger(f"snntopo.{snakemake.rule}", snakemake.log[0] if snakemake.log else None)
table = pd.read_parquet(snakemake.input.table)
table = table[table.pruner != "dense"]  # the dense baselines are the reference of the drop, not samples
outdir = Path(snakemake.output.tables[0]).parent.parent  # <analysis>/tables/x.csv → <analysis>
written = run_all(table, outdir, dict(snakemake.params.options))
log.info("analysis of %d networks: %s", len(table), {k: len(v) for k, v in written.items()})
