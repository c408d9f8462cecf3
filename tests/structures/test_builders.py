"""Interface builders: compositions from the formulas, sane distances, the requested stacking."""

from __future__ import annotations

from collections import Counter

import pytest
from ase.neighborlist import neighbor_list

from getsei_live.errors import ParameterError
from getsei_live.structures.builders import SIZES, SYSTEMS, build_interface, electrolyte_cell

FORMULA_UNITS = {"lpscl-li": ({"Li": 6, "P": 1, "S": 5, "Cl": 1}, 4), "lgps-li": ({"Li": 10, "Ge": 1, "P": 2, "S": 12}, 2),
                 "llzo-li": ({"Li": 7, "La": 3, "Zr": 2, "O": 12}, 8)}


@pytest.mark.parametrize("system", SYSTEMS)
def test_electrolyte_cells_have_the_formula(system):
    cell = electrolyte_cell(system)
    formula, z = FORMULA_UNITS[system]
    assert Counter(cell.get_chemical_symbols()) == {e: n * z for e, n in formula.items()}
    assert neighbor_list("d", cell, 1.85).size == 0  # no two atoms closer than 1.85 A


@pytest.mark.parametrize("system", SYSTEMS)
@pytest.mark.parametrize("size", SIZES)
def test_interfaces(system, size):
    interface = build_interface(system, size)
    atoms = interface.atoms
    formula, z = FORMULA_UNITS[system]
    counts = Counter(atoms.get_chemical_symbols())
    n_cells = interface.n_electrolyte // sum(n * z for n in formula.values())
    expected = {e: n * z * n_cells for e, n in formula.items()}
    expected["Li"] += interface.n_metal
    assert counts == expected
    assert neighbor_list("d", atoms, 1.5).size == 0 and interface.min_distance_A >= 1.5
    assert max(abs(s) for s in interface.lateral_strain_percent) < 5
    assert all(atoms.pbc)
    metal = atoms[interface.n_electrolyte:]
    assert set(metal.get_chemical_symbols()) == {"Li"}
    assert metal.positions[:, 2].min() > atoms[: interface.n_electrolyte].positions[:, 2].max()


def test_sizes_grow_to_the_papers():
    assert len(build_interface("lpscl-li", "demo").atoms) < 400
    assert len(build_interface("lgps-li", "paper").atoms) == 1200
    assert abs(len(build_interface("lpscl-li", "paper").atoms) - 2960) < 200


def test_vacuum():
    periodic = build_interface("lpscl-li", "demo")
    slab = build_interface("lpscl-li", "demo", vacuum_A=15.0)
    assert list(slab.atoms.pbc) == [True, True, False]
    assert slab.atoms.cell[2, 2] == pytest.approx(periodic.atoms.cell[2, 2] - 2.0 + 15.0)


def test_a_thicker_li_slab():
    """Each bcc cell more along z adds two Li planes of mx x my atoms and 3.44 A (strained in-plane only)."""
    demo = build_interface("llzo-li", "demo")
    thick = build_interface("llzo-li", "demo", metal_cells=6)
    per_cell = demo.n_metal // 2  # the demo's llzo-li slab is 2 cells thick
    assert thick.n_metal == 6 * per_cell and thick.n_electrolyte == demo.n_electrolyte
    assert thick.atoms.cell[2, 2] == pytest.approx(demo.atoms.cell[2, 2] + 4 * 3.44)


@pytest.mark.parametrize(("kwargs", "message"), [({"system": "nacl-li"}, "'system' parameter"),
                                                 ({"size": "huge"}, "'size' parameter"),
                                                 ({"gap_A": -1}, "'gap_A' parameter"),
                                                 ({"metal_cells": 0}, "'metal_cells' parameter")])
def test_bad_builder_parameters(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        build_interface(**{"system": "lpscl-li", **kwargs})
