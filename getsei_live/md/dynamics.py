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
from ..errors import MDFailedError, ParameterError, StructureError

if TYPE_CHECKING:
    from ..store.parts import MDCheckpoint

__all__ = ["RELAXED_FORCE_EV_A", "RUNAWAY_FACTOR", "Relaxation", "TemperatureGuard", "langevin", "relax",
           "restore_checkpoint", "start_at_temperature"]

#: An MD whose instantaneous temperature passes this multiple of the thermostat's has left physics. A thermostatted
#: system of N atoms fluctuates by about sqrt(2 / 3N) of its temperature (8% for 100 atoms), so a factor of 3 is
#: never reached by chance; a potential asked about atoms far closer than anything it was fitted on reaches it within
#: a few hundred fs and then 1e8 K (measured: the bundled potential on the thick LLZO/Li interface at 700 K, 1,054 K
#: at 17 ps and 2e8 K at 18 ps).
RUNAWAY_FACTOR = 3.0


class TemperatureGuard:
    """ASE observer that ends an MD run which has left physics, before its frames reach the store.

    Attach it to the dynamics before the live monitor, at the monitor's interval: a frame whose instantaneous
    temperature exceeds ``factor`` x ``temperature_K``, or whose positions or momenta are not finite, raises
    ``MDFailedError``; the frames before it are committed and the store says why it stopped. For a few atoms the
    factor grows to 1 + 10 standard deviations of the instantaneous temperature (sqrt(2 / 3N) of it), and the
    momenta drawn before the first step are judged only for being finite.
    """

    def __init__(self, atoms: Atoms, dyn, temperature_K: float, *, factor: float = RUNAWAY_FACTOR,
                 first_step: int = 0) -> None:
        if not factor > 1:
            raise ParameterError.of("factor", f"must be greater than 1. Got {factor!r} instead.")
        self.atoms, self.dyn, self.first_step = atoms, dyn, int(first_step)
        self.temperature_K = float(temperature_K)
        self.factor = max(float(factor), 1 + 10 * float(np.sqrt(2 / (3 * max(len(atoms), 1)))))

    def __call__(self) -> None:
        temperature = float(self.atoms.get_temperature())
        # the temperature sums every momentum squared: it is finite only where they all are
        finite = bool(np.isfinite(temperature) and np.isfinite(self.atoms.positions).all())
        if finite and (self.dyn.nsteps == 0 or temperature <= self.factor * self.temperature_K):
            return
        step = self.first_step + self.dyn.nsteps
        what = ("its positions or momenta are not finite" if not finite else
                f"its temperature reached {temperature:.4g} K, more than {self.factor:g} x the thermostat's "
                f"{self.temperature_K:g} K")
        raise MDFailedError(f"The MD failed at step {step}: {what}. The potential gave forces far outside what it "
                            f"was fitted on (atoms closer than in its training data); nothing from this frame on is "
                            f"physics. Use a potential fitted to this structure at this temperature, or a shorter "
                            f"time step.")


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
