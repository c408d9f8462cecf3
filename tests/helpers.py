"""Helpers the tests share: small real structures, a cheap stand-in potential, counts by definition, and a kill at
a given number of committed frames."""

from __future__ import annotations

import json
import os
import runpy
import signal
import subprocess
import sys
import time

import numpy as np
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.lj import LennardJones, cutoff_function, d_cutoff_function
from ase.stress import full_3x3_to_voigt_6_stress
from ase.spacegroup import crystal
from reference import core_loop, counts_by_definition


def lpscl_unit_cell():
    """Ordered Li6PS5Cl, F-43m, 52 atoms (crystallographic data from ../shared/data/SOURCES.md)."""
    return crystal(["Li", "P", "S", "S", "Cl"],
                   basis=[(0.02311, 0.25, 0.25), (0.5, 0.5, 0.5), (0.61552, 0.61552, 0.61552), (0.25, 0.25, 0.25),
                          (0, 0, 0)], spacegroup=216, cellpar=[10.2795] * 3 + [90] * 3)


class PairLJ(LennardJones):
    """ASE's Lennard-Jones (the same pair energy, smooth cutoff and stress), with every pair at once.

    ASE's ``LennardJones`` loops over the atoms in Python (9 ms a call for 54 Li atoms; its ``neighbor_list``
    takes 80 ms): the MD of the observer and store tests spent most of its time there. Here the pairs within
    ``rc`` plus a skin are found once, over the periodic images the cutoff reaches, and found again once an atom
    has moved half the skin or the cell changed; ``test_pair_lj_is_ases_lennard_jones`` holds it to ASE's.
    """

    skin_A = 0.5

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._pairs = None  # (i, j, image shift in A), the positions and cell they were found at

    def _pair_list(self, atoms) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        positions, cell = atoms.positions, atoms.cell.array
        if self._pairs is not None:
            i, j, shift, at, at_cell = self._pairs
            moved = np.sqrt(((positions - at) ** 2).sum(1).max()) if len(at) == len(positions) else np.inf
            if moved < self.skin_A / 2 and np.array_equal(cell, at_cell):
                return i, j, shift
        reach = self.parameters.rc + self.skin_A
        if atoms.cell.rank == 3:
            widths = atoms.get_volume() / np.linalg.norm(np.cross(np.roll(cell, -1, 0), np.roll(cell, -2, 0)), axis=1)
            repeats = [int(np.ceil(reach / w)) if pbc else 0 for w, pbc in zip(widths, atoms.pbc)]
        else:
            repeats = [0, 0, 0]
        images = np.stack(np.meshgrid(*[np.arange(-k, k + 1) for k in repeats], indexing="ij"), -1).reshape(-1, 3)
        found = []
        for image in images @ cell:
            d = positions[None, :, :] + image - positions[:, None, :]  # i -> j in this image
            near = np.argwhere(((d ** 2).sum(-1) < reach ** 2) & ((d ** 2).sum(-1) > 1e-12))
            found.append(np.column_stack([near, np.repeat(image[None], len(near), 0)]))
        pairs = np.concatenate(found)
        i, j, shift = pairs[:, 0].astype(int), pairs[:, 1].astype(int), pairs[:, 2:]
        self._pairs = (i, j, shift, positions.copy(), cell.copy())
        return i, j, shift

    def calculate(self, atoms=None, properties=None, system_changes=all_changes):
        Calculator.calculate(self, atoms, properties, system_changes)
        p, n = self.parameters, len(self.atoms)
        i, j, shift = self._pair_list(self.atoms)
        d = self.atoms.positions[j] + shift - self.atoms.positions[i]
        r2 = (d ** 2).sum(1)
        c6 = np.where(r2 <= p.rc ** 2, (p.sigma ** 2 / r2) ** 3, 0.0)
        c12 = c6 ** 2
        energy = 4 * p.epsilon * (c12 - c6)
        force = -24 * p.epsilon * (2 * c12 - c6) / r2
        if p.smooth:
            force = cutoff_function(r2, p.rc ** 2, p.ro ** 2) * force + 2 * d_cutoff_function(
                r2, p.rc ** 2, p.ro ** 2) * energy
            energy = energy * cutoff_function(r2, p.rc ** 2, p.ro ** 2)
        else:
            energy = energy - 4 * p.epsilon * ((p.sigma / p.rc) ** 12 - (p.sigma / p.rc) ** 6) * (c6 != 0.0)
        pair_forces = force[:, None] * d
        energies = 0.5 * np.bincount(i, energy, minlength=n)
        forces = np.stack([np.bincount(i, pair_forces[:, k], minlength=n) for k in range(3)], axis=1)
        self.results.update(energy=energies.sum(), free_energy=energies.sum(), energies=energies, forces=forces)
        if self.atoms.cell.rank == 3:
            stress = 0.5 * np.einsum("pa,pb->ab", pair_forces, d)
            self.results["stress"] = full_3x3_to_voigt_6_stress(stress) / self.atoms.get_volume()


def soft_lj():
    # A cheap, stable stand-in potential: what is tested is the observer, not the physics.
    return PairLJ(sigma=1.6, epsilon=0.01, rc=4.0, smooth=True)


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


def run_here(script, *args) -> None:
    """Run a test's writer script in this process, as ``python script *args`` would run it, without the seconds a
    new interpreter takes to import torch: for the uninterrupted reference run beside a killed and resumed one."""
    argv = sys.argv
    sys.argv = [str(script), *map(str, args)]
    try:
        runpy.run_path(str(script), run_name="__main__")
    finally:
        sys.argv = argv
