"""A long run's resident memory: zarr's file I/O on one thread.

zarr runs a store's reads and writes on a pool of threads, each of which gets a glibc malloc arena of its own, and
those arenas grow with a run. Measured with ``benchmarks/bench_memory.py`` (2,000 frames of 416 atoms, a check every
100; 2 cores): the resident memory grew 3.3-3.8 MB from frame 500 to 2,000 with zarr's default pool and 2.0 MB with
one thread, which also replayed faster (45 s against 54 s; a flush writes a few small chunks). Python's heap stays
flat either way. Fixing glibc's mmap threshold instead kept it flatter but halved the MD's speed (torch's tensors
then get a fresh mapping every step: 118-124 ms a step of the demo against 54-61 ms), so it is not done.

The command line uses one I/O thread unless ``ZARR_THREADING__MAX_WORKERS`` is set; a Python session that runs for
days can call :func:`one_io_thread` itself (it changes zarr's configuration for the whole process).
"""

from __future__ import annotations

import os

__all__ = ["one_io_thread"]


def one_io_thread() -> bool:
    """Have zarr do its file I/O on one thread (unless ``ZARR_THREADING__MAX_WORKERS`` chooses); True where set."""
    if "ZARR_THREADING__MAX_WORKERS" in os.environ:
        return False
    import zarr

    zarr.config.set({"threading.max_workers": 1})
    return True
