"""Shared helpers for the rules: sweep enumeration, path patterns and per-rule parameters."""

from pathlib import Path

RESULTS = Path(config["results_dir"])
POINT = "{dataset}/{model}/seed{seed}/{pruner}/s{sparsity}"
USE_GPU = config["device"] == "cuda"


wildcard_constraints:
    dataset=r"[a-z0-9_]+",
    model=r"[a-z0-9_]+",
    seed=r"\d+",
    pruner=r"[a-z0-9_]+",
    sparsity=r"0(\.\d+)?",
    family=r"[a-z_]+",


def sparsity_label(sparsity):
    """0.6 → '0.6', 0 → '0': the path form of a sparsity, stable across YAML spellings (0.60, .6)."""
    return f"{float(sparsity):g}"


def sweep_points():
    """Every (dataset, model, seed, pruner, sparsity) to train, the dense baseline (dense, 0) included."""
    settings = [
        (p, sparsity_label(s))
        for p in config["pruners"]
        if p != "dense"
        for s in config["sparsities"]
    ]
    settings.append(("dense", "0"))
    return [
        dict(dataset=d, model=m, seed=seed, pruner=p, sparsity=s)
        for d in config["datasets"]
        for m in config["models"]
        for seed in config["seeds"]
        for p, s in settings
    ]


def point_paths(*parts):
    """One path per sweep point: RESULTS / POINT / parts..., with the point's wildcards filled in."""
    pattern = str(Path(POINT, *parts))
    return [str(RESULTS / pattern.format(**point)) for point in sweep_points()]


def dataset_options(wildcards):
    return config["datasets"][wildcards.dataset]


def pruner_options(wildcards):
    return config["pruners"].get(wildcards.pruner, {})


def init_targets():
    return expand(
        RESULTS / "{dataset}/{model}/seed{seed}/init.pt",
        dataset=list(config["datasets"]),
        model=config["models"],
        seed=config["seeds"],
    )


# Which encoding job computes which metric family (snntopo.metrics.measure.ENCODING_OF_FAMILY).
from snntopo.metrics.measure import encodings_for, families_for


def measured_encodings():
    return encodings_for(config["metrics"]["families"])


def families_of(encoding):
    return families_for(encoding, config["metrics"]["families"])


def metric_targets():
    return [
        path
        for enc in measured_encodings()
        for path in point_paths("metrics", f"{enc}.json")
    ]


FAMILIES_BY_ENCODING = {e: families_of(e) for e in ("mge", "rolled", "rolled_channel")}

# The masked initialisation by default; the trained weights too when metrics.weights is 'trained'.
# Static patterns, not an input function: the paper grid has ~4,000 measure jobs and functions cost.
MEASURE_INPUTS = {
    "init": RESULTS / "{dataset}/{model}/seed{seed}/init.pt",
    "mask": RESULTS / POINT / "mask.pt",
}
if config["metrics"]["weights"] == "trained":
    MEASURE_INPUTS["trained"] = RESULTS / POINT / "train/model.pt"


# Analysis: on this sweep's table, or on the MGE study's published tables (external_tables).
from snntopo.analysis import expected_outputs

EXTERNAL_TABLES = config.get("external_tables")
ANALYSIS_INPUT = RESULTS / (
    "external/table.parquet" if EXTERNAL_TABLES else "table.parquet"
)
ANALYSIS_DIR = RESULTS / ("external/analysis" if EXTERNAL_TABLES else "analysis")
_expected = expected_outputs(ANALYSIS_DIR)
ANALYSIS_TABLES = [
    str(p)
    for stage in ("regression", "importance", "ranking")
    for p in _expected[stage]
]
ANALYSIS_FIGURES_PNG = [str(p) for p in _expected["figures"] if p.suffix == ".png"]
ANALYSIS_FIGURES_PDF = [str(p) for p in _expected["figures"] if p.suffix == ".pdf"]
