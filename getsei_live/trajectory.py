"""Reading trajectories with ase.io, with errors that name the file and the problem."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import read

from .errors import TrajectoryError

__all__ = ["read_trajectory"]

log = logging.getLogger(__name__)


def read_trajectory(path: str | Path, *, index: str = ":", format: str | None = None) -> list[Atoms]:
    """All frames of a trajectory in any format ``ase.io`` reads (extxyz, .traj, XDATCAR, gzip too).

    Parameters
    ----------
    path : str or Path
    index : str, default ":"
        ASE frame selection, e.g. "::5".
    format : str, optional
        ASE format name when the file name does not tell it.

    Returns
    -------
    list of ase.Atoms
        Frames with the same atoms in the same order.
    """
    path = Path(path)
    if not path.is_file():
        raise TrajectoryError(f"No trajectory file at {path}.")
    if path.stat().st_size == 0:
        raise TrajectoryError(f"{path} is empty.")
    try:
        frames = read(path, index=index, format=format)
    except Exception as error:  # ase raises many types for unreadable or truncated files
        hint = "" if format else " Name the format with --format if the file name does not say it."
        raise TrajectoryError(f"Cannot read {path} as a trajectory: {type(error).__name__}: {error}.{hint}") from None
    frames = frames if isinstance(frames, list) else [frames]
    if not frames:
        raise TrajectoryError(f"{path} holds no frames.")
    numbers = frames[0].numbers
    for k, frame in enumerate(frames[1:], start=1):
        if len(frame) != len(numbers) or not np.array_equal(frame.numbers, numbers):
            raise TrajectoryError(
                f"{path}: frame {k} has {len(frame)} atoms ({frame.get_chemical_formula()}) where frame 0 has "
                f"{len(numbers)} ({frames[0].get_chemical_formula()}) or a different order; a trajectory must keep "
                f"the same atoms in the same order."
            )
    log.info("Read %d frames of %d atoms from %s.", len(frames), len(numbers), path)
    return frames
