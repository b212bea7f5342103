"""Snakemake entry point: prune the shared initialisation of a sweep point and save its mask."""

from snntopo.data import load_dataset
from snntopo.models import load_init
from snntopo.pruning import prune_and_summarize, save_masks
from snntopo.utils import job_logger

log = job_logger(f"snntopo.{snakemake.rule}", snakemake.log[0] if snakemake.log else None)
wc, params = snakemake.wildcards, snakemake.params
model, _ = load_init(snakemake.input.init)
bundle = load_dataset(wc.dataset, root=params.root, download=params.download, **params.dataset_options)
# params.pruner: the point's pruner, or the initial-mask pruner (ERK) of a DST point.
masks, summary = prune_and_summarize(
    params.pruner, model, float(wc.sparsity), bundle.train, seed=int(wc.seed), **params.options
)
save_masks(snakemake.output.mask, masks, summary)
log.info("%s at %s: achieved sparsity %.6f", params.pruner, wc.sparsity, summary["global"]["sparsity"])
