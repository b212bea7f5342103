"""Speed of full-spectrum mask sampling on ResNet-20 at 32×32 (random CIFAR-like data), on the CPU.

* ``scoring``: the per-sample scoring step alone, i.e. the full-spectrum coordinate (Δr, λ, Δr_iter,
  λ_iter) of all 22 layers of one candidate mask (:func:`snntopo.pruning.score_layers`), timed over
  ``--repeats`` candidate masks of the base pruner; target ≥ 5 samples/s.
* ``end_to_end``: the pruner ``fullspectrum`` with ``--samples`` samples (plus the incumbent), density
  correction included; seconds per sample include the base pruner's own time.

Prints one JSON document on stdout.

    python bench/fullspectrum.py
    python bench/fullspectrum.py --bases snip random --sparsity 0.98 --samples 10 --threads 4
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bases", nargs="+", default=["snip", "random"])
    parser.add_argument("--sparsity", type=float, default=0.9)
    parser.add_argument("--samples", type=int, default=10, help="samples of the end-to-end run")
    parser.add_argument("--repeats", type=int, default=10, help="candidate masks timed for scoring")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data", type=int, default=1024, help="size of the random dataset")
    args = parser.parse_args()

    import torch
    from torch.utils.data import TensorDataset

    from snntopo.models import init_model, prunable_parameters
    from snntopo.pruning import prune, prune_and_summarize, score_layers

    torch.set_num_threads(args.threads)
    model = init_model("resnet20", (3, 32, 32), 10, seed=0)
    gen = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(args.data, 3, 32, 32, generator=gen), torch.arange(args.data) % 10)
    weights = {n: p.detach() for n, p in prunable_parameters(model).items()}
    score_layers(weights, prune("random", model, args.sparsity, seed=0))  # imports, LAPACK warm-up

    runs = []
    for base in args.bases:
        masks = [
            prune(base, model, args.sparsity, data, seed=s, allow_collapse=True) for s in range(args.repeats)
        ]
        times = []
        for m in masks:
            start = time.perf_counter()
            score_layers(weights, m)
            times.append(time.perf_counter() - start)
        start = time.perf_counter()
        _, summary = prune_and_summarize(
            "fullspectrum", model, args.sparsity, data, seed=0, base=base, samples=args.samples
        )
        total = time.perf_counter() - start
        trace = summary["extras"]["fullspectrum"]
        runs.append(
            {
                "base": base,
                "layers": len(weights),
                "scoring_s_per_sample_median": round(statistics.median(times), 4),
                "scoring_s_per_sample_mean": round(statistics.fmean(times), 4),
                "scoring_samples_per_s": round(1 / statistics.median(times), 2),
                "end_to_end_samples": args.samples + 1,
                "end_to_end_s": round(total, 3),
                "end_to_end_s_per_sample": round(total / (args.samples + 1), 4),
                "layers_replaced": sum(t > 0 for t in trace["selected"].values()),
                "density_correction": trace["correction"],
            }
        )
        print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
    print(
        json.dumps(
            {
                "benchmark": "fullspectrum",
                "model": "resnet20",
                "input_shape": [3, 32, 32],
                "sparsity": args.sparsity,
                "threads": args.threads,
                "torch": torch.__version__,
                "machine": platform.machine(),
                "target_scoring_samples_per_s": 5,
                "runs": runs,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
