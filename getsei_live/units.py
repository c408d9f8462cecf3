"""Units and constants used across the package: one place for MD steps and frames to picoseconds and for lithium."""

from __future__ import annotations

import math

from .errors import ParameterError

__all__ = ["LI", "frames_at_least", "steps_to_ps"]

#: Atomic number of lithium, the atoms whose environments are labelled.
LI = 3


def steps_to_ps(steps, timestep_fs: float):
    """Time in ps of ``steps`` MD steps (a number or an array) of ``timestep_fs`` femtoseconds."""
    return steps * float(timestep_fs) / 1000.0


def frames_at_least(time_ps: object, frame_dt_ps: float, name: str) -> int:
    """The fewest whole frames ``frame_dt_ps`` apart that last at least ``time_ps`` (>= 0), or a ParameterError
    naming the parameter ``name``."""
    if isinstance(time_ps, bool) or not isinstance(time_ps, (int, float)) or not time_ps >= 0 \
            or not math.isfinite(time_ps):
        raise ParameterError.of(name, f"must be a time in ps >= 0. Got {time_ps!r} instead.")
    return math.ceil(float(time_ps) / frame_dt_ps - 1e-6)
