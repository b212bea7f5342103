"""Time DAG building + dry run of the paper grid (config/paper.yaml, ~6,500 jobs); JSON on stdout.

Target (issue 7): under 30 s. The baseline measured in the same run is a dry run of the embedded default
sweep, so the ratio tells how DAG cost scales with the number of jobs.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"


def dry_run(*args: str) -> dict[str, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([SNAKEMAKE, "-n", "-q", "rules", "--cores", "1", *args], cwd=ROOT,
                          capture_output=True, text=True, check=True)  # fmt: skip
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    jobs = next(int(line.split()[1]) for line in proc.stdout.splitlines() if line.startswith("total"))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    ms_per_job = round(1000 * cpu / jobs, 2)
    return {"jobs": jobs, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "ms_per_job": ms_per_job}


def main() -> None:
    default = dry_run()
    paper = dry_run("--configfile", "config/paper.yaml", "--replace-workflow-config")
    print(json.dumps({"benchmark": "dag", "default": default, "paper": paper,
                      "paper_vs_default_ms_per_job": round(paper["ms_per_job"] / default["ms_per_job"], 2),
                      "target_paper_wall_s": 30}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
