"""Solid-electrolyte / Li-metal interfaces of the paper built from crystallographic data.

Bulk phases come from their space groups and Wyckoff positions (facts,
written here): ordered Li6PS5Cl (F-43m), Li10GeP2S12 (P4_2/nmc, Li and Ge/P
partial occupancies ordered deterministically), tetragonal Li7La3Zr2O12
(I4_1/acd) and bcc Li. An interface stacks whole unit cells of the electrolyte
with a (100) bcc Li slab strained laterally to the electrolyte's cell (the
strain is reported), either periodically (Li touches the electrolyte on both
sides) or with vacuum.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.neighborlist import neighbor_list
from ase.spacegroup import crystal

from ..errors import ParameterError, StructureError

__all__ = ["SYSTEMS", "SIZES", "Interface", "build_interface", "electrolyte_cell", "li_bcc"]

log = logging.getLogger(__name__)

LI_BCC_A = 3.44  # A, bcc Li lattice constant used for the metal slab

SYSTEMS = ("lpscl-li", "lgps-li", "llzo-li")
SIZES = ("small", "demo", "paper")

# (electrolyte repeats (nx, ny, nz), Li conventional cells (mx, my, mz)) for each system and size.
LAYOUT = {
    "lpscl-li": {"small": ((1, 1, 1), (3, 3, 2)), "demo": ((1, 1, 2), (3, 3, 3)), "paper": ((3, 3, 2), (9, 9, 12))},
    "lgps-li": {"small": ((2, 2, 1), (5, 5, 1)), "demo": ((2, 2, 1), (5, 5, 2)), "paper": ((2, 2, 2), (5, 5, 16))},
    "llzo-li": {"small": ((1, 1, 1), (4, 4, 1)), "demo": ((1, 1, 1), (4, 4, 2)), "paper": ((1, 1, 2), (4, 4, 24))},
}
#: The paper's systems, for comparison in the builder's report.
PAPER = {"lpscl-li": (2960, (27.04, 27.92, 95.22)), "lgps-li": (1200, (17.38, 17.20, 96.95)),
         "llzo-li": (1167, (18.47, 18.48, 71.79))}


def li_bcc(a: float = LI_BCC_A) -> Atoms:
    """Conventional bcc Li cell (2 atoms)."""
    return bulk("Li", "bcc", a=a, cubic=True)


def _lpscl() -> Atoms:
    """Ordered Li6PS5Cl, F-43m (216), a = 10.2795 A, 52 atoms."""
    return crystal(["Li", "P", "S", "S", "Cl"],
                   basis=[(0.02311, 0.25, 0.25), (0.5, 0.5, 0.5), (0.61552, 0.61552, 0.61552), (0.25, 0.25, 0.25),
                          (0.0, 0.0, 0.0)],
                   spacegroup=216, cellpar=[10.2795, 10.2795, 10.2795, 90, 90, 90])


def _lgps() -> Atoms:
    """Li10GeP2S12, P4_2/nmc (137, origin choice 1), a = 8.694, c = 12.599 A, ordered to Li20Ge2P4S24 (50 atoms).

    The 4d Ge/P site (Ge 0.515) gets Ge on one site of each pair; of the partly
    occupied Li sites (16h, occupancy 0.691, and 8f, 0.643) 16 are kept, chosen
    greedily so that no two kept Li are closer than 2.2 A.
    """
    sites = crystal(["Li", "Ge", "P", "S", "S", "S", "Li", "Li"],
                    basis=[(0, 0.5, 0.0554), (0, 0.5, 0.3093), (0, 0, 0.5), (0, 0.1843, 0.5897), (0, 0.2991, 0.905),
                           (0, 0.301, 0.2086), (0.2282, 0.2437, 0.3168), (0.2463, 0.2463, 0.0)],
                    spacegroup=137, setting=1, cellpar=[8.69407, 8.69407, 12.5994, 90, 90, 90])
    kinds = sites.get_array("spacegroup_kinds")
    full_li = kinds == 0
    mixed = np.flatnonzero(kinds == 1)
    partial = [np.flatnonzero(kinds == 6), np.flatnonzero(kinds == 7)]  # 16h (0.691), then 8f (0.643)
    keep = list(np.flatnonzero(full_li | (kinds >= 2) & (kinds <= 5)))
    numbers = sites.numbers.copy()
    numbers[mixed] = 15
    numbers[mixed[[0, 3]]] = 32  # one Ge in each of the two 4d pairs
    keep += list(mixed)
    chosen: list[int] = []
    for index in np.concatenate(partial):
        if len(chosen) == 16:
            break
        if all(sites.get_distance(index, other, mic=True) >= 2.2 for other in chosen):
            chosen.append(int(index))
    if len(chosen) != 16:
        raise StructureError(f"Could not order the LGPS Li sites ({len(chosen)} of 16 placed).")
    keep += chosen
    atoms = Atoms(numbers=numbers[sorted(keep)], scaled_positions=sites.get_scaled_positions()[sorted(keep)],
                  cell=sites.cell, pbc=True)
    return atoms


def _llzo() -> Atoms:
    """Tetragonal Li7La3Zr2O12, I4_1/acd (142, origin choice 1), a = 13.236, c = 12.702 A, 192 atoms."""
    return crystal(["Li", "Li", "Li", "La", "La", "Zr", "O", "O", "O"],
                   basis=[(0.0805155, 0.1624655, 0.9308565), (0.181211, 0.181211, 0.75), (0, 0, 0),
                          (0.12737, 0.25, 0.375), (0, 0, 0.25), (0, 0.25, 0.125), (0.034616, 0.694517, 0.471296),
                          (0.054963, 0.102443, 0.090667), (0.150823, 0.223227, 0.571236)],
                   spacegroup=142, setting=1, cellpar=[13.23607, 13.23607, 12.701706, 90, 90, 90])


_BUILDERS = {"lpscl-li": _lpscl, "lgps-li": _lgps, "llzo-li": _llzo}


def electrolyte_cell(system: str) -> Atoms:
    """The ordered bulk unit cell of the electrolyte of ``system``."""
    if system not in _BUILDERS:
        raise ParameterError.of("system", f"must be one of {', '.join(SYSTEMS)}. Got {system!r} instead.")
    atoms = _BUILDERS[system]()
    for name in ("spacegroup_kinds",):
        if name in atoms.arrays:
            del atoms.arrays[name]
    atoms.info.clear()
    return atoms


@dataclass(frozen=True, slots=True)
class Interface:
    """A built interface and how it was made.

    Attributes
    ----------
    atoms : ase.Atoms
    system, size : str
    lateral_strain_percent : tuple of float
        Strain applied to the Li slab along a and b to fit the electrolyte cell.
    min_distance_A : float
        Closest pair of atoms.
    n_electrolyte, n_metal : int
        Atoms in the electrolyte and in the Li slab.
    """

    atoms: Atoms
    system: str
    size: str
    lateral_strain_percent: tuple[float, float]
    min_distance_A: float
    n_electrolyte: int
    n_metal: int

    def describe(self) -> str:
        a, b, c = self.atoms.cell.lengths()
        text = (f"{self.system} ({self.size}): {len(self.atoms)} atoms {self.atoms.get_chemical_formula()}, "
                f"cell {a:.2f} x {b:.2f} x {c:.2f} A; electrolyte {self.n_electrolyte} atoms, Li slab "
                f"{self.n_metal} atoms strained {self.lateral_strain_percent[0]:+.2f}% / "
                f"{self.lateral_strain_percent[1]:+.2f}%; closest atoms {self.min_distance_A:.2f} A")
        if self.size == "paper":
            n, cell = PAPER[self.system]
            text += f" (paper: {n} atoms, {cell[0]} x {cell[1]} x {cell[2]} A)"
        return text


def build_interface(system: str, size: str = "demo", *, vacuum_A: float | None = None, gap_A: float = 2.0,
                    min_distance_A: float = 1.5, metal_cells: int | None = None) -> Interface:
    """Stack electrolyte unit cells and a strained bcc Li slab along z.

    Parameters
    ----------
    system : {"lpscl-li", "lgps-li", "llzo-li"}
    size : {"small", "demo", "paper"}
        "small" (at most ~250 atoms, for fitting potentials), "demo" (a few hundred atoms) or "paper"
        (close to the paper's atom counts; the paper's exact cells are not unit-cell multiples).
    vacuum_A : float, optional
        Vacuum above the Li slab; None (default) stacks periodically, so the Li slab touches the
        electrolyte on both sides.
    gap_A : float, default 2.0
        Distance between the last electrolyte plane and the first Li plane (and back, periodically).
    min_distance_A : float, default 1.5
        No two atoms may end up closer than this; otherwise StructureError.
    metal_cells : int, optional
        Conventional bcc Li cells (3.44 A each) of the Li slab along z, instead of the size's: a thicker slab keeps
        Li metal where the electrolyte takes up Li.
    """
    if system not in LAYOUT:
        raise ParameterError.of("system", f"must be one of {', '.join(SYSTEMS)}. Got {system!r} instead.")
    if size not in SIZES:
        raise ParameterError.of("size", f"must be one of {', '.join(SIZES)}. Got {size!r} instead.")
    if vacuum_A is not None and vacuum_A < 0:
        raise ParameterError.of("vacuum_A", f"must be >= 0 or None. Got {vacuum_A!r} instead.")
    if not gap_A > 0:
        raise ParameterError.of("gap_A", f"must be positive. Got {gap_A!r} instead.")
    if metal_cells is not None and not (isinstance(metal_cells, int) and metal_cells >= 1):
        raise ParameterError.of("metal_cells", f"must be a whole number >= 1. Got {metal_cells!r} instead.")
    (nx, ny, nz), (mx, my, mz) = LAYOUT[system][size]
    mz = mz if metal_cells is None else metal_cells
    sse = electrolyte_cell(system).repeat((nx, ny, nz))
    sse.wrap()
    metal = li_bcc().repeat((mx, my, mz))
    a_sse, b_sse = sse.cell.lengths()[:2]
    a_li, b_li = metal.cell.lengths()[:2]
    strain = (100 * (a_sse / a_li - 1), 100 * (b_sse / b_li - 1))
    metal.set_cell([a_sse, b_sse, metal.cell.lengths()[2]], scale_atoms=True)

    z_sse = sse.positions[:, 2]
    z_li = metal.positions[:, 2]
    sse.positions[:, 2] -= z_sse.min()
    metal.positions[:, 2] += sse.positions[:, 2].max() + gap_A - z_li.min()
    top = metal.positions[:, 2].max()
    height = top + (gap_A if vacuum_A is None else vacuum_A)
    atoms = Atoms(cell=[a_sse, b_sse, height], pbc=[True, True, vacuum_A is None])
    atoms += sse
    atoms += metal
    atoms.pbc = [True, True, True] if vacuum_A is None else [True, True, False]
    i, j, d = neighbor_list("ijd", atoms, min_distance_A)
    closest = float(neighbor_list("d", atoms, 3.0).min())
    if d.size:
        raise StructureError(f"Atoms {i[0]} and {j[0]} are {d.min():.2f} A apart in the {system} interface, closer "
                             f"than {min_distance_A} A; increase gap_A.")
    interface = Interface(atoms, system, size, strain, closest, len(sse), len(metal))
    log.info(interface.describe())
    return interface
