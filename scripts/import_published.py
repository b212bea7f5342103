"""Snakemake entry point: read the MGE study's published metric tables into the tidy table."""

from snntopo.analysis import load_published_tables
from snntopo.analysis.collect import order_columns, write_table
from snntopo.utils import job_logger

log = job_logger(f"snntopo.{snakemake.rule}", snakemake.log[0] if snakemake.log else None)
table = load_published_tables(snakemake.input[0])
log.info("published tables: %d networks; %s", len(table), table.attrs.get("published", {}))
table.attrs = {}  # pandas attrs do not survive Parquet reliably; the counts are in the log
write_table(order_columns(table), snakemake.output.parquet, snakemake.output.csv)
