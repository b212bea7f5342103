"""Benchmark of the MGE builder: wall time, edges/s and peak memory per edge, against bare graph-tool.

    PYTHONPATH=src python bench/encoding.py [--conv6] [--repeat 3] [--out bench/results/encoding.json]

Every measurement runs in a fresh subprocess (so ``ru_maxrss`` is that build's peak). The baseline is
measured in the same run on the very same edge list, in the same insertion order: a bare
``Graph.add_edge_list`` of the pre-computed (E, 2) int64 array (and the same plus the two edge property
maps the MGE carries), so ``ratio`` isolates the encoder's own cost from graph-tool's insertion cost.

Cases (random masks, 98 % global sparsity, 32×32 inputs): ResNet-20 uniform (≈0.76 M edges) and with a
SNIP-like layer profile (≈1.34 M edges); with ``--conv6`` also CONV-6 with a SNIP-like profile (most kept
weights in the two 32×32 convs, ≈31 M edges, the size of the published CONV-6 SNIP graph).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_R20_LAYER1 = {f"layer1.{b}.conv{c}.weight": 0.05 for b in range(3) for c in (1, 2)}
CASES = {
    "resnet20_98_uniform": {"model": "resnet20", "density": 0.02, "profile": {}},
    # SNIP at 98 % keeps more of the 32×32 layers: this profile gives ≈1.34 M edges like the graph.
    "resnet20_98_sniplike": {"model": "resnet20", "density": 0.02,
                             "profile": {"conv1.weight": 0.5, **_R20_LAYER1}},
    # Per-layer densities (others share the rest of the 2 % budget): SNIP at 98 % keeps most of conv2.
    "conv6_98_sniplike": {"model": "conv6", "density": 0.02,
                          "profile": {"features.0.weight": 0.5, "features.3.weight": 0.8}},
}  # fmt: skip


def _rss_now() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _masks(model, density: float, profile: dict[str, float]):
    import torch

    from snntopo.models import prunable_parameters

    params = prunable_parameters(model)
    total = sum(p.numel() for p in params.values())
    fixed = sum(params[k].numel() * d for k, d in profile.items())
    rest = (density * total - fixed) / (total - sum(params[k].numel() for k in profile))
    gen = torch.Generator().manual_seed(0)
    return {k: torch.rand(p.shape, generator=gen) < profile.get(k, rest) for k, p in params.items()}


def worker_encode(case: dict, edges_out: str | None) -> dict:
    import numpy as np

    from snntopo.encoding import encode, estimate_mge_size
    from snntopo.models import build_model, init_model

    encode("mge", build_model("cnn", (1, 8, 8), 2), None, (1, 8, 8))  # load lazily imported code once
    model = init_model(case["model"], (3, 32, 32), 10, seed=0)
    masks = _masks(model, case["density"], case["profile"])
    t = time.perf_counter()
    size = estimate_mge_size(model, masks, (3, 32, 32))
    t_estimate = time.perf_counter() - t
    before = _rss_now()
    t = time.perf_counter()
    g = encode("mge", model, masks, (3, 32, 32))
    seconds = time.perf_counter() - t
    peak = _peak()
    out = {"edges": g.num_edges(), "nodes": g.num_vertices(), "seconds": seconds, "estimate_seconds":
           t_estimate, "peak_bytes": peak - before, "estimated_bytes": size.bytes}  # fmt: skip
    if edges_out:
        e = g.get_edges([g.edge_index])
        np.save(edges_out, e[np.argsort(e[:, 2]), :2])  # insertion order
    return out


def worker_baseline(edges_path: str, n_nodes: int, props: bool) -> dict:
    import graph_tool as gt
    import numpy as np

    edges = np.load(edges_path)
    before = _rss_now()
    t = time.perf_counter()
    g = gt.Graph(directed=True)
    g.add_vertex(n_nodes)
    g.add_edge_list(edges)
    if props:
        g.ep["weight"], g.ep["layer"] = g.new_ep("double"), g.new_ep("int16_t")
        g.ep["weight"].a, g.ep["layer"].a = 1.0, 1  # touch them so they are allocated
    seconds = time.perf_counter() - t
    return {"seconds": seconds, "peak_bytes": _peak() - before}


def _spawn(kind: str, *args: object) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    res = subprocess.run([sys.executable, __file__, "--worker", json.dumps([kind, *args])], env=env,
                         check=True, capture_output=True, text=True)  # fmt: skip
    return json.loads(res.stdout.strip().splitlines()[-1])


def run_case(name: str, case: dict, repeat: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        edges_path = str(Path(tmp) / "edges.npy")
        runs = [_spawn("encode", case, edges_path if i == 0 else None) for i in range(repeat)]
        first = runs[0]
        bare = [_spawn("baseline", edges_path, first["nodes"], False) for _ in range(repeat)]
        with_props = _spawn("baseline", edges_path, first["nodes"], True)
    best = min(r["seconds"] for r in runs)
    e = first["edges"]
    return {
        "case": name, **{k: case[k] for k in ("model", "density")}, "layer_profile": case["profile"],
        "edges": e, "nodes": first["nodes"],
        "seconds_min": best, "seconds_median": statistics.median(r["seconds"] for r in runs),
        "edges_per_second": e / best, "estimate_seconds": first["estimate_seconds"],
        "peak_bytes": first["peak_bytes"], "bytes_per_edge": first["peak_bytes"] / e,
        "estimated_bytes": first["estimated_bytes"],
        "baseline_add_edge_list_seconds_min": min(b["seconds"] for b in bare),
        "baseline_bytes_per_edge": bare[0]["peak_bytes"] / e,
        "baseline_with_props_bytes_per_edge": with_props["peak_bytes"] / e,
        "ratio_to_baseline": best / min(b["seconds"] for b in bare),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--conv6", action="store_true", help="also run CONV-6 at 98 %% (≈31 M edges, ~2 GB)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None, help="JSON file (default: print only)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        kind, *rest = json.loads(args.worker)
        print(json.dumps(worker_encode(*rest) if kind == "encode" else worker_baseline(*rest)))
        return
    names = ["resnet20_98_uniform", "resnet20_98_sniplike"] + (["conv6_98_sniplike"] if args.conv6 else [])
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    result = {
        "machine": {"cpus": os.cpu_count(), "loadavg_at_start": load, "python": platform.python_version()},
        "cases": [run_case(n, CASES[n], args.repeat) for n in names],
    }
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
