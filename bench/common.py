"""Shared helpers of the benchmarks: machine description, resident memory, timing."""
from __future__ import annotations

import os
import platform
import resource
import sys
from datetime import datetime, timezone


def machine() -> str:
    """One line describing the machine and the interpreter."""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "?")
    except OSError:
        model = platform.processor() or "?"
    return (f"{model}, {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
            f"{platform.system()} {platform.release()}, {datetime.now(timezone.utc):%Y-%m-%d}")


def rss_mb() -> float:
    """Current resident set size (MiB), from /proc; falls back to the peak."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
