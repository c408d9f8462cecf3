"""What the live analysis costs the MD: throughput with it off, synchronous and asynchronous, and the MD-thread hold.

Usage: python benchmarks/bench_live_md.py [--systems demo paper] [--rounds R] [--block STEPS] [--every N]
                                          [--check-every F] [--device cpu|cuda|auto] [--dtype float32|float64]

Langevin MD (700 K, 2 fs) with the bundled MACE potential on the demo LPSCl/Li
interface and on the paper-sized LGPS/Li interface (1200 atoms, 960 Li),
labelled by the bundled demo state model. Three copies of the system run side
by side in one process, one per mode: no observer ("off"), the synchronous
observer and the asynchronous one; they take turns in blocks of ``--block``
steps, so that drifts of a shared machine hit all three alike. A block of an
observed mode ends only when its worker has caught up (``monitor.wait()``), so
no work spills into another mode's block and the throughput is not flattered.

Printed per system: MD seconds per step for each mode, the throughput ratio
(off / mode) and the time the observer held the MD thread per observation
(median, p95, max), which for the asynchronous observer is the copy of the
frame and the hand-over to the worker.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from getsei_live import attach
from getsei_live.analysis.criteria import ConvergenceCriteria
from getsei_live.md.calculators import bundled_file, mace_calculator
from getsei_live.md.dynamics import langevin
from getsei_live.states.model import StateModel
from getsei_live.structures.builders import build_interface

SYSTEMS = {"demo": ("lpscl-li", "demo"), "paper": ("lgps-li", "paper")}
MODES = ("off", "sync", "async")


class Timed:
    """Wraps an ASE observer and records how long each call held the MD thread."""

    def __init__(self, observer) -> None:
        self.observer, self.seconds = observer, []

    def __call__(self) -> None:
        start = time.perf_counter()
        self.observer()
        self.seconds.append(time.perf_counter() - start)


def setup(system: str, size: str, mode: str, model: StateModel, args, workdir: Path):
    atoms = build_interface(system, size).atoms
    atoms.calc = mace_calculator("bundled", device=args.device, dtype=args.dtype)
    dyn = langevin(atoms, temperature_K=700.0, timestep_fs=2.0, coupling_time_ps=0.5, seed=1)
    if mode == "off":
        return dyn, None, None
    monitor = attach(dyn, model, store=workdir / f"{system}-{mode}.zarr", interval_steps=args.every,
                     lags_ps=tuple(args.every * 2.0 / 1000 * k for k in (1, 2, 4)), lag_ps="auto",
                     check_every_frames=args.check_every, criteria=ConvergenceCriteria(), stop_when_stable=False,
                     asynchronous=mode == "async")
    timed = Timed(monitor)
    dyn.observers = [(timed, *entry[1:]) if entry[0] is monitor else entry for entry in dyn.observers]
    return dyn, monitor, timed


def bench_system(name: str, model: StateModel, args) -> dict:
    system, size = SYSTEMS[name]
    with tempfile.TemporaryDirectory() as tmp:
        runs = {mode: setup(system, size, mode, model, args, Path(tmp)) for mode in MODES}
        n_atoms = len(runs["off"][0].atoms)
        for dyn, monitor, _ in runs.values():  # warm-up: first forces, first labels, thread pools
            dyn.run(args.every)
            if monitor is not None:
                monitor.wait()
        for _, _, timed in runs.values():
            if timed is not None:
                timed.seconds.clear()
        seconds = {mode: 0.0 for mode in MODES}
        steps = {mode: 0 for mode in MODES}
        for _ in range(args.rounds):
            for mode, (dyn, monitor, _) in runs.items():
                start = time.perf_counter()
                dyn.run(args.block)
                if monitor is not None:
                    monitor.wait()
                seconds[mode] += time.perf_counter() - start
                steps[mode] += args.block
        checks = {mode: len(runs[mode][1].store.snapshots()) for mode in ("sync", "async")}
        for _, monitor, _ in runs.values():
            if monitor is not None:
                monitor.close()
    per_step = {mode: seconds[mode] / steps[mode] for mode in MODES}
    holds = {mode: np.array(runs[mode][2].seconds) for mode in ("sync", "async")}
    return {"name": f"{system} {size}", "atoms": n_atoms, "per_step": per_step, "holds": holds, "checks": checks,
            "steps": steps["off"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", nargs="+", choices=sorted(SYSTEMS), default=["demo", "paper"])
    parser.add_argument("--rounds", type=int, default=4, help="blocks per mode")
    parser.add_argument("--block", type=int, default=200, help="MD steps per block")
    parser.add_argument("--every", type=int, default=50, help="MD steps between observations")
    parser.add_argument("--check-every", type=int, default=2, help="observations between analysis checks")
    parser.add_argument("--device", default="auto", help="MACE and state-model device: cpu, cuda or auto")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"], help="MACE precision")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    args.device = "cuda" if args.device == "auto" and torch.cuda.is_available() else args.device
    args.device = "cpu" if args.device == "auto" else args.device
    model = StateModel.load(bundled_file("demo_states.pt"), device=args.device)
    gpu = f" ({torch.cuda.get_device_name()})" if args.device == "cuda" else ""
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, MACE and labels on {args.device}{gpu}, "
          f"MACE {args.dtype}; observe every {args.every} steps, check every {args.check_every} observations; "
          f"{args.rounds} blocks of {args.block} steps per mode, interleaved")
    head = (f"{'system':<17}{'atoms':>6}{'off s/step':>11}{'sync s/step':>12}{'async s/step':>13}"
            f"{'sync ratio':>11}{'async ratio':>12}{'hold ms sync med/p95/max':>27}{'hold ms async med/p95/max':>28}")
    print(head)
    print("-" * len(head))
    for name in args.systems:
        r = bench_system(name, model, args)
        p = r["per_step"]

        def hold(values: np.ndarray) -> str:
            if values.size == 0:
                return "-"
            return (f"{1e3 * statistics.median(values):.2f}/{1e3 * np.percentile(values, 95):.2f}/"
                    f"{1e3 * values.max():.2f}")

        print(f"{r['name']:<17}{r['atoms']:>6}{p['off']:>11.4f}{p['sync']:>12.4f}{p['async']:>13.4f}"
              f"{p['off'] / p['sync']:>11.3f}{p['off'] / p['async']:>12.3f}{hold(r['holds']['sync']):>27}"
              f"{hold(r['holds']['async']):>28}")
        print(f"{'':<17}{r['steps']} steps per mode; {r['holds']['async'].size} observations and "
              f"{r['checks']['async']} checks per observed mode")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
