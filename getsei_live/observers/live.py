"""Attaching the live analysis to ASE dynamics, and replaying finished trajectories through it."""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from ase import Atoms, units

from ..analysis.coring import DEFAULT_CORE_PS, core_frames_of
from ..errors import ParameterError, StoreMismatchError, failure_text
from ..states.labeller import Labeller
from ..store.run_store import RunStore, writer_lock
from ..store.spec import RunSpec
from ..units import LI, frames_at_least, steps_to_ps
from .frames import Frame
from .monitor import LiveMonitor
from .pipeline import StageTimes, can_pipeline, run_pipeline
from .settings import MonitorSettings
from .warmup import WarmupPlan, model_path

if TYPE_CHECKING:
    from ..states.encoder import TrainingConfig

__all__ = ["attach", "frames_from_ps", "make_monitor", "replay", "replay_settings"]

log = logging.getLogger(__name__)

#: A run shorter than this many times its longest lag cannot show a plateau there: one warning at the start.
_RUN_PER_LAG = 5


def frames_from_ps(lags_ps: Sequence[float], frame_dt_ps: float, parameter: str = "lags_ps") -> tuple[int, ...]:
    """Lags in frames; each lag must be a positive whole multiple of the frame spacing (else a ParameterError
    about ``parameter``)."""
    lags = []
    for lag in lags_ps:
        ratio = float(lag) / frame_dt_ps
        if not np.isfinite(ratio) or not lag > 0 or abs(ratio - round(ratio)) > 1e-6 * max(1.0, ratio):
            raise ParameterError.of(
                parameter, f"must be a positive multiple of the frame interval ({frame_dt_ps:g} ps). Got {lag!r} "
                           f"instead.", lead="Each lag of the" if parameter == "lags_ps" else "The")
        lags.append(int(round(ratio)))
    if len(set(lags)) != len(lags) or not lags:
        raise ParameterError.of("lags_ps", f"must hold distinct lags. Got {tuple(lags_ps)!r}.")
    return tuple(lags)


def refuse_early(store: str | Path, *, timestep_fs: float, interval_steps: int, lags_ps: Sequence[float],
                 core_ps: float = DEFAULT_CORE_PS, equilibrate_ps: float = 0.0, lag_ps: float | str | None = "auto",
                 temperature_K: float | None = None) -> None:
    """Refuse, before anything slow is loaded (torch, MACE, a trajectory), what can be refused from the settings
    alone: lags that are not whole frames, an analysis lag not among them, a temperature that is not a number of
    kelvin, a store path no file system takes, and an existing store that another process is writing or that
    belongs to a run with another time step, frame interval, lags, core length or equilibration. Changes
    nothing."""
    check_sampling(interval_steps, timestep_fs)
    frame_dt_ps = steps_to_ps(interval_steps, timestep_fs)
    lags = frames_from_ps(lags_ps, frame_dt_ps)
    if lag_ps not in (None, "auto") and frames_from_ps([lag_ps], frame_dt_ps, "lag_ps")[0] not in lags:
        raise ParameterError.of("lag_ps", f"({lag_ps:g} ps, the analysis lag) must be one of the lags counted "
                                          f"({', '.join(f'{v:g}' for v in lags_ps)} ps), or 'auto'.")
    if temperature_K is not None and not 0 < temperature_K < np.inf:
        raise ParameterError.of("temperature_K", f"must be a positive, finite number of kelvin. Got "
                             f"{temperature_K!r} instead.")
    counting = dict(core_frames=core_frames_of(core_ps, frame_dt_ps),
                    equilibrate_frames=frames_at_least(equilibrate_ps, frame_dt_ps, "equilibrate_ps"))
    path = Path(store)
    too_long = [part for part in path.parts if len(os.fsencode(part)) > 255]
    if too_long:
        raise ParameterError(f"The store path has a name of {len(os.fsencode(too_long[0]))} bytes "
                             f"({too_long[0][:40]}...); file systems take at most 255. Choose a shorter --store.")
    if not (path / "zarr.json").is_file():
        return
    stored = RunStore.open(path, "r").spec
    if stored is not None:
        wanted = RunSpec(stored.fingerprint, stored.n_states, timestep_fs, interval_steps, lags, stored.li_indices,
                         **counting)
        differences = wanted.differences(stored)
        if differences:
            raise StoreMismatchError(f"{path} belongs to a different run: " + "; ".join(differences)
                                     + ". Use another --store, or the stored settings to resume it.")
    lock = writer_lock(path)
    lock.acquire()
    lock.release()


def plan_warnings(lags: tuple[int, ...], lag_index: int | None, frame_dt_ps: float, planned_ps: float | None,
                  equilibrate_frames: int = 0) -> list[str]:
    """What in the lags (frames) or the run's planned length (ps) keeps the Markov test from ever passing, each
    with what to change."""
    lines = []
    if lag_index is not None:
        lag = lags[lag_index]
        if not any(other > lag and other % lag == 0 for other in lags):
            lines.append(f"the analysis lag {lag * frame_dt_ps:g} ps has no multiple among the counted lags, so "
                         f"the Chapman-Kolmogorov test can never pass and the run can never converge: count "
                         f"{2 * lag * frame_dt_ps:g} ps too, or use lag_ps='auto'")
    longest = max(lags) * frame_dt_ps
    counted = None if planned_ps is None else planned_ps - equilibrate_frames * frame_dt_ps
    if counted is not None and counted < _RUN_PER_LAG * longest:
        lines.append(f"the run counts {counted:g} ps, less than {_RUN_PER_LAG} times its longest lag "
                     f"({longest:g} ps): too short to judge the lags; run longer or count shorter lags")
    return lines


def check_sampling(interval_steps: object, timestep_fs: object) -> None:
    if isinstance(interval_steps, bool) or not isinstance(interval_steps, (int, np.integer)) or interval_steps < 1:
        raise ParameterError.of("interval_steps", f"must be a positive number of MD steps. Got "
                             f"{interval_steps!r} instead.")
    if isinstance(timestep_fs, bool) or not isinstance(timestep_fs, (int, float)) or not 0 < timestep_fs < np.inf:
        raise ParameterError(f"The time step must be a positive, finite number of fs. Got {timestep_fs!r} fs.")


def _open_store(store: str | Path | RunStore, spec: RunSpec, state_model: Labeller, elements: list[str],
                temperature_K: float | None) -> RunStore:
    if isinstance(store, RunStore):
        differences = spec.differences(store.spec)
        if differences:
            raise ParameterError("The store given belongs to another run: " + "; ".join(differences))
        opened = store
    elif Path(store).exists():
        opened = RunStore.open(store, "a", spec=spec)
    else:
        return RunStore.create(store, spec, state_model_config=state_model.describe(), elements=elements,
                               temperature_K=temperature_K)
    try:
        opened.stage_resume(temperature_K)
    except BaseException:
        opened.close()
        raise
    return opened


def _warmup_store(store, atoms: Atoms, *, lags: tuple[int, ...], timestep_fs: float, interval_steps: int,
                  li: np.ndarray,
                  temperature_K: float | None, warmup_ps: float | None, n_states: int | str,
                  training: TrainingConfig | None, counting: dict) -> tuple[RunStore, Labeller | None, WarmupPlan]:
    """The store of a run that trains its state model on its own warm-up: new, warming up, or live already (then
    with the model it trained, loaded from beside the store)."""
    from ..states.graphs import LiGraphBuilder
    from ..states.model import StateModel

    if warmup_ps is None:
        raise ParameterError("Without a state model, give 'warmup_ps': how long the warm-up is whose frames the "
                             "state model is trained on (e.g. warmup_ps=20).")
    if isinstance(store, RunStore):
        raise ParameterError("A run that trains its state model in the run needs a store path, not an open store.")
    LiGraphBuilder().check(atoms)  # every structure problem surfaces here, before a store is touched
    plan = WarmupPlan.of(warmup_ps, n_states=n_states, timestep_fs=timestep_fs, interval_steps=interval_steps,
                         lags_frames=lags, li_indices=li, training=training, **counting)
    path = Path(store)
    if not path.exists():
        return RunStore.create(path, None, elements=atoms.get_chemical_symbols(), temperature_K=temperature_K,
                               warmup=plan.to_dict()), None, plan
    opened = RunStore.open(path, "a")
    try:
        plan.check_resumable(opened)
        opened.stage_resume(temperature_K)
        if opened.spec is None:
            return opened, None, plan
        model = StateModel.load(model_path(path), device="cpu")
        if model.fingerprint != opened.spec.fingerprint:
            raise StoreMismatchError(f"{model_path(path)} is not the state model {path} was trained with.")
        return opened, model, plan
    except BaseException:
        opened.close()
        raise


def check_endpoints(source, target, n_states: int | str) -> None:
    """Source and target are states of the model and disjoint: checked before a store is created or a frame
    written (the first check would find out only after frames were committed)."""
    from ..analysis._checks import as_state_set

    if not isinstance(n_states, (int, np.integer)):
        return  # a state model trained in the run picks its number of states: checked at the first check
    sets = {name: as_state_set(states, int(n_states), name) for name, states in (("source", source),
                                                                                 ("target", target))
            if states is not None}
    if len(sets) == 2 and (overlap := sorted(set(sets["source"]) & set(sets["target"]))):
        raise ParameterError(f"The source and target sets overlap in states {overlap}; they must be disjoint.")


def make_monitor(state_model: Labeller | None, atoms: Atoms, store, settings: MonitorSettings, *,
                 timestep_fs: float, live: bool, planned_ps: float | None = None) -> LiveMonitor:
    """A monitor on a new or resumed store, with every setting checked before a store is touched (``attach``,
    ``replay`` and ``replay_distributed`` make theirs here). ``live``: a live MD run, which by default stops once
    converged and labels on a worker thread (a replay by default does neither). ``planned_ps``: how long the run
    will be, when known (a warning at the start if it is too short for the lags)."""
    interval_steps = settings.interval_steps
    check_sampling(interval_steps, timestep_fs)
    settings = settings.resolved(live)
    if state_model is not None and settings.warmup_ps is not None:
        raise ParameterError("'warmup_ps' trains a state model in the run; give it with state_model=None only.")
    frame_dt_ps = steps_to_ps(interval_steps, timestep_fs)
    lags = frames_from_ps(settings.lags_ps, frame_dt_ps)
    if settings.lag_ps == "auto":
        lag_index = None
    else:
        analysis_lag = frames_from_ps([settings.lag_ps], frame_dt_ps, "lag_ps")[0]
        if analysis_lag not in lags:
            raise ParameterError.of("lag_ps", f"({settings.lag_ps:g} ps, the analysis lag) must be one of the lags "
                                              f"counted ({', '.join(f'{v:g}' for v in settings.lags_ps)} ps), or "
                                              f"'auto'.")
        lag_index = lags.index(analysis_lag)
    counting = dict(core_frames=core_frames_of(settings.core_ps, frame_dt_ps),
                    equilibrate_frames=frames_at_least(settings.equilibrate_ps, frame_dt_ps, "equilibrate_ps"))
    for line in plan_warnings(lags, lag_index, frame_dt_ps, planned_ps, counting["equilibrate_frames"]):
        log.warning("getsei-live: %s", line)
    if settings.core_ps > 0 and counting["core_frames"] == 1:
        log.warning("getsei-live: a core of %g ps is one frame (%g ps apart): the raw labels are counted, as with "
                    "core_ps=0; a core of at least 2 frames (%g ps) removes flicker.", settings.core_ps, frame_dt_ps,
                    2 * frame_dt_ps)
    check_endpoints(settings.source, settings.target,
                     state_model.n_states if state_model is not None else settings.n_states)
    li = np.flatnonzero(atoms.numbers == LI)
    if state_model is None:
        opened, state_model, warmup = _warmup_store(store, atoms, lags=lags, timestep_fs=timestep_fs,
                                                    interval_steps=interval_steps, li=li,
                                                    temperature_K=settings.temperature_K, counting=counting,
                                                    warmup_ps=settings.warmup_ps, n_states=settings.n_states,
                                                    training=settings.training)
    else:
        state_model.check(atoms)  # every structure problem surfaces here, before a store is touched
        spec = RunSpec(fingerprint=state_model.fingerprint, n_states=state_model.n_states,
                       timestep_fs=float(timestep_fs), interval_steps=int(interval_steps), lags_frames=lags,
                       li_indices=tuple(li), **counting)
        opened = _open_store(store, spec, state_model, atoms.get_chemical_symbols(), settings.temperature_K)
        warmup = None
    try:
        monitor = LiveMonitor(state_model, opened, settings, lag_index=lag_index, warmup=warmup)
    except BaseException:
        opened.close()
        raise
    if planned_ps is not None and not live:  # a replay's budget is its trajectory; a live run's its dyn.run
        monitor.budget_ps = planned_ps
    return monitor


def attach(dyn, state_model: Labeller | None, store: str | Path | RunStore = "run.zarr",
           interval_steps: int | None = None, lags_ps: Sequence[float] | None = None, *,
           settings: MonitorSettings | None = None, trajectory: str | Path | None = None,
           trajectory_every: int | None = None, log: str | Path | None = None, progress: bool = False,
           planned_ps: float | None = None, **options) -> LiveMonitor:
    """Attach the live analysis to an ASE dynamics object; then run it as usual with ``dyn.run(n)``.

    Parameters
    ----------
    dyn : ase.md.md.MolecularDynamics
        Any ASE MD (Langevin, VelocityVerlet, NPT ...) with any calculator.
    state_model : Labeller or None
        A ``StateModel``, or anything with ``n_states``, ``fingerprint``, ``check``, ``assign`` and ``describe``.
        None: train one in the run on the frames of the first ``warmup_ps``.
    store : path or RunStore, default "run.zarr"
        Created when missing; an existing store is resumed (its settings must match).
    interval_steps : int, default 50
        MD steps between observed frames.
    lags_ps : sequence of float, default (0.1, 0.2, 0.4, 0.8, 1.6)
        Lag times (ps) at which transitions are counted, each a multiple of the frame spacing.
    settings : MonitorSettings, optional
        Every setting of the monitor as one record; keywords given beside it replace its fields.
    trajectory : path, optional
        Also write an ASE trajectory (``.traj``: positions, momenta, energy and forces, the step in
        ``atoms.info["step"]``) every ``trajectory_every`` MD steps (default ``interval_steps``). A resumed store
        appends to it, after dropping the frames from the checkpoint on, so that no frame is there twice.
    log : path, optional
        Also write ASE's ``MDLogger`` table (time in ps, energies per atom in eV, temperature in K) at every
        observed frame, continued on resume the same way.
    progress : bool, default False
        Show a progress bar (tqdm, on stderr) over the steps of each ``dyn.run``: the ETA, simulated ps, ns/day,
        frames, temperature and the verdict. Off by default, so scripts stay quiet.
    planned_ps : float, optional
        How long the run will be (ps): a warning at the start when it is too short for the lags.
    **options
        Any field of ``MonitorSettings`` by name: ``lag_ps``, ``core_ps``, ``equilibrate_ps``, ``source``,
        ``target``, ``check_every_frames``, ``criteria``, ``stop_when_stable`` (default True here),
        ``asynchronous``, ``temperature_K`` (default the thermostat's, ``dyn.todict()["temperature_K"]``),
        ``warmup_ps``, ``n_states``, ``training``, ``max_queue``, ``threads``, ``nice``, ``flush_frames``,
        ``flush_seconds``, ``seed``, ``on_check``, ``companions``. A name that is none of them is refused at once,
        with the closest one. Or the two parts: ``analysis=AnalysisSettings(...)`` (what to compute) and
        ``execution=ExecutionSettings(...)`` (how to run it).

    Returns
    -------
    LiveMonitor
    """
    given = {**options, **_explicit(interval_steps=interval_steps, lags_ps=lags_ps)}
    settings = MonitorSettings.of(settings, given)
    if settings.temperature_K is None:  # the thermostat's, as ASE's Langevin reports it
        settings = dataclasses.replace(settings, temperature_K=dyn.todict().get("temperature_K"))
    monitor = make_monitor(state_model, dyn.atoms, store, settings, timestep_fs=dyn.dt / units.fs, live=True,
                           planned_ps=planned_ps)
    interval_steps = settings.interval_steps
    monitor.bind(dyn)
    dyn.attach(monitor, interval=interval_steps)
    if trajectory is not None or log is not None:
        from .md_files import MDFiles

        try:
            files = MDFiles(dyn, monitor.last_step or 0, trajectory=trajectory,
                            trajectory_every=interval_steps if trajectory_every is None else trajectory_every,
                            log=log, log_every=interval_steps)
        except BaseException as error:
            monitor.close("interrupted", failure_text(error))
            raise
        dyn.attach(files, interval=1)
        monitor.close_with(files.close)
    if progress:
        from .progress import ProgressBar

        bar = ProgressBar(dyn, monitor)
        dyn.attach(bar, interval=interval_steps)
        monitor.close_with(bar.close)
    return monitor


def _explicit(**values) -> dict:
    """The arguments given (not None)."""
    return {name: value for name, value in values.items() if value is not None}


def replay_settings(settings: MonitorSettings | None, options: dict, **explicit) -> MonitorSettings:
    """A replay's settings from ``settings``, ``**options`` and its explicit arguments; the frame interval is
    required (a trajectory file does not say it)."""
    given = {**options, **_explicit(**explicit)}
    if settings is None and not {"interval_steps", "interval"} & set(given):
        raise ParameterError.of("interval_steps", "is required: the MD steps between the frames.")
    return MonitorSettings.of(settings, given)


def replay(frames: Iterable[Atoms], state_model: Labeller, store: str | Path | RunStore, *, timestep_fs: float,
           interval_steps: int | None = None, lags_ps: Sequence[float] | None = None, first_step: int = 0,
           settings: MonitorSettings | None = None, planned_ps: float | None = None, pipeline_depth: int = 0,
           times: StageTimes | None = None, **options) -> LiveMonitor:
    """Feed a finished trajectory through the same observer: frame k is MD step ``first_step + k * interval_steps``.

    ``settings`` and ``**options`` are ``attach``'s (the fields of ``MonitorSettings``), except that a replay
    stops early only with ``stop_when_stable=True``. ``interval_steps`` is required (here or in ``settings``).
    Frames the store has committed already are skipped, so running it again after an interruption continues where
    the store ends. Returns the closed monitor (its ``latest`` snapshot and ``store`` path stay available).

    By default each frame is labelled and recorded on this thread, one after another. With ``pipeline_depth`` > 0
    (e.g. 8) a labeller thread labels up to that many frames ahead while this thread records (counts, stores and
    checks) behind it; the store is the same, byte for byte. On CPUs it does not pay: both stages hold Python's
    GIL much of the time, and on 2 cores ``benchmarks/bench_replay.py`` measured it 5-40% slower than one thread
    (``replay_distributed`` is the way to use more cores). It is meant for labelling on a GPU, where the labeller
    waits on the device; not measured there yet. A state model trained in the run, a labeller without
    ``label_with_environments`` and ``asynchronous=True`` never use it. ``times``: a ``StageTimes`` to fill with the
    seconds each stage worked (pipelined replays only; ``pipeline_depth=1`` times the stages without overlap).
    """
    settings = replay_settings(settings, options, interval_steps=interval_steps, lags_ps=lags_ps)
    interval = settings.interval_steps
    check_sampling(interval, timestep_fs)
    if isinstance(frames, Sequence):
        frame_dt_ps = steps_to_ps(interval, timestep_fs)
        planned_ps = (len(frames) - 1) * frame_dt_ps if planned_ps is None else planned_ps
        longest = max(frames_from_ps(settings.lags_ps, frame_dt_ps))
        if longest >= len(frames):
            raise ParameterError(
                f"The longest lag ({longest * frame_dt_ps:g} ps) is not shorter than the trajectory "
                f"({len(frames)} frames, {(len(frames) - 1) * frame_dt_ps:g} ps): no transition could be counted."
            )
    iterator = iter(frames)
    first = next(iterator, None)
    if first is None:
        raise ParameterError("The trajectory has no frames to replay.")
    monitor = make_monitor(state_model, first, store, settings, timestep_fs=timestep_fs, live=False,
                           planned_ps=planned_ps)
    with monitor:
        if pipeline_depth > 0 and can_pipeline(monitor):
            run_pipeline(monitor, itertools.chain([first], iterator), first_step=first_step, interval_steps=interval,
                         times=times, depth=pipeline_depth)
        else:
            monitor.submit(Frame.capture(first, first_step))
            for k, atoms in enumerate(iterator, start=1):
                if monitor.stop_reason is not None:
                    break
                monitor.submit(Frame.capture(atoms, first_step + k * interval))
        monitor.check(only_if_new=True)
    return monitor
