"""Benchmark of the metrics stage; prints one JSON object.

Builds (vectorised, no model needed) a random MGE shaped like CONV-6 at 32×32 (partition sizes of
docs/method/encodings.md, unrolled 3×3 convs, 2×2 max-pool replication; one uniform layer density chosen so
that the
expected edge count is ``--edges``), then runs every MGE topometric on it and reports, per step, the wall
time and the peak RSS (the kernel's high-water mark is reset before each step), the totals, edges/s, and
the 4-node motif estimate's mean and standard error over ``--motif-seeds`` seeds. It also times the
per-layer families (Ramanujan variants, full-spectrum coordinate, BGE topometrics, density) on the 22
layers of a ResNet-20 with random masks.

    python bench/metrics.py                      # ~1.3 M edges (ResNet-20 ERK 98 % size), ~1 min
    python bench/metrics.py --edges 31000000     # CONV-6 SNIP 98 % size; several minutes, ~3 GB
    python bench/metrics.py --edges 96000000     # every weight at 60 % sparsity (~10^8 edges)
    python bench/metrics.py --resnet 0.98 0.9 0.6 --baseline-src /tmp/metrics-baseline/src
        # real ResNet-20 ERK MGEs (CIFAR shape): build + metrics per sparsity, each in a fresh process,
        # this checkout and (optionally) an older src/ tree on the same masks: ratios, value agreement
    python bench/metrics.py --released --baseline-src /tmp/metrics-baseline/src
        # CONV-6 at 98 % (random masks), clean vs released mode, both codes
    python bench/metrics.py --motif-exact        # ResNet-20 ERK 98 %: 20 seeds vs the exact motif count

The baseline tree is any checkout's src/, e.g. ``git archive e29f597 src | tar -x -C /tmp/metrics-baseline``.

Reference (published igraph implementation, docs/method/metrics.md, same kind of machine): 1.3 M edges 5.1 s;
31 M edges 434 s and 13.6 GB peak; lower sparsities do not fit in 24 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

# a worker process of --resnet/--released imports the library from the tree it was given
sys.path.insert(0, os.environ.get("SNNTOPO_BENCH_SRC") or str(Path(__file__).resolve().parents[1] / "src"))

from snntopo.metrics import compute, layer_coordinate
from snntopo.metrics._profile import current_rss_bytes, peak_rss_bytes, reset_peak_rss
from snntopo.metrics.layers import LayerSpec
from snntopo.metrics.synthetic import conv6_layers, conv_mge, dense_edge_counts, density_for_edges
from snntopo.metrics.topometrics import GraphArrays, mge_topometrics, motif_estimate

GB = 2**30
SRC = Path(sys.path[0])
REFERENCE = {
    "published_1.3M_edges_seconds": 5.1,
    "published_31M_edges_seconds": 434.0,
    "published_31M_edges_peak_gb": 13.6,
    "target_31M_edges_seconds": 45.0,
    "target_31M_edges_peak_gb": 4.0,
}


def resnet20_shapes() -> list[tuple[str, tuple[int, ...]]]:
    """Conv/linear weight shapes of the CIFAR ResNet-20 (option-B shortcuts), module order."""
    shapes = [("conv1.weight", (16, 3, 3, 3))]
    c_in = 16
    for stage, width in enumerate((16, 32, 64), start=1):
        for block in range(3):
            shapes.append((f"layer{stage}.{block}.conv1.weight", (width, c_in, 3, 3)))
            shapes.append((f"layer{stage}.{block}.conv2.weight", (width, width, 3, 3)))
            if c_in != width:
                shapes.append((f"layer{stage}.{block}.shortcut.0.weight", (width, c_in, 1, 1)))
            c_in = width
    shapes.append(("linear.weight", (10, 64)))
    return shapes


def random_layers(density: float, seed: int) -> list[LayerSpec]:
    rng = np.random.default_rng(seed)
    layers = []
    for name, shape in resnet20_shapes():
        fan_in = int(np.prod(shape[1:]))
        w = rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)
        layers.append(LayerSpec(name, w, rng.random(shape) < density, init_weight=w * 0.5))
    return layers


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    t0 = time.perf_counter()
    for _ in range(repeat):
        out = fn()
    return (time.perf_counter() - t0) / repeat, out


def bench_mge(args) -> dict:
    layers = conv6_layers()
    density = density_for_edges(args.edges, layers)
    reset_peak_rss()
    t_build, g = timed(lambda: conv_mge(density, seed=args.seed, layers=layers))
    build = {
        "seconds": t_build,
        "peak_rss_gb": peak_rss_bytes() / GB,
        "rss_after_build_gb": current_rss_bytes() / GB,
        "layer_density": density,
        "dense_edges": sum(dense_edge_counts(layers)),
    }
    n, e = g.num_vertices(), g.num_edges()
    profile: dict = {}
    reset_peak_rss()
    t_all, out = timed(
        lambda: mge_topometrics(g, motif_fraction=args.motif_fraction, seed=args.seed, profile=profile)
    )
    # every step resets the kernel's high-water mark, so the run's peak is the largest step peak
    peak_all = max([peak_rss_bytes() / GB] + [v.get("peak_rss_gb", 0.0) for v in profile.values()])

    # motif sampling error: the estimate for several seeds on the same graph
    ga = GraphArrays(g)
    U, bip = ga.undirected, ga.is_bipartite
    t_motif, ests = timed(
        lambda: [
            motif_estimate(U, args.motif_fraction, seed=s, bipartite=bip)[0] for s in range(args.motif_seeds)
        ]
    )
    ests = np.array(ests)
    sd = float(ests.std(ddof=1)) if ests.size > 1 else float("nan")
    motif = {
        "seeds": args.motif_seeds,
        "fraction": args.motif_fraction,
        "samples_per_estimate": int(out["motif_samples"]),
        "estimates": ests.tolist(),
        "mean": float(ests.mean()),
        "sd_single_estimate": sd,
        "sem": sd / np.sqrt(ests.size),
        "relative_sd_single_estimate": sd / float(ests.mean()) if ests.mean() else float("nan"),
        "seconds_per_estimate": t_motif / max(args.motif_seeds, 1),
    }
    return {
        "graph": {"nodes": n, "edges": e, "partition_sizes": [int(x) for x in g.gp["partition_sizes"]]},
        "build": build,
        "steps": profile,
        "total_seconds": t_all,
        "peak_rss_gb": peak_all,
        "edges_per_second": e / t_all,
        "motif": motif,
        "values": out,
    }


def bench_layers(args) -> dict:
    layers = random_layers(args.layer_density, args.seed)
    res: dict = {"model": "resnet20 (22 layers)", "density": args.layer_density}
    for variant in ("iclr2023", "mge", "neurips2023"):
        res[f"ramanujan_{variant}_seconds"], _ = timed(
            lambda v=variant: compute("ramanujan", layers, variant=v)
        )
    for fam in ("rolled", "rolled_channel", "density"):
        res[f"{fam}_seconds"], _ = timed(lambda f=fam: compute(f, layers))
    reps = args.fullspectrum_reps
    t, _ = timed(lambda: [layer_coordinate(x.weight, x.mask) for x in layers], repeat=reps)
    res["fullspectrum_seconds_per_network"] = t
    res["fullspectrum_networks_per_second"] = 1.0 / t
    t, _ = timed(lambda: compute("fullspectrum", layers), repeat=reps)
    res["fullspectrum_with_dist_init_networks_per_second"] = 1.0 / t
    return res


# ------------------------------------------------------------------------------------------------------
# real MGEs, one fresh process per (code tree, case): this checkout against a baseline tree
# ------------------------------------------------------------------------------------------------------


def _real_mge(model_name: str, sparsity: float, pruner: str, compat: str):
    """Masked model and its MGE (CIFAR input shape); masks from the library's pruner, seed 0."""
    import torch

    from snntopo import encoding, models
    from snntopo.pruning import prune

    shape = (3, 32, 32)
    model = models.init_model(model_name, shape, 10, seed=0)
    masks = prune(pruner, model, sparsity, seed=0)
    with torch.no_grad():
        for name, p in models.prunable_parameters(model).items():
            p.mul_(masks[name])
    return lambda: encoding.encode(
        "mge", model, masks, shape, compat="released" if compat == "released" else None
    )


def worker(case: dict) -> dict:
    """Build one real MGE and compute its topometrics; times and peak RSS above this process's baseline."""
    from snntopo.metrics import mge_topometrics

    build = _real_mge(case["model"], case["sparsity"], case["pruner"], case["compat"])
    base = current_rss_bytes()
    reset_peak_rss()
    t0 = time.perf_counter()
    g = build()
    t_build = time.perf_counter() - t0
    profile: dict = {}
    t0 = time.perf_counter()
    out = mge_topometrics(g, compat=case["compat"], seed=0, profile=profile)
    t_metrics = time.perf_counter() - t0
    peak = max([peak_rss_bytes()] + [v.get("peak_rss_gb", 0.0) * GB for v in profile.values()])
    return {
        "src": str(SRC),
        "edges": g.num_edges(),
        "nodes": g.num_vertices(),
        "build_seconds": t_build,
        "metrics_seconds": t_metrics,
        "total_seconds": t_build + t_metrics,
        "peak_above_baseline_gb": (peak - base) / GB,
        "steps_seconds": {k: round(v["seconds"], 4) for k, v in profile.items()},
        "steps_peak_above_baseline_gb": {
            k: round(v["peak_rss_gb"] - base / GB, 3) for k, v in profile.items() if "peak_rss_gb" in v
        },
        "values": out,
    }


def _spawn(case: dict, src: Path) -> dict:
    env = dict(os.environ, SNNTOPO_BENCH_SRC=str(src))
    cmd = [sys.executable, __file__, "--worker", json.dumps(case)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def _max_rel_diff(a: dict, b: dict) -> dict:
    """Largest relative difference over the shared metric values, motif columns aside."""
    keys = [k for k in a if k in b and not k.startswith("motif")]
    rel = {k: abs(a[k] - b[k]) / max(abs(b[k]), 1e-300) for k in keys if a[k] == a[k] and b[k] == b[k]}
    worst = max(rel, key=rel.get) if rel else None
    return {"max_relative_difference": rel.get(worst, 0.0), "worst_key": worst}


def compare(cases: list[dict], baseline: Path | None) -> list[dict]:
    here = Path(__file__).resolve().parents[1] / "src"
    rows = []
    for case in cases:
        row = {"case": case, "uptime_load_before": os.getloadavg(), "current": _spawn(case, here)}
        if baseline is not None:
            row["baseline"] = base = _spawn(case, baseline)
            cur = row["current"]
            row["ratios_baseline_over_current"] = {
                k: base[k] / cur[k] for k in ("build_seconds", "metrics_seconds", "total_seconds")
            }
            row["peak_ratio_current_over_baseline"] = cur["peak_above_baseline_gb"] / max(
                base["peak_above_baseline_gb"], 1e-9
            )
            row["agreement"] = _max_rel_diff(cur["values"], base["values"])
        row["uptime_load_after"] = os.getloadavg()
        rows.append(row)
    return rows


def motif_accuracy(seeds: int, fraction: float) -> dict:
    """ResNet-20 ERK 98 %: ``seeds`` estimates against the exact count of connected 4-sets."""
    from snntopo.metrics.topometrics import GraphArrays, connected_4sets_per_vertex

    g = _real_mge("resnet20", 0.98, "erk", "clean")()
    ga = GraphArrays(g)
    U, bip = ga.undirected, ga.is_bipartite
    t0 = time.perf_counter()
    exact = float(connected_4sets_per_vertex(U, None, bip).sum() / 4)
    t_exact = time.perf_counter() - t0
    res: dict = {"edges": g.num_edges(), "exact": exact, "exact_seconds": t_exact, "fraction": fraction}
    for sampler in ("stratified", "uniform"):
        t0 = time.perf_counter()
        ests = [motif_estimate(U, fraction, s, bip, sampler=sampler) for s in range(seeds)]
        values = np.array([e.value for e in ests])
        res[sampler] = {
            "seconds_per_estimate": (time.perf_counter() - t0) / seeds,
            "samples": int(ests[0].samples),
            "relative_rms_error": float(np.sqrt(np.mean((values - exact) ** 2)) / exact),
            "mean_reported_relative_se": float(np.mean([e.se for e in ests]) / exact),
            "relative_bias": float(values.mean() / exact - 1.0),
        }
    return res


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--edges", type=int, default=1_300_000, help="target MGE edge count (default 1.3 M)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--motif-fraction", type=float, default=0.001, help="vertex sample fraction (published 0.1 %%)"
    )
    p.add_argument("--motif-seeds", type=int, default=5)
    p.add_argument("--layer-density", type=float, default=0.1, help="mask density of the ResNet-20 layers")
    p.add_argument("--fullspectrum-reps", type=int, default=5)
    p.add_argument("--skip-layers", action="store_true", help="only the MGE part")
    p.add_argument("--out", type=Path, help="also write the JSON here")
    p.add_argument("--resnet", type=float, nargs="*", help="ResNet-20 ERK sparsities to measure (real MGEs)")
    p.add_argument("--released", action="store_true", help="CONV-6 98 %% (random masks): clean vs released")
    p.add_argument("--baseline-src", type=Path, help="src/ tree of the code to compare with, same masks")
    p.add_argument("--motif-exact", action="store_true", help="ResNet-20 ERK 98 %%: estimates vs exact count")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker)), default=float))
        return {}
    if args.resnet is not None or args.released or args.motif_exact:
        return real_main(args)
    result = {
        "benchmark": "metrics",
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_at_start": os.getloadavg(),
        },
        "reference": REFERENCE,
        "mge": bench_mge(args),
    }
    if not args.skip_layers:
        result["layers"] = bench_layers(args)
    result["machine"]["load_average_at_end"] = os.getloadavg()
    result["process_peak_rss_gb_getrusage"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    text = json.dumps(result, indent=2, default=float)
    print(text)
    if args.out:
        args.out.write_text(text)
    return result


def real_main(args) -> dict:
    cases = [
        {"model": "resnet20", "pruner": "erk", "sparsity": x, "compat": "clean"} for x in args.resnet or []
    ]
    if args.released:
        cases += [
            {"model": "conv6", "pruner": "random", "sparsity": 0.98, "compat": c}
            for c in ("clean", "released")
        ]
    result: dict = {
        "benchmark": "metrics-real",
        "cpus": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
    }
    result["cases"] = compare(cases, args.baseline_src)
    if args.released:
        clean, released = (r["current"] for r in result["cases"][-2:])
        result["released_over_clean"] = {
            "seconds": released["total_seconds"] / clean["total_seconds"],
            "metrics_seconds": released["metrics_seconds"] / clean["metrics_seconds"],
            "peak": released["peak_above_baseline_gb"] / max(clean["peak_above_baseline_gb"], 1e-9),
        }
    if args.motif_exact:
        result["motif"] = motif_accuracy(20, args.motif_fraction)
    result["load_average_at_end"] = os.getloadavg()
    text = json.dumps(result, indent=1, default=float)
    print(text)
    if args.out:
        args.out.write_text(text)
    return result


if __name__ == "__main__":
    main()
