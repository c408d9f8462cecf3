"""The dynamics the runs use: a FIRE relaxation, Langevin NVT with the centre of mass fixed, and a checkpoint restore."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from ase import Atoms, units
from ase.constraints import FixCom
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import Stationary, thermalize_momenta

from ..deprecation import renamed
from ..errors import ParameterError, StructureError

if TYPE_CHECKING:
    from ..store.parts import MDCheckpoint

__all__ = ["RELAXED_FORCE_EV_A", "Relaxation", "langevin", "relax", "restore_checkpoint", "start_at_temperature"]


@dataclass(frozen=True, slots=True)
class Relaxation:
    """What a relaxation did: the largest force on an atom before and after (eV/A), the steps taken and the
    energy change (eV)."""

    max_force_before: float
    max_force_after: float
    steps: int
    energy_change_eV: float

    def describe(self) -> str:
        return (f"relaxed in {self.steps} FIRE steps: largest force {self.max_force_before:.2f} -> "
                f"{self.max_force_after:.2f} eV/A, energy change {self.energy_change_eV:+.2f} eV")


def relax(atoms: Atoms, *, steps: int = 200, fmax_eV_A: float = 0.1) -> Relaxation:
    """Relax the positions of ``atoms`` (with its calculator) in place: FIRE for at most ``steps`` steps or until the
    largest force is below ``fmax_eV_A``, so that MD started from it does not heat up as the structure settles."""
    from ase.optimize import FIRE

    before, energy = float(np.linalg.norm(atoms.get_forces(), axis=1).max()), atoms.get_potential_energy()
    optimiser = FIRE(atoms, logfile=None)
    optimiser.run(fmax=fmax_eV_A, steps=steps)
    after = float(np.linalg.norm(atoms.get_forces(), axis=1).max())
    return Relaxation(before, after, int(optimiser.nsteps), float(atoms.get_potential_energy() - energy))


#: Below this largest force (eV/A) a structure counts as relaxed: MD from it starts with velocities at twice its
#: temperature (a thermal snapshot has forces of 1-3 eV/A on some atoms).
RELAXED_FORCE_EV_A = 0.3


def start_at_temperature(atoms: Atoms) -> float | None:
    """For a relaxed structure (largest force below ``RELAXED_FORCE_EV_A``, with its calculator) with velocities
    drawn at T: scale them to 2T, since half the kinetic energy flows into the potential energy within tens of fs
    (equipartition), so that the MD starts near T instead of falling to T/2 and climbing back over several
    thermostat times. Returns the largest force (eV/A) of a structure it scaled, None otherwise."""
    largest = float(np.linalg.norm(atoms.get_forces(), axis=1).max())
    if largest >= RELAXED_FORCE_EV_A:
        return None
    atoms.set_momenta(atoms.get_momenta() * np.sqrt(2.0))
    return largest


def restore_checkpoint(atoms: Atoms, checkpoint: MDCheckpoint) -> None:
    """Put the positions, momenta and cell of a store's checkpoint into ``atoms`` (same atoms, same order)."""
    if not np.array_equal(atoms.numbers, checkpoint.numbers):
        raise StructureError("The structure does not match the store's checkpoint (other atoms or another order).")
    atoms.set_cell(checkpoint.cell)
    atoms.positions = checkpoint.positions
    atoms.set_momenta(checkpoint.momenta)


def langevin(atoms: Atoms, *, temperature_K: float, timestep_fs: float, coupling_time_ps: float | None = None,
             friction_ps: float | None = None, seed: int = 0,
             initialise_velocities: bool = True) -> Langevin:
    """Langevin NVT dynamics with a thermostat coupling time ``coupling_time_ps`` (friction = 1 / coupling time).

    ``friction_ps`` is the deprecated old name of ``coupling_time_ps``.
    """
    if friction_ps is not None:
        coupling_time_ps = renamed({"friction_ps": friction_ps}, "friction_ps", "coupling_time_ps", coupling_time_ps)
    if coupling_time_ps is None:
        raise ParameterError.of("coupling_time_ps", "(Langevin coupling time, ps) is required.")
    if not temperature_K > 0:
        raise ParameterError.of("temperature_K", f"must be positive. Got {temperature_K!r} instead.")
    if not timestep_fs > 0:
        raise ParameterError.of("timestep_fs", f"must be positive. Got {timestep_fs!r} instead.")
    if not coupling_time_ps > 0:
        raise ParameterError.of("coupling_time_ps", f"must be positive. Got {coupling_time_ps!r} instead.")
    rng = np.random.default_rng(seed)
    if initialise_velocities:
        thermalize_momenta(atoms, temperature_K=temperature_K, rng=rng)
        Stationary(atoms)
    # ASE >= 3.28: fix the centre of mass with a constraint rather than Langevin's fixcm.
    if not any(isinstance(c, FixCom) for c in atoms.constraints):
        atoms.set_constraint([*atoms.constraints, FixCom()])
    return Langevin(atoms, timestep=timestep_fs * units.fs, temperature_K=temperature_K,
                    friction=1.0 / (coupling_time_ps * 1000.0 * units.fs), fixcm=False, rng=rng)
