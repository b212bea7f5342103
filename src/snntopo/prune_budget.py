"""Memory request of a prune job, from measured peaks; shared by the Snakemake rule and its tests.

Kept free of torch: ``rules/prune.smk`` calls :func:`prune_mem_mb` in the main Snakemake process for every
prune job. The numbers come from ``bench/pruning.py`` (CPU, 1 torch thread, 32×32 inputs, default options =
the reference's BatchNorm batches: GraSP 25 samples per class in two halves, ProsPr 3 + 1 batches of 512),
measured 2 December 2026 on a shared 2-vCPU machine, load average ~11 (peak RSS of a fresh process, MiB):

=====================  =======  ===============================================================
model / pruner         peak     note
=====================  =======  ===============================================================
resnet20 grasp C=10     1,299   +749 over the 550 MiB baseline (interpreter, torch, model, data)
resnet20 grasp C=100    5,405   +4,844: GraSP grows by (4,844 − 749) / 90 = 45.5 MiB per class
resnet20 prospr C=10    3,316   +2,766
wrn28_2 grasp C=10      2,430   +1,868: 2.49× ResNet-20's growth, ≈113 MiB per class (extrapolated)
wrn28_2 prospr C=10     5,261   +4,699, 372 s (ResNet-20: 94 s; GraSP: 12 s ResNet-20, 51 s WRN-28-2)
=====================  =======  ===============================================================

Other models (conv6, resnet32) get the larger WRN-28-2 figures; other pruners stay at the floor (their
peaks are far below it: one batch, no second-order term). Request = 1.25 × the peak, rounded up to 500 MiB.
"""

from __future__ import annotations

import math

#: Measured peak RSS (MiB) of a prune job on 10 classes, per (model, pruner).
PRUNE_PEAK_MB: dict[tuple[str, str], float] = {
    ("resnet20", "grasp"): 1299,
    ("resnet20", "prospr"): 3316,
    ("wrn28_2", "grasp"): 2430,
    ("wrn28_2", "prospr"): 5261,
}
#: Growth of GraSP's peak per class beyond 10 (its sample has 25 images of every class).
GRASP_MB_PER_CLASS: dict[str, float] = {"resnet20": 45.5, "wrn28_2": 113.4}
#: Classes of the datasets whose GraSP sample is larger than CIFAR-10's.
DATASET_CLASSES: dict[str, int] = {"cifar100": 100, "tinyimagenet": 200}
#: The model whose figures stand in for models that were not measured (the larger one).
FALLBACK_MODEL = "wrn28_2"
FLOOR_MB = 4000


def prune_mem_mb(pruner: str, model: str, dataset: str) -> int:
    """Memory request (MiB) of pruning ``model`` on ``dataset`` with ``pruner`` (the pruner that scores:
    a sampling pruner's base)."""
    measured = {m: mb for (m, p), mb in PRUNE_PEAK_MB.items() if p == pruner}
    if not measured:
        return FLOOR_MB
    model = model if model in measured else FALLBACK_MODEL
    peak = measured[model]
    if pruner == "grasp":
        extra_classes = max(0, DATASET_CLASSES.get(dataset, 10) - 10)
        peak += GRASP_MB_PER_CLASS.get(model, GRASP_MB_PER_CLASS[FALLBACK_MODEL]) * extra_classes
    return max(FLOOR_MB, 500 * math.ceil(1.25 * peak / 500))
