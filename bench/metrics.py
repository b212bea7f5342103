"""Benchmark of the metrics stage; prints one JSON object.

Builds (vectorised, no model needed) a random MGE shaped like CONV-6 at 32×32 (partition sizes of
METHOD.md §1.4, unrolled 3×3 convs, 2×2 max-pool replication; one uniform layer density chosen so that the
expected edge count is ``--edges``), then runs every MGE topometric on it and reports, per step, the wall
time and the peak RSS (the kernel's high-water mark is reset before each step), the totals, edges/s, and
the 4-node motif estimate's mean and standard error over ``--motif-seeds`` seeds. It also times the
per-layer families (Ramanujan variants, full-spectrum coordinate, BGE topometrics, density) on the 22
layers of a ResNet-20 with random masks.

    python bench/metrics.py                      # ~1.3 M edges (ResNet-20 ERK 98 % size), ~1 min
    python bench/metrics.py --edges 31000000     # CONV-6 SNIP 98 % size; several minutes, ~3 GB
    python bench/metrics.py --edges 96000000     # every weight at 60 % sparsity (~10^8 edges)

Reference (published igraph implementation, METHOD §3, same kind of machine): 1.3 M edges 5.1 s;
31 M edges 434 s and 13.6 GB peak; lower sparsities do not fit in 24 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from snntopo.metrics import compute, layer_coordinate
from snntopo.metrics._profile import current_rss_bytes, peak_rss_bytes, reset_peak_rss
from snntopo.metrics.layers import LayerSpec
from snntopo.metrics.synthetic import conv6_layers, conv_mge, dense_edge_counts, density_for_edges
from snntopo.metrics.topometrics import GraphArrays, mge_topometrics, motif_estimate

GB = 2**30
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
    args = p.parse_args(argv)
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


if __name__ == "__main__":
    main()
