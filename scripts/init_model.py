"""Snakemake entry point: seeded initialisation of one model for one dataset's input shape."""

import json
from pathlib import Path

from snntopo.models import count_parameters, save_init
from snntopo.utils import job_logger

log = job_logger(f"snntopo.{snakemake.rule}", snakemake.log[0] if snakemake.log else None)
info = json.loads(Path(snakemake.input.dataset).read_text())
wc = snakemake.wildcards
model = save_init(snakemake.output[0], wc.model, info["input_shape"], info["num_classes"], int(wc.seed))
log.info("%s seed %s: %d parameters", wc.model, wc.seed, count_parameters(model))
