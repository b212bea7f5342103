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
    """Every (dataset, model, seed, pruner, sparsity) to train, the dense baseline (dense, 0) included.

    A pruner runs at its own `sparsities` option if it has one, else at the global list; each DST
    algorithm of the `dst` section is a point of its own, its name in the pruner segment.
    """
    settings = [
        (p, sparsity_label(s))
        for p, options in config["pruners"].items()
        if p != "dense"
        for s in options.get("sparsities", config["sparsities"])
    ]
    dst = config["dst"]
    settings += [
        (algorithm, sparsity_label(s))
        for algorithm in dst.get("algorithms", {})
        for s in dst.get("sparsities", config["sparsities"])
    ]
    settings.append(("dense", "0"))
    return [
        dict(dataset=d, model=m, seed=seed, pruner=p, sparsity=s)
        for d in config["datasets"]
        for m in config["models"]
        for seed in config["seeds"]
        for p, s in settings
    ]


def point_paths(*parts, points=None):
    """One path per sweep point (or per point of `points`): RESULTS / POINT / parts..., wildcards filled in."""
    pattern = str(Path(POINT, *parts))
    return [
        str(RESULTS / pattern.format(**point))
        for point in (sweep_points() if points is None else points)
    ]


def dataset_options(wildcards):
    return config["datasets"][wildcards.dataset]


def is_dst(pruner):
    """Whether a point's pruner segment names a DST algorithm of the `dst` section."""
    return pruner in config["dst"].get("algorithms", {})


def pruner_name(wildcards):
    """The pruner that makes a point's mask: the DST section's init_pruner for a DST point."""
    if is_dst(wildcards.pruner):
        return config["dst"].get("init_pruner", "erk")
    return wildcards.pruner


def pruner_options(wildcards):
    options = config["pruners"].get(pruner_name(wildcards), {})
    return {k: v for k, v in options.items() if k != "sparsities"}


def training_overrides(wildcards):
    """Recipe overrides of a point: `training`, plus mode dst and the algorithm's options at DST points."""
    overrides = dict(config["training"])
    if is_dst(wildcards.pruner):
        options = config["dst"]["algorithms"][wildcards.pruner]
        dst = {**overrides.get("dst", {}), **options, "algorithm": wildcards.pruner}
        overrides.update(mode="dst", dst=dst)
    elif overrides.get("mode", "pai") != "dst":
        overrides.pop("dst", None)  # shared DST options apply to DST points only
    return overrides


def mask_for_metrics(wildcards):
    """The mask later stages should read: the evolved final mask at DST points, else the pruned one."""
    if is_dst(wildcards.pruner) or config["training"].get("mode") == "dst":
        return RESULTS / POINT.format(**dict(wildcards.items())) / "train/final_mask.pt"
    return RESULTS / POINT.format(**dict(wildcards.items())) / "mask.pt"


def init_targets():
    return expand(
        RESULTS / "{dataset}/{model}/seed{seed}/init.pt",
        dataset=list(config["datasets"]),
        model=config["models"],
        seed=config["seeds"],
    )


# Which encoding job computes which metric family (a torch-free module: every SLURM job parses this file).
from snntopo.measure_plan import encodings_for, families_for


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
# The bipartite encodings are one encoding family: one job per network computes all of them, because
# each job's fixed cost (Python, torch and graph-tool imports: ~4 s on one core) exceeds its work.
BGE_ENCODINGS = [e for e in measured_encodings() if e != "mge"]

# The masked initialisation by default; the trained weights too when metrics.weights is 'trained'.
# Static patterns, not an input function: the paper grid has ~4,000 measure jobs and functions cost.
MEASURE_INPUTS = {
    "init": RESULTS / "{dataset}/{model}/seed{seed}/init.pt",
    "mask": RESULTS / POINT / "mask.pt",
    # the pruned mask file also holds the weights training started from (fullspectrum's warm-up), also
    # at DST points, whose "mask" input below becomes the evolved final mask
    "start": RESULTS / POINT / "mask.pt",
}
if config["metrics"]["weights"] == "trained":
    MEASURE_INPUTS["trained"] = RESULTS / POINT / "train/model.pt"
# DST points are measured on the mask in force at the end of training (train/final_mask.pt); the input
# function is used only when the sweep has DST points, so that a PaI-only grid keeps static patterns.
if config["dst"].get("algorithms") or config["training"].get("mode") == "dst":
    MEASURE_INPUTS["mask"] = mask_for_metrics


# Analysis: on this sweep's table, or on the MGE study's published tables (external_tables).
from snntopo.analysis import expected_outputs

from snntopo.analysis.published import discover as discover_published

EXTERNAL_TABLES = config.get("external_tables")
if EXTERNAL_TABLES:
    # a missing directory, or one without a published table, fails before anything is scheduled
    discover_published(EXTERNAL_TABLES)
# The published-tables route writes only under results/external/ (table, analysis, logs, benchmarks,
# report): it shares no path with the sweep's, so neither route overwrites the other's results.
ROUTE_DIR = RESULTS / "external" if EXTERNAL_TABLES else RESULTS
ANALYSIS_INPUT = ROUTE_DIR / "table.parquet"
ANALYSIS_DIR = ROUTE_DIR / "analysis"
_expected = expected_outputs(ANALYSIS_DIR)
ANALYSIS_TABLES = [
    str(p)
    for stage in ("regression", "importance", "ranking", "claims")
    for p in _expected[stage]
]
ANALYSIS_FIGURES_PNG = [str(p) for p in _expected["figures"] if p.suffix == ".png"]
ANALYSIS_FIGURES_PDF = [str(p) for p in _expected["figures"] if p.suffix == ".pdf"]
ANALYSIS_REPORT_TABLES = [str(p) for p in _expected["report"]]


# DST topology over training (rules/dst.smk): one job per DST point, one table and figure for the sweep.
def dst_points():
    """The sweep points whose pruner segment names a DST algorithm (their training evolves the mask)."""
    return [p for p in sweep_points() if is_dst(p["pruner"])]


# Beside the analysis figures of this sweep's table (not of published tables: they have no snapshots).
DST_FIGURE = RESULTS / "analysis/figures/dst_topology"
DST_TARGETS = (
    [
        str(RESULTS / "dst/topology.csv"),
        str(DST_FIGURE.with_suffix(".png")),
        str(DST_FIGURE.with_suffix(".pdf")),
    ]
    if dst_points() and not EXTERNAL_TABLES
    else []
)


# Memory of one prune job: the measured peak of the pruner that scores (snntopo.prune_budget, torch-free).
from snntopo.prune_budget import prune_mem_mb as measured_prune_mem_mb


def prune_mem_mb(wildcards):
    """Memory request (MiB) of a prune job; full-spectrum samples run one after another: its base's peak."""
    pruner = pruner_name(wildcards)
    if pruner == "fullspectrum":
        pruner = config["pruners"].get("fullspectrum", {}).get("base", "snip")
    return measured_prune_mem_mb(pruner, wildcards.model, wildcards.dataset)
