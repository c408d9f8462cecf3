"""What the observer takes off the MD: a copy of each frame (enough to label it and restart), the last one kept as
the checkpoint, and the binding to the ASE dynamics it comes from."""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from ..store.parts import MDCheckpoint

__all__ = ["CheckpointCapture", "DynamicsBinding", "Frame"]


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

    def checkpoint(self) -> MDCheckpoint:
        """The store's checkpoint record of this frame."""
        return MDCheckpoint(self.positions, self.momenta, self.cell, self.numbers, self.pbc, self.step)


class CheckpointCapture:
    """Keeps the last frame labelled, so that each flush commits a checkpoint the MD can restart from (as OpenMM's
    ``CheckpointReporter`` is kept apart from its data reporter)."""

    def __init__(self) -> None:
        self._frame: Frame | None = None

    def keep(self, frame: Frame | None) -> None:
        if frame is not None:
            self._frame = frame

    def record(self) -> MDCheckpoint | None:
        """The store's checkpoint record of the last frame kept; None before the first."""
        return self._frame.checkpoint() if self._frame is not None else None


class DynamicsBinding:
    """The ASE side of an observer: which dynamics, its step 0 as an absolute MD step, and how to end its run.

    Parameters
    ----------
    dyn : ase.md.MolecularDynamics
        Held weakly: a binding never keeps the dynamics alive.
    step_offset : int
        The absolute MD step of the dynamics' step 0 (the store's last committed step when resuming).
    """

    def __init__(self, dyn, step_offset: int) -> None:
        self._dyn = weakref.ref(dyn)
        self.step_offset = int(step_offset)

    def capture(self) -> Frame | None:
        """A copy of the dynamics' current frame; None when the dynamics is gone."""
        dyn = self._dyn()
        return None if dyn is None else Frame.capture(dyn.atoms, self.step_offset + dyn.nsteps)

    def planned_end(self) -> int | None:
        """The absolute MD step the current ``dyn.run`` is planned to end at (None when it is not known)."""
        dyn = self._dyn()
        steps = getattr(dyn, "max_steps", None) if dyn is not None else None
        return None if steps is None else self.step_offset + int(steps)

    def stop(self) -> int | None:
        """End ASE's ``run()`` cleanly after this step; the absolute step it ends at (None when it was ending)."""
        dyn = self._dyn()
        if dyn is None or dyn.max_steps <= dyn.nsteps:
            return None
        dyn.max_steps = dyn.nsteps
        return self.step_offset + dyn.nsteps
