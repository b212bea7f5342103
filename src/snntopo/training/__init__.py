"""Masked (PaI), dynamic sparse (DST) and dense training with the MGE study's recipes; resumable.

``train(model, masks, bundle, recipe, out_dir, seed=...)`` is the entry point; ``recipe_for(dataset,
model, overrides)`` gives the recipe (``mode: dst`` plus ``dst`` options for dynamic sparse training, see
:mod:`snntopo.training.dst`). See :mod:`snntopo.training.loop` for the output files.
"""

from snntopo.training.checkpoint import load_checkpoint, save_checkpoint
from snntopo.training.dst import (
    DST_ALGORITHMS,
    DST_LOG,
    DST_LOG_COLUMNS,
    DST_PRESETS,
    FINAL_MASK,
    SNAPSHOT_DIR,
    DSTConfig,
    DSTUpdater,
    dst_config,
    load_mask_snapshot,
    load_mask_snapshots,
    save_mask_snapshot,
)
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
from snntopo.training.recipes import RECIPES, Recipe, field_names, recipe_for

__all__ = [
    "CHECKPOINT",
    "DST_ALGORITHMS",
    "DST_LOG",
    "DST_LOG_COLUMNS",
    "DST_PRESETS",
    "FINAL_MASK",
    "LOG",
    "LOG_COLUMNS",
    "METRICS",
    "MODEL",
    "RECIPES",
    "SCHEDULERS",
    "SNAPSHOT_DIR",
    "DSTConfig",
    "DSTUpdater",
    "MaskApplier",
    "Recipe",
    "TrainStep",
    "dst_config",
    "evaluate",
    "field_names",
    "load_checkpoint",
    "load_mask_snapshot",
    "load_mask_snapshots",
    "masks_checksum",
    "recipe_for",
    "resolve_device",
    "run_fingerprint",
    "save_checkpoint",
    "save_mask_snapshot",
    "train",
    "zero_fraction",
]
