"""Run the embedded default sweep (config/config.yaml) in a temp copy of the workflow; JSON on stdout.

Targets (issue 16): under 10 min wall on a 2-core machine; the main Snakemake process under 0.5 CPU-s per
job; and an effect to analyse: per model, the drop's between-configuration variance at least 4× its
within-configuration (seed) variance (results/analysis/tables/effect.csv).

* ``jobs_cpu_s`` — CPU of the jobs themselves (interpreter start included), summed from the line each
  job logs at exit (``job resources: ...``, exact getrusage of the job and its children);
* ``main_cpu_s`` — CPU of the main snakemake process (its threads included, its children not), read from
  /proc while it runs; ``main_cpu_s_per_job`` divides it by the job count;
* ``other_cpu_s`` — the rest of the process tree's CPU (e.g. starting each job's interpreter).

The machine may be shared: the load average before and after is printed beside the times.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
PARTS = ("Snakefile", "rules", "scripts", "config", "profiles", "report", "envs")
TICKS = os.sysconf("SC_CLK_TCK")
JOB_CPU = re.compile(r"job resources: wall [\d.]+ s, cpu ([\d.]+) s")


def copy_workflow(dest: Path) -> None:
    """The workflow's files, the library linked (jobs import it from <workflow>/src)."""
    for part in PARTS:
        src = ROOT / part
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, dest / part)
    (dest / "src").symlink_to(ROOT / "src")


def own_cpu_s(pid: int) -> float | None:
    """utime + stime of one process (all its threads, none of its children), or None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS  # fields 14 and 15 of stat(5)


def run(workdir: Path, cores: int) -> dict[str, float]:
    """Run snakemake to completion, sampling the main process's CPU; wall and CPU totals."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with open(workdir / "snakemake.err", "w") as err:
        proc = subprocess.Popen([SNAKEMAKE, "--cores", str(cores)], cwd=workdir, stdout=err, stderr=err)
        main_cpu = 0.0
        while proc.poll() is None:
            main_cpu = own_cpu_s(proc.pid) or main_cpu
            time.sleep(0.2)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        tail = (workdir / "snakemake.err").read_text()[-4000:]
        sys.exit(f"snakemake failed ({proc.returncode}); log tail:\n{tail}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "total_cpu_s": total, "main_cpu_s": main_cpu}


def job_count(log: str) -> int:
    return int(re.search(r"^total\s+(\d+)\s*$", log, re.MULTILINE).group(1))


def jobs_cpu_s(results: Path) -> tuple[float, dict[str, float]]:
    """Sum of the CPU time each job logged at exit (snntopo.utils.RESOURCES_LINE), and the sum per rule."""
    per_rule: dict[str, float] = {}
    for log in (results / "logs").rglob("*.log"):
        match = JOB_CPU.search(log.read_text())
        if match:
            rule = log.relative_to(results / "logs").parts[0].removesuffix(".log")
            per_rule[rule] = per_rule.get(rule, 0.0) + float(match.group(1))
    return sum(per_rule.values()), per_rule


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=os.cpu_count(), help="snakemake --cores (default: all)")
    parser.add_argument("--keep", action="store_true", help="keep the temp copy and print its path")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="snntopo-bench-run-"))
    try:
        copy_workflow(workdir)
        load_before = os.getloadavg()
        times = run(workdir, args.cores)
        load_after = os.getloadavg()
        jobs = job_count((workdir / "snakemake.err").read_text())
        results = workdir / "results"
        jobs_cpu, per_rule = jobs_cpu_s(results)
        effect = pd.read_csv(results / "analysis/tables/effect.csv")
        ratio = {f"{r.model}/{r.scope}": round(float(r.ratio), 2) for r in effect.itertuples()}
        out = {
            "benchmark": "run",
            "cores": args.cores,
            "wall_s": round(times["wall_s"], 1),
            "jobs": jobs,
            "jobs_cpu_s": round(jobs_cpu, 1),
            "jobs_cpu_s_by_rule": {k: round(v, 1) for k, v in sorted(per_rule.items())},
            "main_cpu_s": round(times["main_cpu_s"], 1),
            "main_cpu_s_per_job": round(times["main_cpu_s"] / jobs, 3),
            "other_cpu_s": round(times["total_cpu_s"] - jobs_cpu - times["main_cpu_s"], 1),
            "variance_ratio": ratio,
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in load_after],
            "targets": {"wall_s": 600, "main_cpu_s_per_job": 0.5, "variance_ratio_all": 4},
        }
        if args.keep:
            out["workdir"] = str(workdir)
        print(json.dumps(out, indent=2))
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
