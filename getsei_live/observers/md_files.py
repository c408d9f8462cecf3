"""The MD's own files beside the store: an ASE trajectory and an ``MDLogger`` log, continued on resume without a
frame or a line twice.

Both count MD steps from the start of the run, not of this ``dyn.run``: a resumed run first drops what the file
holds after its checkpoint's step (frames and lines written after the store's last commit, which the rerun writes
again), then appends the steps after the checkpoint. A trajectory frame carries its step in ``atoms.info["step"]``.
"""

from __future__ import annotations

import logging
import os
import weakref
from pathlib import Path

from ase import units
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io.trajectory import Trajectory
from ase.md import MDLogger

from ..errors import ParameterError

__all__ = ["MDFiles"]

log = logging.getLogger(__name__)

#: Calculator results a trajectory frame keeps.
_WRITTEN = ("energy", "free_energy", "forces", "stress", "energies")


class _RunClock:
    """What ``MDLogger`` asks of the dynamics, with the time counted from the start of the run."""

    def __init__(self, dyn, first_step: int) -> None:
        self._dyn, self.first_step = weakref.ref(dyn), first_step  # weakly, as ASE's own observers

    def get_time(self) -> float:
        dyn = self._dyn()
        return float("nan") if dyn is None else (self.first_step + dyn.nsteps) * dyn.dt


class MDFiles:
    """An ASE observer (attach it with ``interval=1``) that writes the trajectory and the log of a run.

    It leaves the MD's atoms as they are (a frame is a copy with the calculator's results), so it costs no force
    evaluation.

    Parameters
    ----------
    dyn : ase.md.md.MolecularDynamics
    first_step : int
        The run's step at ``dyn.nsteps == 0`` (a resumed run's checkpoint step; 0 for a new run).
    trajectory : path, optional
        An ASE trajectory (``.traj``) of every ``trajectory_every``-th step, with energies and forces.
    trajectory_every : int
        MD steps between trajectory frames.
    log : path, optional
        ``MDLogger``'s table (time in ps, energies in eV per atom, temperature in K) every ``log_every`` steps.
    log_every : int
    """

    def __init__(self, dyn, first_step: int, *, trajectory: str | Path | None = None, trajectory_every: int = 50,
                 log: str | Path | None = None, log_every: int = 50) -> None:
        for name, every in (("trajectory_every", trajectory_every), ("log_every", log_every)):
            if int(every) != every or every < 1:
                raise ParameterError(f"The {name!r} parameter must be a whole number of MD steps of at least 1. "
                                     f"Got {every!r} instead.")
        self._dyn, self.first_step = weakref.ref(dyn), int(first_step)  # weakly, as ASE's own observers
        self.trajectory_every, self.log_every = int(trajectory_every), int(log_every)
        self.trajectory_path = None if trajectory is None else Path(trajectory)
        self.log_path = None if log is None else Path(log)
        self._trajectory = self._logger = None
        self._written = self._logged = -1  # the last step in each file
        if self.trajectory_path is not None:
            self._written = _keep_frames_through(self.trajectory_path, self.first_step)
            self._trajectory = Trajectory(self.trajectory_path, "a", dyn.atoms)
        if self.log_path is not None:
            ps_per_step = dyn.dt / (1000 * units.fs)
            header, self._logged = _keep_lines_through(self.log_path, self.first_step * ps_per_step, ps_per_step)
            self._clock = _RunClock(dyn, self.first_step)
            self._logger = MDLogger(self._clock, dyn.atoms, str(self.log_path), header=header, peratom=True,
                                    mode="a")

    def __call__(self) -> None:
        dyn = self._dyn()
        if dyn is None:
            return
        step = self.first_step + dyn.nsteps
        if self._trajectory is not None and step % self.trajectory_every == 0 and step > self._written:
            self._trajectory.write(_frame(dyn.atoms, step))
            self._written = step
        if self._logger is not None and step % self.log_every == 0 and step > self._logged:
            self._logger()
            self._logged = step

    def close(self) -> None:
        """Close both files (safe to call twice)."""
        for handle in (self._trajectory, self._logger):
            if handle is not None:
                handle.close()
        self._trajectory = self._logger = None


def _frame(atoms, step: int):
    """A copy of ``atoms`` with its step in ``info`` and the calculator's current results. (The MD's own atoms keep
    their ``info``: mace-torch's calculator counts a change there as a new structure and would compute again.)"""
    frame = atoms.copy()
    frame.info["step"] = step
    calc = atoms.calc
    if calc is not None and not calc.check_state(atoms):
        frame.calc = SinglePointCalculator(frame, **{k: v for k, v in calc.results.items() if k in _WRITTEN})
    return frame


def _keep_frames_through(path: Path, step: int) -> int:
    """Drop the frames of the trajectory at ``path`` after ``step`` (rewriting it only when there are any); the
    step of the last frame kept (-1 for none)."""
    if not path.is_file() or path.stat().st_size == 0:
        return -1
    with Trajectory(path) as frames:
        steps = [frame.info.get("step") for frame in frames]
        if any(s is None for s in steps):
            raise ParameterError(f"{path} holds frames without a step (not written by getsei-live); give another "
                                 f"--trajectory path, or move it away.")
        keep = [k for k, s in enumerate(steps) if s <= step]
        if len(keep) < len(steps):
            temporary = path.with_name(path.name + ".partial")
            with Trajectory(temporary, "w") as out:
                for k in keep:
                    out.write(frames[k])
    if len(keep) < len(steps):
        os.replace(temporary, path)
        log.info("%s: dropped %d frames after step %d (the store's checkpoint); appending from there.", path,
                 len(steps) - len(keep), step)
    return max((steps[k] for k in keep), default=-1)


def _keep_lines_through(path: Path, time_ps: float, ps_per_step: float) -> tuple[bool, int]:
    """Drop the log's lines after ``time_ps``; whether a header is still needed (an empty or new file), and the
    step of the last line kept (-1 for none)."""
    if not path.is_file() or path.stat().st_size == 0:
        return True, -1
    lines = path.read_text().splitlines(keepends=True)
    times = [_logged_time(line) for line in lines]
    kept = [line for line, t in zip(lines, times) if t is None or t <= time_ps + 5e-5]  # MDLogger: 1e-4 ps
    if len(kept) != len(lines):
        temporary = path.with_name(path.name + ".partial")
        temporary.write_text("".join(kept))
        os.replace(temporary, path)
    last = max((t for t in times if t is not None and t <= time_ps + 5e-5), default=None)
    return not kept, -1 if last is None else int(round(last / ps_per_step))


def _logged_time(line: str) -> float | None:
    try:
        return float(line.split()[0])
    except (ValueError, IndexError):
        return None  # the header
