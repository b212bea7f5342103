"""Snakemake entry point: the drop's between- / within-configuration (seed) variance ratio per model."""

import pandas as pd

from snntopo.analysis.effect import effect_table
from snntopo.utils import job_logger

log = job_logger(f"snntopo.{snakemake.rule}", snakemake.log[0] if snakemake.log else None)
table = pd.read_parquet(snakemake.input.table)
table = table[table.pruner != "dense"]  # the dense baselines are the reference of the drop, not samples
effect = effect_table(table, drop=snakemake.params.drop, dense_reference=snakemake.params.dense_reference)
effect.to_csv(snakemake.output[0], index=False)
for row in effect.itertuples():
    log.info(
        "%s/%s %s: between/within variance of the drop %.3g", row.dataset, row.model, row.scope, row.ratio
    )
