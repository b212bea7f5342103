"""Snakemake entry point: train one sweep point under its mask, resuming from its checkpoint if any."""

from pathlib import Path

from snntopo.data import load_dataset
from snntopo.models import load_init
from snntopo.pruning import load_masks, load_start_state
from snntopo.training import recipe_for, train
from snntopo.utils import job_logger

log = job_logger(f"snntopo.{snakemake.rule}", snakemake.log[0] if snakemake.log else None)
wc, params = snakemake.wildcards, snakemake.params
model, _ = load_init(snakemake.input.init)
masks = load_masks(snakemake.input.mask, model)
start_state = load_start_state(snakemake.input.mask)  # a warmed-up start stored with the mask, if any
if start_state is not None:
    model.load_state_dict(start_state)
bundle = load_dataset(wc.dataset, root=params.root, download=params.download, **params.dataset_options)
recipe = recipe_for(wc.dataset, wc.model, params.recipe)
metrics = train(model, masks, bundle, recipe, Path(snakemake.output.metrics).parent, seed=int(wc.seed),
                device=params.device)  # fmt: skip
log.info("final accuracy %.4f (best %.4f)", metrics["final_accuracy"], metrics["best_accuracy"])
