"""Snakemake entry point: prune the shared initialisation of a sweep point and save its mask."""

from snntopo.data import load_dataset
from snntopo.models import load_init
from snntopo.pruning import prune_for_training, save_masks
from snntopo.utils import job_logger

log = job_logger(f"snntopo.{snakemake.rule}", snakemake.log[0] if snakemake.log else None)
wc, params = snakemake.wildcards, snakemake.params
model, _ = load_init(snakemake.input.init)
bundle = load_dataset(wc.dataset, root=params.root, download=params.download, **params.dataset_options)
# params.pruner: the point's pruner, or the initial-mask pruner (ERK) of a DST point.
# start_state: the weights the mask was chosen on when the pruner changed them (fullspectrum's warm-up);
# it is stored with the mask and training starts from it.
masks, summary, start_state = prune_for_training(
    params.pruner, model, float(wc.sparsity), bundle.train, seed=int(wc.seed), **params.options
)
save_masks(snakemake.output.mask, masks, summary, start_state)
log.info("%s at %s: achieved sparsity %.6f", params.pruner, wc.sparsity, summary["global"]["sparsity"])
