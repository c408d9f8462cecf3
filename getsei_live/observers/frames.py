"""What the observer takes off the MD at one observation: a copy of the frame, enough to label it and restart."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms

__all__ = ["Frame"]


@dataclass(frozen=True, slots=True)
class Frame:
    """A copy of one MD frame at absolute step ``step``.

    Copying is all the MD thread does (tens of microseconds for a thousand
    atoms); labelling works on the copy, so the MD may move on meanwhile. The
    momenta make the frame a checkpoint the MD can be restarted from.
    """

    step: int
    numbers: np.ndarray
    positions: np.ndarray
    cell: np.ndarray
    pbc: np.ndarray
    momenta: np.ndarray

    @classmethod
    def capture(cls, atoms: Atoms, step: int) -> Frame:
        return cls(int(step), atoms.numbers.copy(), atoms.positions.copy(), atoms.cell.array.copy(),
                   np.array(atoms.pbc, dtype=bool), atoms.get_momenta())

    def atoms(self) -> Atoms:
        """The frame as ``ase.Atoms`` (positions, cell, periodicity; no calculator)."""
        return Atoms(numbers=self.numbers, positions=self.positions, cell=self.cell, pbc=self.pbc)

    def checkpoint(self) -> dict:
        """The store's checkpoint record of this frame."""
        return {"positions": self.positions, "momenta": self.momenta, "cell": self.cell, "numbers": self.numbers,
                "pbc": self.pbc, "step": self.step}
