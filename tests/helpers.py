"""Helpers the tests share: small real structures, a cheap stand-in potential, counts by definition, and a kill at
a given number of committed frames."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import numpy as np
from ase.calculators.lj import LennardJones
from ase.spacegroup import crystal
from reference import core_loop, counts_by_definition


def lpscl_unit_cell():
    """Ordered Li6PS5Cl, F-43m, 52 atoms (crystallographic data from ../shared/data/SOURCES.md)."""
    return crystal(["Li", "P", "S", "S", "Cl"],
                   basis=[(0.02311, 0.25, 0.25), (0.5, 0.5, 0.5), (0.61552, 0.61552, 0.61552), (0.25, 0.25, 0.25),
                          (0, 0, 0)], spacegroup=216, cellpar=[10.2795] * 3 + [90] * 3)


def soft_lj():
    # A cheap, stable stand-in potential: what is tested is the observer, not the physics.
    return LennardJones(sigma=1.6, epsilon=0.01, rc=4.0, smooth=True)


def recount(states: np.ndarray, lags: tuple[int, ...], n_states: int, core_frames: int = 1) -> np.ndarray:
    """Sliding-window counts of the core-assigned labels, by the definitions, one Li and one frame at a time."""
    return counts_by_definition(core_loop(states, core_frames), lags, n_states)


def kill_after_committed(writer: subprocess.Popen, path, frames: int, timeout_s: float = 120,
                         attribute: str = "committed_frames", sig: int = signal.SIGKILL) -> None:
    """Send ``sig`` (SIGKILL) to ``writer`` once the store at ``path`` has committed ``frames`` frames (or it ends, or
    time is up) and wait for it; ``attribute="warmup_frames"`` counts the frames kept during a warm-up."""
    committed, deadline = 0, time.monotonic() + timeout_s
    while committed < frames and time.monotonic() < deadline and writer.poll() is None:
        time.sleep(0.05)
        try:
            committed = json.loads((path / "zarr.json").read_text())["attributes"][attribute]
        except (OSError, ValueError, KeyError):
            continue
    if writer.poll() is None:
        os.kill(writer.pid, sig)
    writer.wait()
