"""Benchmark: images/s of masked (PaI) vs dense training on the same model, and the mask's own cost.

    python bench/training.py                       # CPU, plus CUDA when a GPU is present
    python bench/training.py --devices cuda --amp  # CUDA only, mixed precision

Both runs use snntopo.training.TrainStep (the code path of ``train``) on ResNet-20 at 32×32, batch 128,
random data, from the same initial weights; dense and masked rounds alternate so that drift in machine
load hits both alike; the ratio is the median of the per-round ratios. ``mask_ms_per_step`` times the two
masking calls alone (gradient mask + weight re-mask); on CPU the ratio is also given from the process's
CPU time, which other jobs on a shared machine do not inflate. JSON on stdout.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time

import torch

from snntopo.models import init_model, prunable_parameters
from snntopo.training import TrainStep, recipe_for


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_steps(step: TrainStep, x: torch.Tensor, y: torch.Tensor, n: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) for ``n`` steps."""
    _sync(step.device)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        step(x, y)
    _sync(step.device)
    return time.perf_counter() - wall, time.process_time() - cpu


def bench_device(args: argparse.Namespace, device: torch.device) -> dict:
    shape = (3, args.size, args.size)
    model = init_model(args.model, shape, 10, seed=0)
    g = torch.Generator().manual_seed(0)
    masks = {
        k: torch.rand(p.shape, generator=g) >= args.sparsity for k, p in prunable_parameters(model).items()
    }
    recipe = recipe_for("cifar10", args.model, {"amp": args.amp, "channels_last": not args.no_channels_last})
    steps = {
        "dense": TrainStep(copy.deepcopy(model), None, recipe, device),
        "masked": TrainStep(copy.deepcopy(model), masks, recipe, device),
    }
    x, y = steps["dense"].to_device(
        torch.randn(args.batch_size, *shape, generator=g),
        torch.randint(0, 10, (args.batch_size,), generator=g),
    )
    for s in steps.values():
        _time_steps(s, x, y, args.warmup)
    ips: dict[str, list[float]] = {"dense": [], "masked": []}
    cpu_s: dict[str, list[float]] = {"dense": [], "masked": []}
    ratios = []
    for r in range(args.repeats):
        order = ("dense", "masked") if r % 2 == 0 else ("masked", "dense")
        for name in order:
            wall, cpu = _time_steps(steps[name], x, y, args.steps)
            ips[name].append(args.batch_size * args.steps / wall)
            cpu_s[name].append(cpu)
        ratios.append(ips["masked"][-1] / ips["dense"][-1])
    applier = steps["masked"].applier
    _sync(device)
    start = time.perf_counter()
    for _ in range(args.mask_reps):
        applier.mask_grads()
        applier.apply()
    _sync(device)
    mask_ms = (time.perf_counter() - start) / args.mask_reps * 1e3
    dense_step_ms = args.batch_size / statistics.median(ips["dense"]) * 1e3
    return {
        "device": f"cuda ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
        "dense_images_per_s": statistics.median(ips["dense"]),
        "masked_images_per_s": statistics.median(ips["masked"]),
        "masked_over_dense": statistics.median(ratios),
        "per_round_ratios": ratios,
        # On a shared CPU, wall time includes other jobs' load; CPU time of this process does not.
        "masked_over_dense_cpu_time": sum(cpu_s["dense"]) / sum(cpu_s["masked"])
        if device.type == "cpu"
        else None,
        "mask_ms_per_step": mask_ms,
        "mask_fraction_of_dense_step": mask_ms / dense_step_ms,
        "amp": args.amp and device.type == "cuda",
        "channels_last": recipe.channels_last and device.type == "cuda",
    }


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--devices", default="auto", help="comma list of cpu, cuda; auto = cpu (+ cuda if present)"
    )
    p.add_argument("--model", default="resnet20")
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--sparsity", type=float, default=0.9)
    p.add_argument("--steps", type=int, default=None, help="steps per round (default: 3 CPU, 50 CUDA)")
    p.add_argument("--warmup", type=int, default=None, help="warm-up steps (default: 1 CPU, 20 CUDA)")
    p.add_argument("--repeats", type=int, default=None, help="rounds (default: 3 CPU, 5 CUDA)")
    p.add_argument("--mask-reps", type=int, default=20)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1, as in the pipeline)")
    p.add_argument("--amp", action="store_true", help="mixed precision (CUDA only)")
    p.add_argument("--no-channels-last", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    names = (
        args.devices.split(",")
        if args.devices != "auto"
        else ["cpu"] + (["cuda"] * torch.cuda.is_available())
    )
    results = {
        "model": args.model,
        "input": [3, args.size, args.size],
        "batch_size": args.batch_size,
        "sparsity": args.sparsity,
        "torch": torch.__version__,
        "runs": [],
    }
    for name in names:
        device = torch.device(name)
        cpu = device.type == "cpu"
        dev_args = copy.copy(args)
        dev_args.steps = args.steps or (3 if cpu else 50)
        dev_args.warmup = args.warmup if args.warmup is not None else (1 if cpu else 20)
        dev_args.repeats = args.repeats or (3 if cpu else 5)
        results["runs"].append(bench_device(dev_args, device))
        print(json.dumps(results["runs"][-1]), file=sys.stderr)
    print(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
