"""Langevin MD with a MACE potential and the live analysis attached: what ``getsei-live run`` and ``demo`` run."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ase import Atoms

from ..errors import RunInterrupted, failure_text
from ..observers.live import attach
from ..observers.monitor import LiveMonitor
from ..observers.progress import ProgressLines
from ..observers.settings import MonitorSettings
from ..states.labeller import DeviceLabeller, Labeller
from ..store.run_store import RunStore
from ..units import steps_to_ps
from .calculators import mace_calculator, resolve_device
from .dynamics import TemperatureGuard, langevin, restore_checkpoint, start_at_temperature

__all__ = ["MDSettings", "run_live_md"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MDSettings:
    """The Langevin MD of a live run.

    Attributes
    ----------
    steps : int
        MD steps of the whole run (at most: it may stop early once converged). A resumed run goes on to this total,
        so that the same settings finish the same run.
    temperature_K : float, default 300
    timestep_fs : float, default 2
    coupling_time_ps : float, default 1
        Langevin coupling time (friction = 1 / coupling time).
    interval_steps : int, default 50
        MD steps between observed frames.
    device : str, default "auto"
        Where MACE and the state model's encoder run ("auto": CUDA when torch sees a GPU).
    dtype : str, default "auto"
        MACE's precision: "auto" keeps the model file's own, "float32" or "float64" converts it.
    seed : int, default 0
        Of the thermostat's noise, the initial velocities and the resampling.
    trust_model_file : bool, default False
        Load the MACE file in full, as mace-torch does, though it needs more than a MACE model (it could run code;
        see ``potential_file``): only for a file whose source you trust.
    """

    steps: int
    temperature_K: float = 300.0
    timestep_fs: float = 2.0
    coupling_time_ps: float = 1.0
    interval_steps: int = 50
    device: str = "auto"
    dtype: str = "auto"
    seed: int = 0
    trust_model_file: bool = False


def run_live_md(atoms: Atoms, mace_model: str, state_model: Labeller | None, store: str | Path, md: MDSettings, *,
                report: Callable[[str], None] = _log.info, settings: MonitorSettings | None = None,
                trajectory: str | Path | None = None, trajectory_every: int | None = None,
                log: str | Path | None = None, progress: bool = False, **options) -> LiveMonitor:
    """Run Langevin MD of ``atoms`` with a MACE potential and the live analysis attached; returns the closed monitor.

    An existing ``store`` is resumed: positions and momenta come from its
    checkpoint, the step count from its last committed frame.

    Parameters
    ----------
    atoms : ase.Atoms
    mace_model : str
        A .model file, "bundled", or a mace-torch foundation-model name (needs internet).
    state_model : Labeller or None
        None trains one in the run (give ``warmup_ps`` among the options).
    store : path
    md : MDSettings
    report : callable, default: logged at INFO
        Receives the progress lines (about every 10 s of wall time).
    settings, **options
        The monitor's settings (``MonitorSettings``, or its fields by name: ``lags_ps``, ``lag_ps``,
        ``check_every_frames``, ``criteria``, ``companions``, ``warmup_ps``, ...); ``interval_steps`` and ``seed``
        come from ``md``.
    trajectory, trajectory_every, log, progress
        As for ``attach``.
    """
    store = Path(store)
    checkpoint = RunStore.open(store, "r").checkpoint() if (store / "zarr.json").is_file() else None
    done = 0 if checkpoint is None else checkpoint.step
    remaining = md.steps - done
    if checkpoint is not None:
        restore_checkpoint(atoms, checkpoint)
        report(f"Resuming from the checkpoint at step {done} in {store}")
        report(f"{done} of the run's {md.steps} steps are done; {max(remaining, 0)} to go")
    device = resolve_device(md.device)
    if isinstance(state_model, DeviceLabeller):
        state_model.to(device)
    dyn = langevin(atoms, temperature_K=md.temperature_K, timestep_fs=md.timestep_fs,
                   coupling_time_ps=md.coupling_time_ps, seed=md.seed, initialise_velocities=checkpoint is None)
    settings = MonitorSettings.of(settings, {**options, "interval_steps": md.interval_steps, "seed": md.seed})
    # before the monitor's observer, so that a frame of a failed MD never reaches the store
    dyn.attach(TemperatureGuard(atoms, dyn, md.temperature_K, first_step=done), interval=md.interval_steps)
    existed = (store / "zarr.json").is_file()
    # the store first (its lock, its spec against this run's): a refusal comes before MACE loads, in a second
    monitor = attach(dyn, state_model, store=store, settings=settings, trajectory=trajectory,
                     trajectory_every=trajectory_every, log=log, progress=progress,
                     planned_ps=steps_to_ps(md.steps, md.timestep_fs))
    if remaining <= 0:
        monitor.close("interrupted", "nothing to run")  # writes nothing: the store is left as it was
        report(f"Nothing to run: {store} already holds {done} steps (--steps {md.steps} is the run's total).")
        return monitor
    try:
        atoms.calc = mace_calculator(mace_model, device=device, dtype=md.dtype, trust=md.trust_model_file)
    except BaseException as error:
        monitor.close("interrupted", failure_text(error))  # a resumed store: nothing written
        if not existed:
            shutil.rmtree(store, ignore_errors=True)  # the store this run made, empty: no store at all
        raise
    if checkpoint is None and (largest := start_at_temperature(atoms)) is not None:
        report(f"The structure is relaxed (largest force {largest:.2f} eV/A): velocities drawn at "
               f"{2 * md.temperature_K:g} K, half of whose kinetic energy goes into the potential energy, so that "
               f"the MD starts near {md.temperature_K:g} K")
    start = time.perf_counter()
    if not progress:  # attach(progress=True) draws a bar instead
        dyn.attach(ProgressLines(dyn, monitor, report, remaining, first_step=monitor.last_step or 0),
                   interval=md.interval_steps)
    report(f"Langevin MD: {len(atoms)} atoms, {md.temperature_K:g} K, {md.timestep_fs:g} fs, {remaining} steps on "
           f"{device}; observing every {md.interval_steps} steps into {store}"
           f"{'' if monitor.asynchronous else ' (synchronous)'}")
    try:
        with monitor:
            dyn.run(remaining)
    except KeyboardInterrupt as error:
        signal_number = getattr(error, "signal_number", 2)
        what = "Terminated by SIGTERM" if signal_number == 15 else "Interrupted"
        raise RunInterrupted(f"{what} at step {done + dyn.nsteps}; {monitor.n_frames} frames are committed in "
                             f"{store}, which says so in its status. Run the same command to resume.",
                             signal_number) from None
    report(f"Done: {dyn.nsteps} steps in {time.perf_counter() - start:.1f} s"
           + (f"; stopped early, {monitor.stop_explanation}" if monitor.stop_reason else ""))
    return monitor
