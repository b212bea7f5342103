"""Masked (PaI) and dense training with the MGE study's recipes; resumable, reproducible, checkpointed.

``train(model, masks, bundle, recipe, out_dir, seed=...)`` is the entry point; ``recipe_for(dataset,
model, overrides)`` gives the recipe. See :mod:`snntopo.training.loop` for the output files.
"""

from snntopo.training.checkpoint import load_checkpoint, save_checkpoint
from snntopo.training.loop import (
    CHECKPOINT,
    LOG,
    LOG_COLUMNS,
    METRICS,
    MODEL,
    SCHEDULERS,
    TrainStep,
    evaluate,
    resolve_device,
    run_fingerprint,
    train,
)
from snntopo.training.masking import MaskApplier, masks_checksum, zero_fraction
from snntopo.training.recipes import RECIPES, Recipe, recipe_for

__all__ = [
    "CHECKPOINT",
    "LOG",
    "LOG_COLUMNS",
    "METRICS",
    "MODEL",
    "RECIPES",
    "SCHEDULERS",
    "MaskApplier",
    "Recipe",
    "TrainStep",
    "evaluate",
    "load_checkpoint",
    "masks_checksum",
    "recipe_for",
    "resolve_device",
    "run_fingerprint",
    "save_checkpoint",
    "train",
    "zero_fraction",
]
