"""Cross-stage helpers: seeding, atomic writes, checksums of tensors."""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import logging
import os
import random
import resource
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np


def seed_everything(seed: int) -> None:
    """One seed drives Python, NumPy and torch (CPU and CUDA) for a job."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds.

    A killed job therefore never leaves a half-written output that Snakemake would take as complete.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    # mkstemp creates 0600 files; outputs should get the usual permissions (shared cluster file systems).
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented, key-sorted JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def tensors_checksum(tensors: Mapping[str, Any]) -> str:
    """SHA-256 over names, dtypes, shapes and bytes of a name → tensor mapping, in name order.

    Used to tie masks to the initialisation they were computed from, and checkpoints to their mask.
    """
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name]
        arr = t.detach().cpu().contiguous().numpy() if hasattr(t, "detach") else np.ascontiguousarray(t)
        h.update(name.encode())
        h.update(str(arr.dtype).encode())
        h.update(str(arr.shape).encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def job_logger(name: str, log_path: str | os.PathLike[str] | None = None) -> logging.Logger:
    """Log to stderr and (if given) to ``log_path``; uncaught exceptions are logged there too.

    Pipeline entry points call this first so that a failed job's log file holds the traceback.
    """
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=logging.INFO, format=fmt, handlers=handlers, force=True)
    logger = logging.getLogger(name)

    def log_uncaught(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        logger.error("%s failed: %s", name, exc, exc_info=(exc_type, exc, tb))

    sys.excepthook = log_uncaught
    atexit.register(log_job_resources, logger, time.perf_counter() - _process_age_s())
    return logger


def _process_age_s() -> float:
    """Seconds since this process started (its imports included); 0 where /proc is not available."""
    try:
        started = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])  # field 22, ticks
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    return max(0.0, uptime - started / os.sysconf("SC_CLK_TCK"))


#: The last line of every job log: ``job resources: wall 1.23 s, cpu 4.56 s, peak rss 789 MB``.
RESOURCES_LINE = "job resources: wall %.2f s, cpu %.2f s, peak rss %.0f MB"


def log_job_resources(logger: logging.Logger, start: float) -> None:
    """Log the job's wall time since ``start`` (its process start), CPU and peak RSS (own and children's).

    Exact and free, unlike Snakemake's ``benchmark:`` directive, whose main-process thread samples every
    job's /proc/<pid>/smaps twice a second (the largest CPU cost of the main Snakemake process).
    """
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    peak_mb = max(own.ru_maxrss, children.ru_maxrss) / 1024  # kB on Linux
    logger.info(RESOURCES_LINE, time.perf_counter() - start, cpu, peak_mb)
