"""Pruning at initialisation: a registry of pruners, one front door, and the mask format.

``prune(name, model, sparsity, data=None, seed=0, **options) -> Masks``; ``PRUNERS.names()`` lists the
pruners (dense, uniform, random, er, erk, magnitude, snip, iter_snip, grasp, synflow, prospr). Importing
this package registers them all.
"""

from snntopo.pruning import random, saliency  # noqa: F401  (registration)
from snntopo.pruning.batches import sample_batches
from snntopo.pruning.masks import (
    MASK_FORMAT_VERSION,
    Masks,
    apply_masks,
    check_masks,
    collapsed_layers,
    global_topk_masks,
    keep_count,
    load_mask_summary,
    load_masks,
    save_masks,
    summarize,
)
from snntopo.pruning.random import apportion, erdos_renyi_densities
from snntopo.pruning.registry import PRUNERS, prune, prune_and_summarize, pruner_options, register_pruner
from snntopo.pruning.saliency import grasp_scores, prospr_scores, snip_scores, synflow_scores

__all__ = [
    "MASK_FORMAT_VERSION",
    "PRUNERS",
    "Masks",
    "apply_masks",
    "apportion",
    "check_masks",
    "collapsed_layers",
    "erdos_renyi_densities",
    "global_topk_masks",
    "grasp_scores",
    "keep_count",
    "load_mask_summary",
    "load_masks",
    "prospr_scores",
    "prune",
    "prune_and_summarize",
    "pruner_options",
    "register_pruner",
    "sample_batches",
    "save_masks",
    "snip_scores",
    "summarize",
    "synflow_scores",
]
