"""Atomic writes and checksums."""

import os
import stat

import pytest
import torch

from snntopo.utils import atomic_path, tensors_checksum, write_json


def test_atomic_path_moves_into_place_only_on_success(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []  # no temp file left behind
    write_json(target, {"a": 1})
    assert target.read_text() == '{\n  "a": 1\n}\n'


def test_atomic_outputs_get_umask_permissions_not_0600(tmp_path):
    old = os.umask(0o022)
    try:
        write_json(tmp_path / "x.json", {})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "x.json").stat().st_mode) == 0o644


def test_checksum_sees_values_names_and_dtypes():
    a = {"w": torch.zeros(3)}
    assert tensors_checksum(a) == tensors_checksum({"w": torch.zeros(3)})
    assert tensors_checksum(a) != tensors_checksum({"w": torch.tensor([0.0, 0.0, 1e-9])})
    assert tensors_checksum(a) != tensors_checksum({"v": torch.zeros(3)})
    assert tensors_checksum(a) != tensors_checksum({"w": torch.zeros(3, dtype=torch.float64)})


def test_job_logger_ends_the_log_with_the_jobs_resources(tmp_path):
    """The last log line holds the job's CPU (here a measured busy loop) and a wall time ≥ that CPU."""
    import re
    import subprocess
    import sys

    log = tmp_path / "job.log"
    code = (
        "import time\n"
        "from snntopo.utils import job_logger\n"
        f"log = job_logger('snntopo.job', {str(log)!r})\n"
        "start = time.process_time()\n"
        "while time.process_time() - start < 0.5:\n"
        "    pass\n"
        "print(time.process_time())\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    own_cpu = float(proc.stdout)
    last = log.read_text().splitlines()[-1]
    match = re.search(r"job resources: wall ([\d.]+) s, cpu ([\d.]+) s, peak rss (\d+) MB", last)
    assert match, last
    wall, cpu, rss = float(match.group(1)), float(match.group(2)), int(match.group(3))
    assert cpu >= own_cpu - 0.01 and cpu >= 0.5
    assert wall >= cpu * 0.5  # one thread: wall is at least its CPU, up to clock-tick rounding
    assert rss > 10  # an interpreter with numpy loaded
