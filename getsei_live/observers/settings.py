"""What a live monitor counts and how it runs: one typed record of every setting, checked where it enters."""

from __future__ import annotations

import dataclasses
import difflib
import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..analysis.coring import DEFAULT_CORE_PS
from ..analysis.criteria import ConvergenceCriteria
from ..analysis.markov import DEFAULT_LAGS_PS
from ..deprecation import renamed
from ..errors import ParameterError

if TYPE_CHECKING:
    from ..analysis.records import Snapshot
    from ..states.encoder import TrainingConfig

__all__ = ["AnalysisSettings", "ExecutionSettings", "MonitorSettings"]

#: Old parameter names (0.1) and the setting each is now called.
_OLD_NAMES = {"every": "interval_steps", "interval": "interval_steps", "check_every": "check_every_frames"}


def _positive_int(name: str, value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ParameterError.of(name, f"must be a positive number of {what}. Got {value!r} instead.")
    return int(value)


def _fields(record: Any, kind: type) -> dict[str, Any]:
    """The values of ``kind``'s fields in ``record``."""
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(kind)}


def _state_set(states: int | Iterable[int] | None) -> tuple[int, ...] | None:
    if states is None:
        return None
    return (int(states),) if isinstance(states, (int, np.integer)) else tuple(int(s) for s in states)


@dataclass(frozen=True, kw_only=True)
class AnalysisSettings:
    """What a live monitor computes: the frames it observes, the lags and the core it counts with, the question
    (source, target), when it checks and what it calls converged; the state model trained in the run.

    Attributes
    ----------
    interval_steps : int, default 50
        MD steps between observed frames (``every`` and ``interval`` are its deprecated old names).
    lags_ps : tuple of float, default (0.1, 0.2, 0.4, 0.8, 1.6)
        Lag times (ps) at which transitions are counted, each a multiple of the frame spacing. A doubling series
        lets every lag but the longest be tested (Chapman-Kolmogorov needs a stored multiple).
    lag_ps : float or "auto", default "auto"
        The lag of the rates and pathways. ``"auto"``: at each check, the shortest stored lag that passes the
        Markov test (the longest lag while none does).
    core_ps : float, default 0.3
        Core assignment: a Li's state changes only once it has stayed ``core_ps`` (rounded up to whole frames) in
        the new state; the transition is dated when it entered it, so counting runs that far behind. 0: raw labels.
    equilibrate_ps : float, default 0
        Frames of the first ``equilibrate_ps`` of the store are stored but start no counted transition.
    source, target : tuple of int, optional
        TPT sets (a single state may be given as an int); default the least and the most mobile of the states
        holding ``criteria.min_population`` of the Li.
    check_every_frames : int, default 20
        Frames between analysis snapshots (``check_every`` is its deprecated old name).
    criteria : ConvergenceCriteria
        When the run counts as converged; default ``ConvergenceCriteria()``.
    temperature_K : float, optional
        Recorded in the store for ``getsei-live arrhenius``; ``attach`` defaults it to the thermostat's.
    warmup_ps : float, optional
        Without a state model: ps of MD whose frames, kept in the store, train the state model on the worker
        (saved beside the store as ``run.states.pt``); they become the run's first frames.
    n_states : int or "auto", default 6
        States of a state model trained in the run ("auto": the best silhouette).
    training : TrainingConfig, optional
        How a state model trained in the run is trained.
    seed : int, default 0
        Seed of the Li resampling behind the intervals.
    companions : tuple of path
        The other replicas' stores, read at every check (never written): the analysis, the verdict and the early
        stop are the ensemble's. A companion that does not exist yet joins once its run has committed frames.
    """

    interval_steps: int = 50
    lags_ps: tuple[float, ...] = DEFAULT_LAGS_PS
    lag_ps: float | str = "auto"
    core_ps: float = DEFAULT_CORE_PS
    equilibrate_ps: float = 0.0
    source: tuple[int, ...] | None = None
    target: tuple[int, ...] | None = None
    check_every_frames: int = 20
    criteria: ConvergenceCriteria = field(default_factory=ConvergenceCriteria)
    temperature_K: float | None = None
    warmup_ps: float | None = None
    n_states: int | str = 6
    training: TrainingConfig | None = None
    seed: int = 0
    companions: tuple[str | Path, ...] = ()

    def __post_init__(self) -> None:
        put = functools.partial(object.__setattr__, self)
        put("interval_steps", _positive_int("interval_steps", self.interval_steps, "MD steps"))
        put("check_every_frames", _positive_int("check_every_frames", self.check_every_frames, "frames"))
        if isinstance(self.lags_ps, (str, bytes)) or not isinstance(self.lags_ps, Iterable):
            raise ParameterError.of("lags_ps", f"must be a sequence of lag times in ps. "
                                 f"Got {self.lags_ps!r}.")
        put("lags_ps", tuple(self.lags_ps))
        put("lag_ps", "auto" if self.lag_ps is None else self.lag_ps)
        put("source", _state_set(self.source))
        put("target", _state_set(self.target))
        put("criteria", ConvergenceCriteria() if self.criteria is None else self.criteria)
        put("companions", tuple(self.companions))


@dataclass(frozen=True, kw_only=True)
class ExecutionSettings:
    """How a live monitor runs what it computes: whether it stops the MD, on which thread and at what priority it
    works, how often it commits, whom it calls at each check. None of it changes what a check computes from
    the frames it has.

    Attributes
    ----------
    stop_when_stable : bool or None, default None
        End the MD (or the replay) once converged. None: ``attach`` and ``run_live_md`` stop, ``replay`` and
        ``replay_distributed`` do not.
    asynchronous : bool or None, default None
        Label, count, store and analyse on a worker thread; the MD thread only copies the frame. False: all of it
        on the calling thread. None: ``attach`` and ``run_live_md`` use a worker, the replays do not. Either way a
        failure is raised at the next observation or at ``close()``, with the frames before it committed.
    max_queue : int, default 4
        Frames waiting for the worker before the MD waits (also while a warm-up trains its state model).
    threads : int or None, default 1
        torch threads of the worker; None leaves torch's.
    nice : int, default 10
        How much lower the worker's scheduling priority is than the MD's (Linux); 0 keeps it equal.
    flush_frames : int, default 64
        Commit buffered frames to the store once this many are waiting ...
    flush_seconds : float, default 30
        ... or this long after the last commit.
    on_check : callable, optional
        Called with every new ``Snapshot``.
    """

    stop_when_stable: bool | None = None
    asynchronous: bool | None = None
    max_queue: int = 4
    threads: int | None = 1
    nice: int = 10
    flush_frames: int = 64
    flush_seconds: float = 30.0
    on_check: Callable[[Snapshot], None] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "max_queue", _positive_int("max_queue", self.max_queue, "frames"))
        object.__setattr__(self, "flush_frames", _positive_int("flush_frames", self.flush_frames, "frames"))


@dataclass(frozen=True, kw_only=True)
class MonitorSettings(AnalysisSettings, ExecutionSettings):
    """Every setting of a live monitor (``attach``, ``replay``, ``replay_distributed``, ``run_live_md``): the fields
    of ``AnalysisSettings`` (what it computes) and of ``ExecutionSettings`` (how it runs), as one flat record.

    Those functions take the fields as keyword arguments (``attach(dyn, model, seed=3)``), the two parts
    (``analysis=AnalysisSettings(...)``, ``execution=ExecutionSettings(...)``) or a whole record
    (``settings=MonitorSettings(...)``); keywords given beside a record replace its fields. A name that is not a
    field is refused at once, with the closest one, before a store is touched. ``.analysis`` and ``.execution``
    give the two parts back.
    """

    def __post_init__(self) -> None:
        AnalysisSettings.__post_init__(self)
        ExecutionSettings.__post_init__(self)

    @property
    def analysis(self) -> AnalysisSettings:
        """What the monitor computes."""
        return AnalysisSettings(**_fields(self, AnalysisSettings))

    @property
    def execution(self) -> ExecutionSettings:
        """How it runs."""
        return ExecutionSettings(**_fields(self, ExecutionSettings))

    @classmethod
    def of(cls, settings: MonitorSettings | None, given: Mapping[str, Any]) -> MonitorSettings:
        """``settings`` (or the defaults) with the fields in ``given`` replaced; ``given``'s old names warn
        (``GetseiDeprecationWarning``) and an unknown name is a ``ParameterError`` naming the closest field."""
        given = dict(given)
        parts = {}
        for name, kind in (("analysis", AnalysisSettings), ("execution", ExecutionSettings)):
            part = given.pop(name, None)
            if part is not None and not isinstance(part, kind):
                raise ParameterError(f"'{name}' must be an {kind.__name__}. Got {type(part).__name__}.")
            if part is not None:
                parts |= _fields(part, kind)
        given = {**parts, **given}
        for old, new in _OLD_NAMES.items():
            if old in given:
                given[new] = renamed(given, old, new, given.get(new))
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(given) - names)
        if unknown:
            hints = [f"{name!r}" + (f" (did you mean {close[0]!r}?)"
                                    if (close := difflib.get_close_matches(name, sorted(names), n=1)) else "")
                     for name in unknown]
            raise ParameterError(f"Unknown option{'s' if len(unknown) > 1 else ''} {', '.join(hints)}.")
        if settings is None:
            return cls(**given)
        if isinstance(settings, (AnalysisSettings, ExecutionSettings)) and not isinstance(settings, cls):
            settings = cls(**_fields(settings, type(settings)))  # one part: the other at its defaults
        if not isinstance(settings, cls):
            raise ParameterError(f"'settings' must be a MonitorSettings. Got {type(settings).__name__}.")
        return dataclasses.replace(settings, **given) if given else settings

    def resolved(self, live: bool) -> MonitorSettings:
        """The settings with ``stop_when_stable`` and ``asynchronous`` decided where they are None: both True for
        a live MD run (``live``), both False for a replay."""
        return dataclasses.replace(
            self, stop_when_stable=live if self.stop_when_stable is None else bool(self.stop_when_stable),
            asynchronous=live if self.asynchronous is None else bool(self.asynchronous))
