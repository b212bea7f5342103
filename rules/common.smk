"""Shared helpers for the rules: sweep enumeration and path patterns."""

from pathlib import Path

RESULTS = Path(config.get("results_dir", "results"))


wildcard_constraints:
    dataset=r"[a-z0-9_]+",
    model=r"[a-z0-9_]+",
    seed=r"\d+",


def dataset_options(wildcards):
    return config["datasets"][wildcards.dataset]


def init_targets():
    return expand(
        RESULTS / "{dataset}/{model}/seed{seed}/init.pt",
        dataset=list(config["datasets"]),
        model=config["models"],
        seed=config["seeds"],
    )
