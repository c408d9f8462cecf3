"""Reading trajectories with ase.io, with errors that name the file and the problem."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import read
from ase.io.formats import filetype

from ..errors import TrajectoryError, failure_text

__all__ = ["read_trajectory"]

log = logging.getLogger(__name__)


def _guess_format(path: Path) -> str | None:
    try:
        return filetype(str(path), guess=False)
    except Exception:
        return None


def _check_xyz_complete(path: Path, frames: list[Atoms]) -> None:
    """ASE drops a last frame cut off mid-way in (ext)xyz files without a word: count the lines instead."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as handle:
        lines = sum(1 for line in handle if line.strip())
    expected = sum(len(f) + 2 for f in frames)
    if lines > expected:
        raise TrajectoryError(
            f"{path} ends in the middle of frame {len(frames)} ({lines - expected} lines of a partial frame after "
            f"{len(frames)} complete ones): the file is truncated. Use index ':{len(frames)}' or repair the file."
        )


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
        hint = "" if format else "; name the format with --format if the file name does not say it"
        raise TrajectoryError(
            f"Cannot read {path} as a trajectory ({failure_text(error)}). The file may be truncated "
            f"(cut off mid-frame) or in another format{hint}."
        ) from None
    frames = frames if isinstance(frames, list) else [frames]
    if not frames:
        raise TrajectoryError(f"{path} holds no frames.")
    if index == ":" and (format or _guess_format(path)) in ("extxyz", "xyz"):
        _check_xyz_complete(path, frames)
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
