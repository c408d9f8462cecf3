"""What the live observer needs of a state model, declared: the ``Labeller`` protocol and the two it may also meet
(``StateModel`` meets all three).

- ``Labeller``: labels every Li of a frame. Enough to count transitions.
- ``FitLabeller``: also scores how well each Li environment fits the model's training data; the monitor then labels
  through ``assign_with_fit`` and the drift guard judges the ``states_fit`` condition.
- ``EnvironmentLabeller``: also measures the mean environment of each state's Li (``environments``, and in one
  graph build with the labels, ``label_with_environments``); checks then name states by what they hold, and a
  synchronous replay can label frames ahead on a second thread.

- ``DeviceLabeller``: can move to a device (``to(device)``); ``run`` moves it to the run's device.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
from ase import Atoms

__all__ = ["DeviceLabeller", "EnvironmentLabeller", "FitLabeller", "Labeller"]


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


@runtime_checkable
class FitLabeller(Labeller, Protocol):
    """A ``Labeller`` that also scores each Li environment against its training data (the drift guard's input).

    Attributes
    ----------
    fit_threshold : float
        Log-likelihood below which an environment counts as outside the training data (the 1st percentile of the
        training environments').
    """

    fit_threshold: float

    def assign_with_fit(self, atoms: Atoms) -> tuple[np.ndarray, np.ndarray]:
        """The states, as ``assign``, and the (n_Li,) log-likelihood of each Li environment."""


@runtime_checkable
class EnvironmentLabeller(FitLabeller, Protocol):
    """A ``FitLabeller`` that also measures the mean environment of each state's Li."""

    def environments(self, atoms: Atoms, labels: np.ndarray) -> dict:
        """The mean neighbour counts and distances of each state's Li in ``atoms`` (``Environments`` fields)."""

    def label_with_environments(self, atoms: Atoms) -> tuple[np.ndarray, np.ndarray, dict]:
        """``assign_with_fit`` and ``environments`` from one graph build."""


@runtime_checkable
class DeviceLabeller(Labeller, Protocol):
    """A ``Labeller`` that can move its computation to a device ("cpu", "cuda", "auto")."""

    def to(self, device: str) -> DeviceLabeller:
        """Move to ``device``; returns itself."""
