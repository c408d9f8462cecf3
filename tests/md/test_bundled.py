"""The bundled MACE potential and the pretrained demo state model: they load, give sane numbers, run stable MD."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase.neighborlist import neighbor_list
from conftest import LPSCL_416

from getsei_live.md.calculators import bundled_file, mace_calculator
from getsei_live.md.dynamics import langevin
from getsei_live.states.model import StateModel
from getsei_live.structures.builders import SYSTEMS, build_interface


@pytest.fixture(scope="module")
def calculator():
    return mace_calculator("bundled", device="cpu", dtype="float32")


def test_model_card_matches_the_file():
    card = json.loads(bundled_file("bundled_mace.json").read_text())
    assert set(card["elements"]) >= {"Li", "P", "S", "Cl", "Ge", "La", "Zr", "O"}
    assert card["validation"]["force_mae_eV_per_A"] > 0
    assert bundled_file("bundled_mace.model").stat().st_size < 5 * 2**20


def test_the_cards_errors_against_the_teacher_reproduce_on_the_held_out_frames():
    """The card's force and energy errors, recomputed in a plain loop from the shipped held-out frames (CHGNet's
    energies and forces), and no worse than 20% above the first bundled model's forces (0.107 eV/A RMSE)."""
    from ase.io import read

    card = json.loads(bundled_file("bundled_mace.json").read_text())
    frames = read(bundled_file("bundled_mace_valid.extxyz.gz"), index=":", format="extxyz")
    assert len(frames) == card["training_data"]["validation_frames"]
    calc = mace_calculator("bundled", device="cpu", dtype="float64")
    squared, n, energy = 0.0, 0, []
    for atoms in frames:
        reference, ref_energy = atoms.arrays["REF_forces"].copy(), atoms.info["REF_energy"]
        atoms.calc = calc
        squared += float(((atoms.get_forces() - reference) ** 2).sum())
        n += reference.size
        energy.append(abs(atoms.get_potential_energy() - ref_energy) / len(atoms))
    force_rmse = (squared / n) ** 0.5
    assert force_rmse == pytest.approx(card["validation"]["force_rmse_eV_per_A"], rel=1e-4)
    assert 1e3 * np.mean(energy) == pytest.approx(card["validation"]["energy_mae_meV_per_atom"], rel=1e-4)
    assert force_rmse <= 1.2 * 0.1073


@pytest.mark.parametrize("system", SYSTEMS)
def test_finite_energies_and_forces_on_each_demo_interface(calculator, system):
    atoms = build_interface(system, "demo").atoms
    atoms.calc = calculator
    energy = atoms.get_potential_energy()
    forces = atoms.get_forces()
    assert np.isfinite(energy) and np.all(np.isfinite(forces))
    assert np.abs(forces.sum(axis=0)).max() < 1e-2 * len(atoms)  # no net force beyond float32 noise
    assert np.abs(forces).max() < 50.0


@pytest.mark.slow
def test_short_md_stays_stable(calculator):
    atoms = build_interface("lpscl-li", "demo").atoms
    atoms.calc = calculator
    dyn = langevin(atoms, temperature_K=700, timestep_fs=2.0, coupling_time_ps=0.5, seed=0)
    temperatures, closest = [], []

    def watch():
        temperatures.append(atoms.get_temperature())
        closest.append(neighbor_list("d", atoms, 2.0).min(initial=2.0))

    dyn.attach(watch, interval=10)
    dyn.run(300)
    print(f"300 steps at 700 K: T {min(temperatures):.0f}-{max(temperatures):.0f} K, closest pair {min(closest):.2f} A")
    assert min(closest) > 1.2
    assert max(temperatures[5:]) < 1400


def test_demo_state_model_labels_each_interface():
    model = StateModel.load(bundled_file("demo_states.pt"))
    assert model.n_states == 6
    for system in SYSTEMS:
        atoms = build_interface(system, "demo").atoms
        labels = model.assign(atoms)
        assert labels.shape == ((atoms.numbers == 3).sum(),)
        assert labels.min() >= 0 and labels.max() < 6


def test_md_calculator_short_path_equals_mace_torch_calculator():
    """The MD calculator's energy and forces without stress equal mace-torch's own calculator on the same model, plus
    the core repulsion
    (the demo interfaces, the real 416-atom Li6PS5Cl cell when ../shared is there, and a cluster without
    periodicity); a stress request takes mace-torch's path and gives its numbers."""
    from ase.io import read
    from mace.calculators import MACECalculator

    from getsei_live.md.potential_file import load_mace_model

    ours = mace_calculator("bundled", device="cpu", dtype="float64")
    assert ours.short_path
    reference = MACECalculator(models=load_mace_model(bundled_file("bundled_mace.model"), device="cpu"),
                               device="cpu", default_dtype="float64")
    structures = [build_interface(system, "demo").atoms for system in SYSTEMS]
    if LPSCL_416.exists():
        structures.append(read(LPSCL_416, format="vasp"))
    cluster = structures[0][:40].copy()
    cluster.pbc = False
    cluster.cell = [0, 0, 0]
    structures.append(cluster)
    for atoms in structures:
        atoms.calc = reference
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        stress = atoms.get_stress() if atoms.pbc.all() else None
        # the bundled potential's core repulsion comes on top (zero where no pair is closer than in its data)
        extra_energy, _, extra_forces, virial = ours.core_repulsion.pair_terms(atoms)
        atoms.calc = ours
        assert atoms.get_potential_energy() == pytest.approx(energy + extra_energy, rel=1e-12, abs=1e-9)
        np.testing.assert_allclose(atoms.get_forces(), forces + extra_forces, rtol=0, atol=1e-9)
        if stress is not None:
            extra_stress = (-virial / atoms.get_volume()).flat[[0, 4, 8, 5, 2, 1]]
            np.testing.assert_allclose(atoms.get_stress(), stress + extra_stress, rtol=0, atol=1e-9)
    with pytest.raises(Exception, match="no parameters for atomic numbers \\[79\\]"):
        gold = structures[0].copy()
        gold.numbers[0] = 79
        gold.calc = ours
        gold.get_forces()
