"""Snakemake entry point: the metrics of every mask snapshot of one DST point's training."""

from pathlib import Path

from snntopo.metrics.evolution import topology_over_training
from snntopo.models import load_init
from snntopo.pruning import start_from_mask
from snntopo.training import SNAPSHOT_DIR, load_mask_snapshots
from snntopo.utils import atomic_path, job_logger

log = job_logger(f"snntopo.{snakemake.rule}", snakemake.log[0] if snakemake.log else None)
params, inputs = snakemake.params, snakemake.input
model, init = load_init(inputs.init)
start_from_mask(model, inputs.start)  # snapshots are measured on the weights training started from
# The train job writes the snapshots beside final_mask.pt (see rules/dst.smk).
snapshots = load_mask_snapshots(Path(inputs.final_mask).parent / SNAPSHOT_DIR)
if not snapshots:
    raise FileNotFoundError(
        f"no mask snapshots beside {inputs.final_mask}: was it trained with DST snapshots?"
    )
table = topology_over_training(
    model, snapshots, init["input_shape"], families=params.families, options=params.options,
    seed=int(snakemake.wildcards.seed), every=int(params.every),
)  # fmt: skip
with atomic_path(snakemake.output[0]) as tmp:
    table.to_csv(tmp, index=False)
log.info(
    "%d snapshots (steps %d..%d), %d rows", len(snapshots), snapshots[0][0], snapshots[-1][0], len(table)
)
