"""Snakemake entry point: load one dataset and write its summary JSON."""

from snntopo.data import load_dataset
from snntopo.utils import job_logger, write_json

log = job_logger(f"snntopo.{snakemake.rule}", snakemake.log[0] if snakemake.log else None)
bundle = load_dataset(
    snakemake.wildcards.dataset,
    root=snakemake.params.root,
    download=snakemake.params.download,
    **snakemake.params.options,
)
info = bundle.info()
log.info("%s: %s", snakemake.wildcards.dataset, info)
write_json(snakemake.output[0], info)
