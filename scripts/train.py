"""Snakemake entry point: train one sweep point under its mask, resuming from its checkpoint if any."""

from pathlib import Path

from snntopo.data import load_dataset
from snntopo.models import load_init
from snntopo.pruning import load_masks, start_from_mask
from snntopo.training import recipe_for, train
from snntopo.utils import job_logger

log = job_logger(f"snntopo.{snakemake.rule}", snakemake.log[0] if snakemake.log else None)
wc, params = snakemake.wildcards, snakemake.params
model, _ = load_init(snakemake.input.init)
masks = load_masks(snakemake.input.mask, model)
start_from_mask(model, snakemake.input.mask)  # a warmed-up start stored with the mask, if any
bundle = load_dataset(wc.dataset, root=params.root, download=params.download, **params.dataset_options)
recipe = recipe_for(wc.dataset, wc.model, params.recipe)
metrics = train(model, masks, bundle, recipe, Path(snakemake.output.metrics).parent, seed=int(wc.seed),
                device=params.device)  # fmt: skip
log.info("final accuracy %.4f (best %.4f)", metrics["final_accuracy"], metrics["best_accuracy"])
