"""A long run's resident memory under glibc: a fixed threshold for memory-mapped allocations.

glibc raises its threshold for serving a large allocation from its own mapping (128 KiB at the start) each time such
a mapping is freed, up to 32 MiB. After a check's first large temporaries are freed, later ones come from the heap
and the arenas of zarr's threads, where they fragment it: measured with ``benchmarks/bench_memory.py`` (2,000 frames,
a check every 100), the resident memory grew 3.5 MB from frame 500 to 2,000 while Python's heap was flat. With the
threshold fixed at its starting value it grew 1.3 MB and started 20 MB lower. The command line fixes it for its own
process; a Python session that runs for days can call :func:`fix_mmap_threshold` itself (or set
``MALLOC_MMAP_THRESHOLD_=131072`` before Python starts).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_MMAP_THRESHOLD = -3  # glibc's malloc.h
DEFAULT_THRESHOLD = 128 * 1024

__all__ = ["fix_mmap_threshold"]


def fix_mmap_threshold(nbytes: int = DEFAULT_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold at ``nbytes`` for this process (allocations from it up get a mapping of their own,
    returned to the system when freed); True where it was set, False off glibc (nothing changed)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):  # no C library found, or one without mallopt (musl)
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, int(nbytes)))
