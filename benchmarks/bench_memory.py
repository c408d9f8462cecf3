"""Memory of a live run against its length: does anything grow per frame?

Usage: python benchmarks/bench_memory.py [--frames N] [--asynchronous] [--check-every FRAMES]

The real 416-atom Li6PS5Cl frame, its positions jittered, is fed through the
real observer (``replay``: Frame copies, the driver, the counter, the Zarr
store with its flushes and checkpoints, an analysis snapshot and verdict every
100 frames, 50 resamples each). The labeller is a seeded random walk over 6
states (the state model's cost is not what is measured here; it keeps nothing
per frame). Python's heap (tracemalloc, after a garbage collection) and the
process's resident memory are printed at doubling frame counts, with the growth
per frame between the first and the last row.

Like the command line, it has zarr do its I/O on one thread (``getsei_live._zarr_io``); ``--zarr-threads-default``
leaves zarr's pool of threads, whose malloc arenas grow (measured: 3.3-3.8 MB from frame 500 to 2,000 against 2.0 MB).

Measured 2026-12-07, 4,000 frames, a check every 100 (resident MB at frames 500 / 1,000 / 2,000 / 4,000):
snapshots stored 64 to a chunk 467.1 / 467.9 / 469.2 / 470.8 (every check decoded and re-encoded the chunk of all
the checks before it); one to a chunk, as stores are made now, 467.0 / 467.6 / 468.2 / 468.7: 1.2 MB from frame 500
to 2,000, 0.5 MB from 2,000 to 4,000.
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from ase.io import read

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_assign import STRUCTURE  # noqa: E402

from getsei_live._zarr_io import one_io_thread  # noqa: E402
from getsei_live.analysis.criteria import ConvergenceCriteria  # noqa: E402
from getsei_live.observers.live import replay  # noqa: E402
from getsei_live.units import LI  # noqa: E402


class RandomWalkLabeller:
    """A ``Labeller``: each Li changes to a random state with probability 0.05 per frame."""

    n_states = 6
    fingerprint = "random-walk-6"

    def __init__(self, n_li: int) -> None:
        self._rng = np.random.default_rng(0)
        self._state = self._rng.integers(0, 6, n_li)

    def check(self, atoms) -> None:
        pass

    def assign(self, atoms) -> np.ndarray:
        flip = self._rng.random(self._state.size) < 0.05
        self._state = np.where(flip, self._rng.integers(0, 6, self._state.size), self._state)
        return self._state.astype(np.int8)

    def describe(self) -> dict:
        return {"fingerprint": self.fingerprint}


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8000)
    parser.add_argument("--asynchronous", action="store_true")
    parser.add_argument("--check-every", type=int, default=100, help="frames between analysis checks")
    parser.add_argument("--zarr-threads-default", action="store_true",
                        help="leave zarr's pool of I/O threads (the command line uses one)")
    args = parser.parse_args()
    one_thread = False if args.zarr_threads_default else one_io_thread()
    atoms = read(STRUCTURE)
    n_li = int(np.sum(atoms.numbers == LI))
    marks = [m for m in (500, 1000, 2000, 4000, 8000, 16000, 32000) if m <= args.frames]
    rows = []
    rng = np.random.default_rng(1)

    def frames():
        for k in range(args.frames + 1):
            if k in marks:
                gc.collect()
                rows.append((k, tracemalloc.get_traced_memory()[0] / 2**20, rss_mb(), time.perf_counter()))
            moved = atoms.copy()
            moved.positions += rng.normal(scale=0.01, size=moved.positions.shape)
            yield moved

    tracemalloc.start()
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        replay(frames(), RandomWalkLabeller(n_li), Path(folder) / "run.zarr", timestep_fs=2.0,
               interval_steps=50, lags_ps=(0.1, 0.2, 0.5, 1.0), check_every_frames=args.check_every,
               criteria=ConvergenceCriteria(n_bootstrap=50), asynchronous=args.asynchronous)
    print(f"{args.frames} frames of {len(atoms)} atoms ({n_li} Li), "
          f"{'asynchronous' if args.asynchronous else 'synchronous'} observer, a check every {args.check_every} frames, "
          f"{time.perf_counter() - start:.0f} s, zarr I/O on {'one thread' if one_thread else 'its default pool'}")
    print(f"{'frames':>7} {'Python heap (MB)':>17} {'resident (MB)':>14}")
    for k, heap, rss, _ in rows:
        print(f"{k:>7} {heap:17.2f} {rss:14.1f}")
    (k0, h0, r0, _), (k1, h1, r1, _) = rows[0], rows[-1]
    print(f"growth per frame from frame {k0} to {k1}: Python heap {1024**2 * (h1 - h0) / (k1 - k0):.0f} bytes, "
          f"resident {1024**2 * (r1 - r0) / (k1 - k0):.0f} bytes "
          f"(one frame's copy is {atoms.positions.nbytes * 2 / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
