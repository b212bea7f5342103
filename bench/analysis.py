"""Benchmark of the analysis stage on a synthetic tidy table; prints one JSON object.

The table has ``--networks`` rows (default 2,520: 4 models × 3 datasets × 7 pruners × 5 sparsities × 6
seeds) with the column families of a real sweep: the 16 MGE topometrics, 10 BGE topometrics per layer
for rolled and rolled-channel encodings, three Ramanujan quantities and the density per layer (6
layers), and Ramanujan network means. The full analysis runs on it: every default feature set, both
grouping protocols, every CV scheme (config, network; pruner for the ranking protocol), two learner
families (XGBoost and a random forest, plus the cheap linear model), importances, rankings with the
hierarchical bootstrap, claims, report tables and figures. Wall time per stage, the load average
before and after, and the core count are printed, so a loaded machine can be recognised.

    python bench/analysis.py                 # the acceptance run (target: <= 600 s on 2 cores)
    python bench/analysis.py --networks 600  # quick look
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from snntopo.analysis import (
    AnalysisConfig,
    run_claims,
    run_importance,
    run_ranking,
    run_regression,
    write_tables,
)
from snntopo.analysis.report_tables import write_html_tables
from snntopo.analysis.synthetic import make_synthetic_table
from snntopo.topometric_names import MGE_METRICS

TARGET_SECONDS = 600.0
BGE_METRICS = MGE_METRICS[:10]


def bench_table(networks: int, layers: int = 6, seed: int = 0):
    """A synthetic table of about ``networks`` rows with every feature family of a real sweep."""
    seeds = max(1, round(networks / (4 * 3 * 7 * 5)))
    t = make_synthetic_table(models=("conv6", "resnet20", "resnet32", "wrn"),
                             datasets=("cifar10", "cifar100", "tiny"), n_pruners=7,
                             sparsities=(0.5, 0.8, 0.9, 0.95, 0.98), seeds=tuple(range(seeds)),
                             noise=0.02, n_layers=layers, seed=seed)  # fmt: skip
    rng = np.random.default_rng(seed)
    n = len(t)
    signal = t["mge:spectral_gap"].to_numpy()
    cols = {}
    for k, m in enumerate(MGE_METRICS):
        if f"mge:{m}" not in t:
            cols[f"mge:{m}"] = signal * rng.uniform(0, 1) + rng.normal(0, 0.3 + 0.05 * k, n)
    for fam in ("rolled", "rolled_channel"):
        for layer in range(layers):
            for m in BGE_METRICS:
                cols[f"{fam}:L{layer:02d}:{m}"] = 0.3 * signal + rng.normal(size=n)
    for layer in range(layers):
        for m in ("delta_r_norm", "imdb", "iter_spectral_gap"):
            cols[f"ramanujan:L{layer:02d}:{m}"] = rng.normal(size=n)
    t = t.drop(columns=[c for c in t if c.startswith("rolled:")])
    cols["mask_checksum"] = [f"m{i}" for i in range(n)]
    return pd.concat([t, pd.DataFrame(cols, index=t.index)], axis=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--networks", type=int, default=2520)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument(
        "--out", type=Path, default=None, help="keep tables and figures here (default: a temp dir)"
    )
    args = ap.parse_args()
    load_before = os.getloadavg()
    table = bench_table(args.networks)
    cfg = AnalysisConfig.from_dict({
        "estimators": ["linear", "gbt"],
        "headline_estimators": ["gbt", "rf"],
        "n_jobs": args.n_jobs,
        "bootstrap": args.bootstrap,
    })  # fmt: skip
    stages: dict[str, float] = {}
    out = args.out or Path(tempfile.mkdtemp(prefix="bench_analysis_"))

    def timed(name, fn, *a, **k):
        t0 = time.perf_counter()
        result = fn(*a, **k)
        stages[name] = round(time.perf_counter() - t0, 2)
        print(f"[bench] {name}: {stages[name]} s", file=sys.stderr, flush=True)
        return result

    reg = timed("regression", run_regression, table, cfg)
    imp = timed("importance", run_importance, table, cfg, regression=reg)
    rank = timed("ranking", run_ranking, table, cfg, predictions=reg["predictions"])
    claims = timed("claims", run_claims, {**reg, **rank}, cfg)
    everything = {**reg, **imp, **rank, **claims}
    timed("tables", write_tables, everything, out / "tables")
    timed("report_tables", write_html_tables, {k: everything[k] for k in ("claims", "headline_r2")}, out)

    from snntopo.plots.figures import make_figures

    timed("figures", make_figures, table, everything, out / "figures", cfg)
    total = round(sum(stages.values()), 2)
    fits = reg["regression"].query("status == 'ok' and kind == 'features'")
    print(json.dumps({
        "networks": len(table),
        "feature_sets": list(cfg.feature_sets),
        "protocols": list(cfg.protocols),
        "cv": sorted(reg["regression"]["cv"].unique()),
        "learners": sorted(fits["estimator"].unique()),
        "cross_validations": len(fits),
        "seconds_per_stage": stages,
        "total_seconds": total,
        "target_seconds": TARGET_SECONDS,
        "within_target": total <= TARGET_SECONDS,
        "n_jobs": args.n_jobs,
        "cpu_count": os.cpu_count(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
