"""Time and peak memory of every pruner on ResNet-20 and WRN-28-2 at 32×32 (random CIFAR-like data).

Each (model, pruner) runs in a fresh subprocess so that its peak resident set size (``ru_maxrss``) is its
own; ``baseline_mb`` is the RSS of the same process just before pruning (interpreter, torch, model, data),
``peak_mb`` the high-water mark after it. Pruners run with their default options, i.e. on the reference's
batches: GraSP 25 samples per class in two BatchNorm halves (so its memory grows with ``--classes``),
ProsPr 3 + 1 batches of 512. ``--option pruner.key=value`` overrides one (e.g. ``prospr.batch_size=128``
to time WRN-28-2 ProsPr on a loaded machine; the result then says so). The load average is recorded
beside every run. Prints one JSON document on stdout; rules/prune.smk's memory request is taken from it.

    python bench/pruning.py                                   # all pruners, resnet20 and wrn28_2
    python bench/pruning.py --models wrn28_2 --pruners grasp prospr --threads 4
    python bench/pruning.py --models resnet20 --pruners grasp --classes 100
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

SRC = Path(__file__).resolve().parents[1] / "src"


def _rss_mb() -> float:
    """Current resident set size (Linux /proc), in MiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def worker(
    model_name: str, pruner: str, sparsity: float, threads: int, samples: int, classes: int, options: dict
) -> dict:
    import torch
    from torch.utils.data import TensorDataset

    from snntopo.models import init_model, prunable_parameters
    from snntopo.pruning import prune

    torch.set_num_threads(threads)
    model = init_model(model_name, (3, 32, 32), classes, seed=0)
    gen = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(samples, 3, 32, 32, generator=gen), torch.arange(samples) % classes)
    options = {**({"input_shape": (3, 32, 32)} if pruner == "synflow" else {}), **options}
    baseline = _rss_mb()
    start = time.perf_counter()
    masks = prune(
        pruner, model, 0.0 if pruner == "dense" else sparsity, data, 0, allow_collapse=True, **options
    )
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    kept = sum(int(m.sum()) for m in masks.values())
    total = sum(p.numel() for p in prunable_parameters(model).values())
    return {
        "model": model_name,
        "pruner": pruner,
        "classes": classes,
        "options": options,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "sparsity": 1 - kept / total,
        "seconds": round(seconds, 3),
        "baseline_mb": round(baseline, 1),
        "peak_mb": round(peak, 1),
        "peak_minus_baseline_mb": round(peak - baseline, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", nargs="+", default=["resnet20", "wrn28_2"])
    parser.add_argument("--pruners", nargs="+", default=None, help="default: every registered pruner")
    parser.add_argument("--sparsity", type=float, default=0.9)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1)")
    parser.add_argument("--samples", type=int, default=2048, help="size of the random dataset (≥ 30/class)")
    parser.add_argument("--classes", type=int, default=10, help="number of classes (GraSP's sample grows)")
    parser.add_argument("--option", action="append", default=[], metavar="PRUNER.KEY=VALUE",
                        help="override a pruner option (JSON value); repeatable")  # fmt: skip
    parser.add_argument("--worker", nargs=2, metavar=("MODEL", "PRUNER"), help=argparse.SUPPRESS)
    parser.add_argument("--worker-options", help=argparse.SUPPRESS)
    args = parser.parse_args()

    samples = max(args.samples, 30 * args.classes)
    if args.worker:
        options = json.loads(args.worker_options or "{}")
        print(json.dumps(worker(*args.worker, args.sparsity, args.threads, samples, args.classes, options)))
        return

    sys.path.insert(0, str(SRC))
    from snntopo.pruning import PRUNERS

    pruners = args.pruners or PRUNERS.names()
    overrides = _overrides(args.option)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    runs = []
    for model in args.models:
        for pruner in pruners:
            cmd = [sys.executable, __file__, "--worker", model, pruner, "--sparsity", str(args.sparsity),
                   "--threads", str(args.threads), "--samples", str(samples), "--classes", str(args.classes),
                   "--worker-options", json.dumps(overrides.get(pruner, {}))]  # fmt: skip
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
            if proc.returncode:
                runs.append(
                    {"model": model, "pruner": pruner, "error": proc.stderr.strip().splitlines()[-1:]}
                )
            else:
                runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
    import torch

    print(
        json.dumps(
            {
                "benchmark": "pruning",
                "input_shape": [3, 32, 32],
                "num_classes": args.classes,
                "threads": args.threads,
                "torch": torch.__version__,
                "machine": platform.machine(),
                "runs": runs,
            },
            indent=2,
        )
    )


def _overrides(items: list[str]) -> dict[str, dict]:
    """``pruner.key=value`` strings (value as JSON, else a plain string) → {pruner: {key: value}}."""
    out: dict[str, dict] = {}
    for item in items:
        target, sep, raw = item.partition("=")
        pruner, dot, key = target.partition(".")
        if not (sep and dot and pruner and key):
            raise SystemExit(f"--option {item!r}: expected PRUNER.KEY=VALUE, e.g. prospr.batch_size=128")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out.setdefault(pruner, {})[key] = value
    return out


if __name__ == "__main__":
    main()
