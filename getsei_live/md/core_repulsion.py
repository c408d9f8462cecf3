"""A screened nuclear repulsion (ZBL) where a machine-learned potential has no data.

A potential fitted to MD frames knows nothing of distances shorter than any its training saw; there it may as well
attract as repel, and an atom that wanders there can fall into another, release energy and heat the run until it
fails (the bundled demo potential did so on LLZO/Li: a Li settled 1.5 A from a Zr, two Li 0.46 A apart, then 2e8 K).
``CoreRepulsion`` adds the universal Ziegler-Biersack-Littmark pair repulsion below the shortest distance of each
element pair in the training data, switched on smoothly over ``width_A`` below that onset, and nothing at or beyond it:
where the model has data it is left exactly as it is. This is the inner-cutoff core repulsion of ACE potentials
(pacemaker) in its simplest form, added to the model rather than blended with it, since MACE is not a pair potential.

ZBL (Ziegler, Biersack, Littmark, *The Stopping and Range of Ions in Solids*, 1985):

    E(r) = k Zi Zj / r * phi(r / a),  a = 0.46850 A / (Zi^0.23 + Zj^0.23),  k = e^2 / (4 pi eps0) = 14.399645 eV A
    phi(x) = 0.18175 exp(-3.19980 x) + 0.50986 exp(-0.94229 x) + 0.28022 exp(-0.40290 x) + 0.02817 exp(-0.20162 x)

times the switch s(r) = 1 - t^3 (10 - 15 t + 6 t^2), t = (r - onset + width) / width, clipped to [0, 1]: its value,
slope and curvature are continuous, so energy is conserved across it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.data import atomic_numbers, chemical_symbols
from ase.stress import full_3x3_to_voigt_6_stress
from matscipy.neighbours import neighbour_list

__all__ = ["CoreRepulsion", "neighbour_cell", "shortest_pair_distances", "zbl_energy"]

COULOMB_EV_A = 14.399645
_PHI_C = np.array([0.18175, 0.50986, 0.28022, 0.02817])
_PHI_D = np.array([3.19980, 0.94229, 0.40290, 0.20162])


def zbl_energy(z1, z2, r_A) -> tuple[np.ndarray, np.ndarray]:
    """ZBL pair energy (eV) and its derivative dE/dr (eV/A) at distances ``r_A`` for atomic numbers ``z1``, ``z2``."""
    z1, z2, r = np.asarray(z1, float), np.asarray(z2, float), np.asarray(r_A, float)
    a = 0.46850 / (z1 ** 0.23 + z2 ** 0.23)
    x = (r / a)[..., None]
    terms = _PHI_C * np.exp(-_PHI_D * x)
    phi, dphi = terms.sum(-1), -(_PHI_D * terms).sum(-1)
    prefactor = COULOMB_EV_A * z1 * z2
    return prefactor * phi / r, prefactor * (dphi / (a * r) - phi / r ** 2)


def neighbour_cell(atoms: Atoms, cutoff_A: float) -> tuple[np.ndarray, np.ndarray]:
    """The cell and periodicity to give matscipy's neighbour list: a direction without periodicity gets a cell vector
    far longer than the structure (the shifts along it are 0), so that structures without a cell work too."""
    cell, pbc = np.array(atoms.cell.array, dtype=float), np.asarray(atoms.pbc, dtype=bool)
    if not pbc.all():
        span = 5 * cutoff_A * (np.abs(atoms.positions).max() + 1)
        cell[~pbc] = span * np.eye(3)[~pbc]
    return cell, pbc


def _switch(r, onset, width) -> tuple[np.ndarray, np.ndarray]:
    t = np.clip((r - (onset - width)) / width, 0.0, 1.0)
    return 1 - t ** 3 * (10 - 15 * t + 6 * t ** 2), -30 * t ** 2 * (1 - t) ** 2 / width


def shortest_pair_distances(frames: Iterable[Atoms], cutoff_A: float) -> dict[str, float]:
    """The shortest distance (A) of each element pair over ``frames``, as ``{"Li-Zr": 2.57, ...}``; pairs never closer
    than ``cutoff_A`` get ``cutoff_A``. Rounded down to 0.001 A; keys put the lighter element first."""
    shortest: dict[tuple[int, int], float] = {}
    elements: set[int] = set()
    for atoms in frames:
        elements |= set(int(z) for z in atoms.numbers)
        i, j, d = neighbour_list("ijd", atoms, cutoff_A)
        zi, zj = np.minimum(atoms.numbers[i], atoms.numbers[j]), np.maximum(atoms.numbers[i], atoms.numbers[j])
        for pair in set(zip(zi.tolist(), zj.tolist())):
            mask = (zi == pair[0]) & (zj == pair[1])
            shortest[pair] = min(shortest.get(pair, cutoff_A), float(d[mask].min()))
    zs = sorted(elements)
    return {f"{chemical_symbols[a]}-{chemical_symbols[b]}": math.floor(1000 * shortest.get((a, b), cutoff_A)) / 1000
            for k, a in enumerate(zs) for b in zs[k:]}


class CoreRepulsion(Calculator):
    """ZBL repulsion below each element pair's onset distance, switched off smoothly over ``width_A`` below it.

    ``onsets_A`` maps "A-B" element pairs to the distance (A) from which the potential it guards has data (see
    ``shortest_pair_distances``); a pair not in it gets no repulsion. Energy, forces and stress are exact derivatives
    of one another. Used alone it is an ASE calculator; ``MDCalculator`` adds it to a MACE model's results.
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]

    def __init__(self, onsets_A: Mapping[str, float], width_A: float = 0.5, **kwargs) -> None:
        super().__init__(**kwargs)
        if not width_A > 0:
            raise ValueError(f"The 'width_A' parameter must be positive. Got {width_A} instead.")
        self.width_A = float(width_A)
        self.onsets_A: dict[tuple[int, int], float] = {}
        for name, onset in onsets_A.items():
            symbols = name.split("-")
            if len(symbols) != 2 or not all(s in atomic_numbers for s in symbols):
                raise ValueError(f"An onset is keyed by two element symbols, as 'Li-Zr'. Got {name!r} instead.")
            a, b = (atomic_numbers[s] for s in symbols)
            if not onset > width_A:
                raise ValueError(f"The onset of {name} ({onset} A) must exceed 'width_A' ({width_A} A).")
            self.onsets_A[(a, b)] = self.onsets_A[(b, a)] = float(onset)
        # each pair's onset by atomic numbers (0: no repulsion), and the neighbour list's cut-offs for the elements
        # of the last structure asked about (MD asks about the same atoms every step)
        size = max((z for pair in self.onsets_A for z in pair), default=0) + 1
        self._onset_table = np.zeros((size, size))
        for (a, b), onset in self.onsets_A.items():
            self._onset_table[a, b] = onset
        self._cutoffs: tuple[np.ndarray, dict] | None = None

    def __repr__(self) -> str:
        pairs = ", ".join(f"{chemical_symbols[a]}-{chemical_symbols[b]} {r:.2f}" for (a, b), r in self.onsets_A.items()
                          if a <= b)
        return f"CoreRepulsion(width_A={self.width_A}, onsets_A: {pairs})"

    def pair_terms(self, atoms: Atoms) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
        """Energy (eV), per-atom energies (eV), forces (eV/A) and virial (eV) of the repulsion in ``atoms``."""
        n = len(atoms)
        cutoffs = self._cutoffs_for(atoms.numbers)
        if not cutoffs:
            return 0.0, np.zeros(n), np.zeros((n, 3)), np.zeros((3, 3))
        cell, pbc = neighbour_cell(atoms, max(cutoffs.values()))
        i, j, d, vec = neighbour_list("ijdD", positions=atoms.positions, cell=cell, pbc=pbc,
                                      numbers=atoms.numbers.astype(np.int32), cutoff=cutoffs)
        keep = i < j  # matscipy lists each pair from both ends
        i, j, d, vec = i[keep], j[keep], d[keep], vec[keep]
        zi, zj = atoms.numbers[i], atoms.numbers[j]
        onset = self._onset_table[zi, zj]
        e, de = zbl_energy(zi, zj, d)
        s, ds = _switch(d, onset, self.width_A)
        pair_e, dpair = s * e, ds * e + s * de
        per_atom = np.zeros(n)
        np.add.at(per_atom, i, pair_e / 2)
        np.add.at(per_atom, j, pair_e / 2)
        along = (dpair / d)[:, None] * vec  # dE/d(r_j - r_i)
        forces = np.zeros((n, 3))
        np.add.at(forces, i, along)
        np.add.at(forces, j, -along)
        virial = -vec.T @ along
        return float(pair_e.sum()), per_atom, forces, virial

    def _cutoffs_for(self, numbers: np.ndarray) -> dict[tuple[int, int], float]:
        """The onsets of the element pairs present in ``numbers``, kept for the next call with the same atoms."""
        cached = self._cutoffs
        if cached is None or not np.array_equal(cached[0], numbers):
            present = set(np.unique(numbers).tolist())
            self._cutoffs = cached = (numbers.copy(), {pair: r for pair, r in self.onsets_A.items()
                                                       if pair[0] in present and pair[1] in present})
        return cached[1]

    @staticmethod
    def stress(virial: np.ndarray, atoms: Atoms) -> np.ndarray:
        """The Voigt stress (eV/A^3, ASE's order) of a ``virial`` in ``atoms``; zero without a full cell."""
        if atoms.cell.rank < 3:
            return np.zeros(6)
        return full_3x3_to_voigt_6_stress(-virial / atoms.get_volume())

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        energy, per_atom, forces, virial = self.pair_terms(self.atoms)
        self.results = {"energy": energy, "free_energy": energy, "energies": per_atom, "forces": forces,
                        "stress": self.stress(virial, self.atoms)}
