"""Units and constants used across the package: one place for MD steps to picoseconds and for lithium."""

from __future__ import annotations

__all__ = ["LI", "steps_to_ps"]

#: Atomic number of lithium, the atoms whose environments are labelled.
LI = 3


def steps_to_ps(steps, timestep_fs: float):
    """Time in ps of ``steps`` MD steps (a number or an array) of ``timestep_fs`` femtoseconds."""
    return steps * float(timestep_fs) / 1000.0
