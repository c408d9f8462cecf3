"""Cost of the live observer per observation, and of an analysis update, at 1e3 and 1e5 frames of history.

Usage: python benchmarks/bench_observer.py [--repeats N]

A store is pre-filled with H frames of synthetic labels (192 Li, 6 states,
4 lags) and the monitor resumes from it; then the real 416-atom Li6PS5Cl frame
is observed repeatedly on the calling thread (labelling with the bundled demo state model, counting,
buffering and the periodic flush to Zarr) and the analysis snapshot (Koopman
matrix, timescales at every lag, rates, TPT, pathways, 50 bootstrap resamples)
is timed. Neither should grow with H: the counter keeps only max(lag) frames
and the analysis reads count matrices, never the history.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from ase.io import read

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import median_s  # noqa: E402
from bench_assign import STRUCTURE  # noqa: E402

from getsei_live.observers.settings import MonitorSettings  # noqa: E402
from getsei_live.md.calculators import bundled_file  # noqa: E402
from getsei_live.observers.monitor import LiveMonitor  # noqa: E402
from getsei_live.states.model import StateModel  # noqa: E402
from getsei_live.store.run_store import RunStore  # noqa: E402
from getsei_live.store.spec import RunSpec  # noqa: E402

LAGS = (1, 2, 5, 10)


def prefilled_store(path: Path, model, n_li: int, history: int) -> RunStore:
    spec = RunSpec(fingerprint=model.fingerprint, n_states=model.n_states, timestep_fs=2.0, interval_steps=50,
                   lags_frames=LAGS, li_indices=tuple(range(n_li)))
    store = RunStore.create(path, spec)
    rng = np.random.default_rng(0)
    from getsei_live.analysis.counting import TransitionCounter

    counter = TransitionCounter(model.n_states, LAGS, n_li)
    state = rng.integers(0, model.n_states, n_li)
    for start in range(0, history, 10_000):
        block = []
        for t in range(start, min(history, start + 10_000)):
            flip = rng.random(n_li) < 0.05
            state = np.where(flip, rng.integers(0, model.n_states, n_li), state)
            block.append(state.astype(np.int8))
            store.append(t * 50, t * 0.1, block[-1])
        counter.update_many(np.stack(block))
        store.flush(counter.tally())
    store.close()
    return RunStore.open(path, "a", spec=spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--history", type=int, nargs="+", default=[1_000, 100_000], help="frames of history")
    args = parser.parse_args()
    if not STRUCTURE.exists():
        sys.exit(f"needs {STRUCTURE} (../shared beside the repository)")
    atoms = read(STRUCTURE, format="vasp")
    model = StateModel.load(bundled_file("demo_states.pt"), device="cpu")
    li = np.flatnonzero(atoms.numbers == 3)
    print(f"{'history (frames)':>17}{'observe median ms':>19}{'observe p95 ms':>16}{'assign ms':>11}"
          f"{'analysis ms':>13}{'resume s':>10}")
    assign = median_s(lambda: model.assign(atoms), 20)
    for history in args.history:
        with tempfile.TemporaryDirectory() as tmp:
            store = prefilled_store(Path(tmp) / "run.zarr", model, li.size, history)
            start = time.perf_counter()
            settings = MonitorSettings(check_every_frames=10**9, stop_when_stable=False, asynchronous=False)
            monitor = LiveMonitor(model, store, settings, lag_index=len(LAGS) - 1)
            resume = time.perf_counter() - start
            step = monitor.last_step
            observe = []
            for _ in range(args.repeats + 10):  # the first 10 warm up thread pools and allocations
                step += 50
                t0 = time.perf_counter()
                monitor.observe(atoms, step)
                observe.append(time.perf_counter() - t0)
            observe = observe[10:]
            analysis = median_s(monitor.check, 10)
            monitor.close()
        print(f"{history:>17}{1e3 * np.median(observe):>19.1f}{1e3 * np.percentile(observe, 95):>16.1f}"
              f"{1e3 * assign:>11.1f}{1e3 * analysis:>13.1f}{resume:>10.2f}")




if __name__ == "__main__":
    main()
