"""Langevin MD that starts at its temperature: a relaxed structure gets velocities at twice it, since half the
kinetic energy flows into the potential energy at once (equipartition)."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.lj import LennardJones
from helpers import PairLJ, lpscl_unit_cell, soft_lj

from getsei_live import attach
from getsei_live.errors import MDFailedError
from getsei_live.md.dynamics import TemperatureGuard, langevin, relax, start_at_temperature
from getsei_live.store.run_store import RunStore


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


class HalfLabels:
    """Two states: which half of the cell along x a Li is in."""

    n_states, fingerprint = 2, "half-of-the-cell"

    def check(self, atoms) -> None:
        pass

    def describe(self) -> dict:
        return {"fingerprint": self.fingerprint}

    def assign(self, atoms) -> np.ndarray:
        return (atoms.get_scaled_positions()[:, 0] % 1 >= 0.5).astype(np.int8)


def test_a_runaway_md_stops_before_its_frames_reach_the_store(tmp_path):
    """A potential that fails (here: Lennard-Jones 100 times too strong, two atoms pushed 1 A apart, a 2 fs step)
    sends the temperature to many times the thermostat's; the guard raises at the first observed frame past 3 x,
    and that frame and every later one stay out of the store, which says why it stopped."""
    atoms = bulk("Li", "bcc", a=3.44, cubic=True).repeat(3)
    atoms.positions[1] = atoms.positions[0] + [1.0, 0.0, 0.0]
    atoms.calc = PairLJ(sigma=2.7, epsilon=1.0, rc=5.0, smooth=True)
    dyn = langevin(atoms, temperature_K=300.0, timestep_fs=2.0, coupling_time_ps=0.5, seed=1)
    temperatures = []
    dyn.attach(lambda: temperatures.append(atoms.get_temperature()), interval=5)
    guard = TemperatureGuard(atoms, dyn, 300.0)
    dyn.attach(guard, interval=5)
    monitor = attach(dyn, HalfLabels(), store=tmp_path / "run.zarr", interval_steps=5, lags_ps=(0.01,), core_ps=0)
    with pytest.raises(MDFailedError, match=r"The MD failed at step (\d+): its temperature reached"):
        with monitor:
            dyn.run(200)
    failed_at = 5 * (len(temperatures) - 1)
    assert temperatures[-1] > 3 * 300 and all(t <= 3 * 300 for t in temperatures[1:-1])
    store = RunStore.open(tmp_path / "run.zarr")
    assert store.committed_frames == len(temperatures) - 1, "every frame before the failure, none after"
    assert store.status == "interrupted" and f"The MD failed at step {failed_at}" in store.stop_reason


def test_the_guard_leaves_a_sound_run_alone_and_allows_few_atoms_their_fluctuations():
    atoms = bulk("Cu", "fcc", a=2.3, cubic=True).repeat(3)
    atoms.calc = soft_lj()
    dyn = langevin(atoms, temperature_K=300.0, timestep_fs=2.0, coupling_time_ps=0.5, seed=1)
    dyn.attach(TemperatureGuard(atoms, dyn, 300.0), interval=1)
    dyn.run(300)
    assert TemperatureGuard(atoms[:8], dyn, 300.0).factor == pytest.approx(1 + 10 * np.sqrt(2 / 24))
    assert TemperatureGuard(atoms, dyn, 300.0).factor == 3.0
