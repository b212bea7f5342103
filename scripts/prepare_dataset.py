"""Snakemake entry point: load one dataset and write its summary JSON."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import setup_logging  # noqa: E402

from snntopo.data import load_dataset  # noqa: E402
from snntopo.utils import write_json  # noqa: E402

log = setup_logging(snakemake)
bundle = load_dataset(
    snakemake.wildcards.dataset,
    root=snakemake.params.root,
    download=snakemake.params.download,
    **snakemake.params.options,
)
info = bundle.info()
log.info("%s: %s", snakemake.wildcards.dataset, info)
write_json(snakemake.output[0], info)
