"""Pruning at initialisation: a registry of pruners, one front door, and the mask format.

``prune(name, model, sparsity, data=None, seed=0, **options) -> Masks``; ``PRUNERS.names()`` lists the
pruners (dense, uniform, random, er, erk, magnitude, snip, iter_snip, grasp, synflow, prospr, and the
full-spectrum mask sampling ``fullspectrum`` around any of them). Importing this package registers them all.
"""

from snntopo.pruning import fullspectrum, random, saliency  # noqa: F401  (registration)
from snntopo.pruning.batches import sample_batches
from snntopo.pruning.fullspectrum import (
    ACCEPTANCE,
    correct_density,
    fullspectrum_search,
    score_layers,
    search_table,
)
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
    load_start_state,
    save_masks,
    start_from_mask,
    summarize,
)
from snntopo.pruning.random import apportion, erdos_renyi_densities
from snntopo.pruning.registry import (
    PRUNERS,
    PrunerOutput,
    prune,
    prune_and_summarize,
    prune_for_training,
    pruner_options,
    pruner_seed,
    register_pruner,
)
from snntopo.pruning.saliency import grasp_scores, prospr_scores, snip_scores, synflow_scores

__all__ = [
    "ACCEPTANCE",
    "MASK_FORMAT_VERSION",
    "PRUNERS",
    "Masks",
    "PrunerOutput",
    "apply_masks",
    "apportion",
    "check_masks",
    "collapsed_layers",
    "correct_density",
    "erdos_renyi_densities",
    "fullspectrum_search",
    "global_topk_masks",
    "grasp_scores",
    "keep_count",
    "load_mask_summary",
    "load_masks",
    "load_start_state",
    "prospr_scores",
    "prune",
    "prune_and_summarize",
    "prune_for_training",
    "pruner_options",
    "pruner_seed",
    "register_pruner",
    "sample_batches",
    "save_masks",
    "score_layers",
    "search_table",
    "snip_scores",
    "start_from_mask",
    "summarize",
    "synflow_scores",
]
