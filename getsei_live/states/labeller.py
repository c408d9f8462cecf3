"""What the live observer needs of a state model: the ``Labeller`` protocol (``StateModel`` implements it)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
from ase import Atoms

__all__ = ["Labeller"]


@runtime_checkable
class Labeller(Protocol):
    """Labels every Li atom of a frame with a state number.

    Attributes
    ----------
    n_states : int
    fingerprint : str
        Equal labellers, equal fingerprints: a store refuses frames labelled by another one.
    """

    n_states: int
    fingerprint: str

    def check(self, atoms: Atoms) -> None:
        """Raise ``StructureError`` or ``FeatureSchemaError`` for a frame that cannot be labelled."""

    def assign(self, atoms: Atoms) -> np.ndarray:
        """(n_Li,) int8 state of every Li atom, in atom-index order."""

    def describe(self) -> dict:
        """What the store records of the labeller (JSON-ready): at least its fingerprint."""
