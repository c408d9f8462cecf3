"""The ZBL core repulsion: the literature's formula, exact derivatives, nothing where the potential has data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.calculator import PropertyNotImplementedError
from ase.calculators.fd import calculate_numerical_stress
from ase.io import read

from getsei_live.md.calculators import bundled_file, mace_calculator
from getsei_live.md.core_repulsion import CoreRepulsion, shortest_pair_distances


def zbl_by_hand(z1: int, z2: int, r: float) -> float:
    """Ziegler, Biersack and Littmark (1985), eq. 2-73/2-74, written out once more in eV and A."""
    a = 0.8854 * 0.529177 / (z1 ** 0.23 + z2 ** 0.23)  # 0.8854 a0, a0 = 0.529177 A
    x = r / a
    phi = (0.1818 * math.exp(-3.2 * x) + 0.5099 * math.exp(-0.9423 * x) + 0.2802 * math.exp(-0.4029 * x)
           + 0.02817 * math.exp(-0.2016 * x))
    return 14.399645 * z1 * z2 / r * phi


def dimer(a: str, b: str, r: float) -> Atoms:
    return Atoms(a + b, positions=[[5, 5, 5], [5 + r, 5, 5]], cell=[12, 12, 12], pbc=True)


@pytest.mark.parametrize(("pair", "z"), [("Li-Zr", (3, 40)), ("Li-Li", (3, 3)), ("O-La", (8, 57))])
def test_a_dimer_below_its_switch_has_the_zbl_energy_and_none_at_or_past_its_onset(pair, z):
    onset = 2.5
    calc = CoreRepulsion({pair: onset}, width_A=0.5)
    a, b = pair.split("-")
    for r in (0.8, 1.2, 1.9):
        atoms = dimer(a, b, r)
        atoms.calc = calc
        assert atoms.get_potential_energy() == pytest.approx(zbl_by_hand(*z, r), rel=2e-3)
    for r in (2.5, 2.6, 3.5):
        atoms = dimer(a, b, r)
        atoms.calc = calc
        assert atoms.get_potential_energy() == 0.0
        assert not atoms.get_forces().any()
    inside = dimer(a, b, 2.25)  # half way through the switch: half the ZBL energy (smootherstep at 1/2)
    inside.calc = calc
    assert inside.get_potential_energy() == pytest.approx(0.5 * zbl_by_hand(*z, 2.25), rel=2e-3)


def test_forces_and_stress_are_the_derivatives_of_the_energy():
    """Central differences of the energy in a periodic cell with pairs below, inside and past the switch."""
    rng = np.random.default_rng(3)
    atoms = Atoms("Li8Zr2O4", positions=rng.uniform(0, 5.0, (14, 3)), cell=[[5.0, 0, 0], [0.4, 5.2, 0], [0, 0.3, 4.9]],
                  pbc=True)
    atoms.calc = CoreRepulsion({"Li-Li": 2.2, "Li-Zr": 2.6, "Li-O": 2.0, "O-Zr": 2.1, "O-O": 2.6, "Zr-Zr": 3.0},
                               width_A=0.7)
    assert atoms.get_potential_energy() > 0
    forces = atoms.get_forces()
    h = 1e-5
    for i in range(len(atoms)):
        for k in range(3):
            energies = []
            for sign in (1, -1):
                moved = atoms.copy()
                moved.positions[i, k] += sign * h
                moved.calc = atoms.calc
                energies.append(moved.get_potential_energy())
            assert forces[i, k] == pytest.approx(-(energies[0] - energies[1]) / (2 * h), rel=1e-5, abs=1e-6)
    numerical = calculate_numerical_stress(atoms, eps=1e-6)
    assert atoms.get_stress() == pytest.approx(numerical, rel=1e-4, abs=1e-7)
    assert atoms.get_forces().sum(axis=0) == pytest.approx(np.zeros(3), abs=1e-9)


def test_bad_widths_and_onsets_are_refused():
    with pytest.raises(ValueError, match="'width_A' parameter must be positive"):
        CoreRepulsion({"Li-Li": 2.0}, width_A=0)
    with pytest.raises(ValueError, match="onset of Li-Li"):
        CoreRepulsion({"Li-Li": 0.4}, width_A=0.5)
    with pytest.raises(ValueError, match="two element symbols, as 'Li-Zr'. Got 'Li-Xx'"):
        CoreRepulsion({"Li-Xx": 2.0})
    with pytest.raises(PropertyNotImplementedError):
        atoms = dimer("Li", "Li", 1.0)
        atoms.calc = CoreRepulsion({"Li-Li": 2.0})
        atoms.calc.get_property("dipole", atoms)


def test_shortest_pair_distances_in_a_loop():
    """The onsets are the shortest distance of each element pair, checked against all pairs by hand."""
    rng = np.random.default_rng(0)
    frames = [Atoms("Li4O2", positions=rng.uniform(0, 4.0, (6, 3)), cell=[4.0, 4.0, 4.0], pbc=True) for _ in range(3)]
    shortest = shortest_pair_distances(frames, cutoff_A=3.0)
    by_hand: dict[str, float] = {"Li-Li": 3.0, "Li-O": 3.0, "O-O": 3.0}
    for atoms in frames:
        d = atoms.get_all_distances(mic=True)
        s = atoms.get_chemical_symbols()
        for i in range(6):
            for j in range(i + 1, 6):
                key = "-".join(sorted((s[i], s[j]), key=lambda e: e != "Li"))
                by_hand[key] = min(by_hand[key], d[i, j])
    assert shortest.keys() == by_hand.keys()
    for key, value in by_hand.items():
        assert value - 1e-3 <= shortest[key] <= value


def test_the_bundled_potential_is_unchanged_where_it_has_data_and_repels_below():
    """On its held-out frames the bundled calculator equals the bare model to the last digit (the onsets are the
    shortest distances there); a Li pushed 1.6 A from a Zr gets exactly the card's ZBL on top of the model."""
    calc = mace_calculator("bundled", device="cpu", dtype="float64")
    assert calc.core_repulsion is not None
    frames = read(bundled_file("bundled_mace_valid.extxyz.gz"), index=":", format="extxyz")
    for atoms in frames:
        energy, _, forces, _ = calc.core_repulsion.pair_terms(atoms)
        assert energy == 0.0 and not forces.any()

    atoms = min((f for f in frames if (f.numbers == 40).any()), key=len).copy()  # the smallest frame with Zr
    li, zr = np.flatnonzero(atoms.numbers == 3), np.flatnonzero(atoms.numbers == 40)
    atoms.positions[li[0]] = atoms.positions[zr[0]] + [1.6, 0, 0]
    atoms.calc = calc
    guarded = atoms.get_forces().copy()
    energy_guarded, stress_guarded = atoms.get_potential_energy(), atoms.get_stress()  # stress: mace-torch's path
    repulsion = calc.core_repulsion
    calc.core_repulsion = None
    try:
        calc.reset()
        bare, energy_bare, stress_bare = atoms.get_forces().copy(), atoms.get_potential_energy(), atoms.get_stress()
    finally:
        calc.core_repulsion = repulsion
    extra = repulsion.pair_terms(atoms)
    assert extra[0] > 1.0  # eV: a wall, not a nudge
    assert energy_guarded - energy_bare == pytest.approx(extra[0], abs=1e-8)
    np.testing.assert_allclose(guarded - bare, extra[2], atol=1e-8)
    np.testing.assert_allclose(stress_guarded - stress_bare,
                               (-extra[3] / atoms.get_volume()).flat[[0, 4, 8, 5, 2, 1]], atol=1e-9)
