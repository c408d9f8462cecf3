"""Langevin MD that starts at its temperature: a relaxed structure gets velocities at twice it, since half the
kinetic energy flows into the potential energy at once (equipartition)."""

from __future__ import annotations

import numpy as np
from ase.build import bulk
from ase.calculators.lj import LennardJones
from helpers import PairLJ, lpscl_unit_cell, soft_lj

from getsei_live.md.dynamics import langevin, relax, start_at_temperature


def mean_temperature(scaled: bool) -> float:
    atoms = bulk("Cu", "fcc", a=2.3, cubic=True).repeat(3)  # a lattice the soft LJ holds, relaxed to its minimum
    atoms.calc = soft_lj()
    relax(atoms, steps=100, fmax_eV_A=0.01)
    dyn = langevin(atoms, temperature_K=300.0, timestep_fs=2.0, coupling_time_ps=10.0, seed=1)
    if scaled:
        assert start_at_temperature(atoms) is not None
    temperatures = []
    for _ in range(60):
        dyn.run(2)
        temperatures.append(atoms.get_temperature())
    return float(np.mean(temperatures[10:]))


def test_a_relaxed_structure_starts_near_its_temperature_not_at_half_of_it():
    assert abs(mean_temperature(scaled=True) - 300) < 60
    assert mean_temperature(scaled=False) < 200  # what it did before: T falls to about half within 0.1 ps


def test_a_thermal_snapshot_keeps_the_velocities_it_was_given():
    atoms = bulk("Cu", "fcc", a=2.3, cubic=True).repeat(3)
    atoms.rattle(0.2, seed=2)  # forces of a snapshot, not a minimum
    atoms.calc = soft_lj()
    langevin(atoms, temperature_K=300.0, timestep_fs=2.0, coupling_time_ps=1.0, seed=1)
    before = atoms.get_momenta().copy()
    assert start_at_temperature(atoms) is None
    np.testing.assert_array_equal(atoms.get_momenta(), before)


def test_pair_lj_is_ases_lennard_jones():
    """The tests' fast Lennard-Jones gives what ASE's gives (energy, forces, stress), in a cell the cutoff reaches
    across (images beyond the nearest), in a larger one, and as the atoms move (its pair list is kept between
    calls)."""
    cases = ((bulk("Li", "bcc", a=3.44, cubic=True).repeat(2), dict(sigma=2.7, epsilon=0.01, rc=5.0)),
             (bulk("Li", "bcc", a=3.44, cubic=True).repeat(3), dict(sigma=2.8, epsilon=0.05, rc=6.0)),
             (lpscl_unit_cell(), dict(sigma=1.6, epsilon=0.01, rc=4.0)))
    rng = np.random.default_rng(0)
    for atoms, parameters in cases:
        atoms.rattle(0.1, seed=1)
        ours, ases = atoms.copy(), atoms.copy()
        ours.calc, ases.calc = PairLJ(smooth=True, **parameters), LennardJones(smooth=True, **parameters)
        for _ in range(12):  # small moves (the pair list kept) and, summed, more than half the skin (found again)
            step = rng.normal(0, 0.05, atoms.positions.shape)
            ours.positions += step
            ases.positions += step
            assert np.isclose(ours.get_potential_energy(), ases.get_potential_energy(), rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(ours.get_forces(), ases.get_forces(), rtol=1e-10, atol=1e-13)
            np.testing.assert_allclose(ours.get_stress(), ases.get_stress(), rtol=1e-10, atol=1e-14)
