"""Per-step wall time and peak resident memory, for the benchmark and the ``profile=`` option."""

from __future__ import annotations

import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kib(key: str) -> int | None:
    """A ``kB`` field of /proc/self/status (None where the file or the field is missing)."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def peak_rss_bytes() -> int:
    """Peak resident set size of this process since start (or since :func:`reset_peak_rss`)."""
    kib = _status_kib("VmHWM")
    if kib is None:
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # Linux reports KiB
    return kib * 1024


def current_rss_bytes() -> int:
    return (_status_kib("VmRSS") or 0) * 1024


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS watermark (Linux ≥ 4.0: write 5 to clear_refs); False if impossible."""
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


@contextmanager
def step(profile: dict | None, name: str) -> Iterator[None]:
    """Record ``{"seconds": ..., "peak_rss_gb": ...}`` of the enclosed block under ``profile[name]``."""
    if profile is None:
        yield
        return
    resettable = reset_peak_rss()
    t0 = time.perf_counter()
    yield
    entry = {"seconds": time.perf_counter() - t0}
    if resettable:
        entry["peak_rss_gb"] = peak_rss_bytes() / 2**30
    profile[name] = entry
