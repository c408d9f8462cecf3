"""Several run stores as one kinetic model: replicas of an interface, or the runs at one temperature.

Transitions counted in independent runs add up, so an ensemble's counts are
the sum of its runs' counts; its Li atoms and blocks of time are those of all
runs together, and its runs are themselves units to resample (see
``analysis.uncertainty.resampling_units``). Runs join only when their states
mean the same (one state model) and their counts the same lags (one frame
spacing, the same lags in frames).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..analysis.convergence import Check, check
from ..analysis.coring import core_frames_of
from ..analysis.counting import RunCounter, probe_core_frames
from ..analysis.criteria import ConvergenceCriteria
from ..analysis.records import Snapshot
from ..analysis.transport import Transport, TransportTally, smooth_frames_of, summarise
from ..errors import ParameterError
from .counts import committed_counter, recount
from .run_store import RunStore
from .spec import RunSpec

__all__ = ["Ensemble", "RunCounts", "RunLine", "ensemble_problems", "read_ensemble", "run_counts"]


@dataclass(frozen=True, slots=True)
class RunCounts:
    """The committed counts of one run.

    Attributes
    ----------
    path : str
    spec : RunSpec
    counts : (n_lags, n, n) ndarray
    per_li_counts : (n_li, n_lags, n, n) ndarray
    block_counts : (n_blocks, n_lags, n, n) ndarray
    block_frames : int
        Frames per block of time.
    committed_frames : int
    status : str
    temperature_K : float or None
    simulated_ps : float
        Time of the last committed frame.
    raw_changes, cored_changes : int
        Label changes between consecutive frames of all Li, before and after the core assignment.
    block_events : (n_blocks, n, n) ndarray
        State changes i -> j of the core-assigned labels in each block of time, each once.
    per_li_events : (n_li,) ndarray
        State changes of each Li.
    probe_counts : (n_lags, n, n) ndarray or None
        The counts at twice the core length (the core probe; None without core assignment).
    transport : TransportTally or None
        The Li hops and displacements followed from the positions (None where the run has none).
    """

    path: str
    spec: RunSpec
    counts: np.ndarray
    per_li_counts: np.ndarray
    block_counts: np.ndarray
    block_frames: int
    committed_frames: int
    status: str
    temperature_K: float | None
    simulated_ps: float
    raw_changes: int = 0
    cored_changes: int = 0
    block_events: np.ndarray | None = None
    per_li_events: np.ndarray | None = None
    probe_counts: np.ndarray | None = None
    transport: TransportTally | None = None

    @classmethod
    def of(cls, path: str | Path, counter: RunCounter, store: RunStore, simulated_ps: float, *,
           status: str | None = None) -> RunCounts:
        """The counts in ``counter`` (which holds the committed frames of ``store``, or more)."""
        return cls(str(path), store.spec, counter.counts(), counter.per_li_counts(), counter.block_counts(),
                   counter.block_frames, counter.n_frames, status or store.status, store.temperature_K,
                   float(simulated_ps), counter.cores.raw_changes, counter.cores.cored_changes,
                   counter.transitions.block_events(), counter.transitions.per_li_events(), counter.probe_counts(),
                   None if counter.transport is None else counter.transport.tally())

    @property
    def events(self) -> np.ndarray:
        """(n, n) state changes i -> j of the core-assigned labels, each once."""
        return self.block_events.sum(axis=0)


def run_counts(path: str | Path, *, core_ps: float | None = None) -> RunCounts:
    """The committed counts of the store at ``path``, read-only (fine while another process writes it).

    ``core_ps`` other than the run's: its raw labels are re-cored and recounted with that core length.
    """
    store = RunStore.open(path, "r")
    spec = store.spec
    if core_ps is not None and core_frames_of(core_ps, spec.frame_dt_ps) != spec.core_frames:
        spec = dataclasses.replace(spec, core_frames=core_frames_of(core_ps, spec.frame_dt_ps))
        counter = recount(store, store.committed_frames, spec)
    else:
        counter, _ = committed_counter(store)
    run = RunCounts.of(path, counter, store, store.times_ps()[-1] if counter.n_frames else 0.0)
    return dataclasses.replace(run, spec=spec)


def ensemble_problems(first: RunSpec, other: RunSpec) -> list[str]:
    """Why a run with spec ``other`` cannot join an ensemble with ``first`` in words (empty: it can)."""
    problems = []
    if other.fingerprint != first.fingerprint or other.n_states != first.n_states:
        problems.append(f"state model {other.fingerprint[:12]} ({other.n_states} states), not "
                        f"{first.fingerprint[:12]} ({first.n_states} states)")
    if not np.isclose(other.frame_dt_ps, first.frame_dt_ps, rtol=1e-9):
        problems.append(f"frame spacing {other.frame_dt_ps:g} ps, not {first.frame_dt_ps:g} ps")
    if other.lags_frames != first.lags_frames:
        problems.append(f"lags {list(other.lags_frames)} frames, not {list(first.lags_frames)}")
    if other.core_frames != first.core_frames:
        problems.append(f"core length {other.core_ps:g} ps, not {first.core_ps:g} ps (analyze them with --core-ps)")
    return problems


@dataclass(frozen=True, slots=True)
class Ensemble:
    """Runs analysed as one model: their counts add.

    Attributes
    ----------
    runs : tuple of RunCounts
    """

    runs: tuple[RunCounts, ...]

    def __post_init__(self) -> None:
        if not self.runs:
            raise ParameterError("An ensemble needs at least one run store.")
        first = self.runs[0]
        problems = [f"{run.path} differs from {first.path}: " + "; ".join(found)
                    for run in self.runs[1:] if (found := ensemble_problems(first.spec, run.spec))]
        if problems:
            raise ParameterError("These runs cannot be analysed as one model: " + ". ".join(problems) + ".")

    @property
    def spec(self) -> RunSpec:
        return self.runs[0].spec

    @property
    def n_runs(self) -> int:
        return len(self.runs)

    @property
    def counts(self) -> np.ndarray:
        return np.sum([run.counts for run in self.runs], axis=0)

    @property
    def per_li_counts(self) -> np.ndarray:
        return np.concatenate([run.per_li_counts for run in self.runs])

    @property
    def n_li(self) -> list[int]:
        """Li atoms of each run."""
        return [run.spec.n_li for run in self.runs]

    @property
    def block_counts(self) -> list[np.ndarray]:
        return [run.block_counts for run in self.runs]

    @property
    def replica_counts(self) -> np.ndarray | None:
        """(n_runs, n_lags, n, n) counts of each run; None for a single run."""
        return np.stack([run.counts for run in self.runs]) if self.n_runs > 1 else None

    @property
    def events(self) -> np.ndarray:
        """(n, n) state changes i -> j of all runs, each once."""
        return np.sum([run.events for run in self.runs], axis=0)

    @property
    def block_events(self) -> list[np.ndarray]:
        return [run.block_events for run in self.runs]

    @property
    def per_li_events(self) -> np.ndarray:
        return np.concatenate([run.per_li_events for run in self.runs])

    @property
    def probe_counts(self) -> np.ndarray | None:
        """(n_lags, n, n) counts of all runs at twice the core length; None without core assignment."""
        probes = [run.probe_counts for run in self.runs]
        return None if any(p is None for p in probes) else np.sum(probes, axis=0)

    @property
    def transport(self) -> Transport | None:
        """How the Li of all runs moved, from their positions (None unless every run has them)."""
        tallies = [run.transport for run in self.runs]
        if any(t is None for t in tallies):
            return None
        spec = self.spec
        return summarise(tallies, [run.per_li_events for run in self.runs], frame_dt_ps=spec.frame_dt_ps,
                         smooth_frames=smooth_frames_of(spec.frame_dt_ps))

    def check(self, *, lag_index: int | None, source: tuple[int, ...] | None, target: tuple[int, ...] | None,
              criteria: ConvergenceCriteria, rng: np.random.Generator) -> Check:
        """The analysis of these counts (``analysis.convergence.check``): the one place a check's model and
        snapshot are computed, by the live monitor and by ``analyze``."""
        spec = self.spec
        probe = probe_core_frames(spec.core_frames)
        return check(self.counts, self.per_li_counts, self.block_counts, lags_ps=spec.lags_ps,
                     lag_index=lag_index, source=source, target=target, criteria=criteria, rng=rng,
                     block_ps=self.block_ps, replica_counts=self.replica_counts, n_li=self.n_li,
                     observed_ps=self.observed_ps, core_ps=spec.core_ps, label_changes_removed=self.removed_share,
                     events=self.events, block_events=self.block_events, probe_counts=self.probe_counts,
                     probe_core_ps=None if probe is None else probe * spec.frame_dt_ps, transport=self.transport)

    def snapshot(self, **question: Any) -> Snapshot:
        """The snapshot of ``check(**question)``."""
        return self.check(**question).snapshot

    @property
    def removed_share(self) -> float | None:
        """Share of the raw label changes of all runs that the core assignment removed (None before any)."""
        raw = sum(run.raw_changes for run in self.runs)
        return None if not raw else 1.0 - sum(run.cored_changes for run in self.runs) / raw

    @property
    def observed_ps(self) -> float:
        """Counted time per Li (ps), averaged over the Li of all runs: frames after equilibration whose core
        assignment is final."""
        spec = self.spec
        frames = [max(0, run.committed_frames - run.spec.core_frames + 1 - run.spec.equilibrate_frames)
                  for run in self.runs]
        return float(np.average(frames, weights=self.n_li)) * spec.frame_dt_ps

    @property
    def block_ps(self) -> float:
        """The longest block of time of the runs, in ps."""
        return max(run.block_frames for run in self.runs) * self.spec.frame_dt_ps

    @property
    def committed_frames(self) -> int:
        return sum(run.committed_frames for run in self.runs)

    @property
    def simulated_ps(self) -> float:
        """Simulated time of all runs together."""
        return sum(run.simulated_ps for run in self.runs)

    @property
    def status(self) -> str:
        """"running" while any run is; otherwise the runs' common status, or "mixed"."""
        statuses = {run.status for run in self.runs}
        return "running" if "running" in statuses else statuses.pop() if len(statuses) == 1 else "mixed"

    @property
    def name(self) -> str:
        return " + ".join(run.path for run in self.runs)

    def describe(self) -> tuple[RunLine, ...]:
        """One line of facts per run."""
        return tuple(RunLine(run.path, run.status, run.committed_frames, run.simulated_ps, run.spec.n_li,
                             run.temperature_K, int(run.events.sum())) for run in self.runs)


@dataclass(frozen=True, slots=True)
class RunLine:
    """The facts of one run of an ensemble: its store, status, committed frames, simulated ps, Li atoms,
    temperature (K, None when not recorded) and transitions: state changes of the core-assigned labels, each
    once."""

    store: str
    status: str
    committed_frames: int
    simulated_ps: float
    n_li: int
    temperature_K: float | None
    transitions: int

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def read_ensemble(paths: Sequence[str | Path], *, core_ps: float | None = None) -> Ensemble:
    """The committed counts of several stores as one ensemble (re-cored with ``core_ps`` when given); a clear error
    when they do not belong together."""
    resolved = [Path(p).resolve() for p in paths]
    repeated = sorted({str(p) for p, r in zip(paths, resolved) if resolved.count(r) > 1})
    if repeated:
        raise ParameterError(f"A store is named twice ({', '.join(repeated)}); its counts would count twice.")
    return Ensemble(tuple(run_counts(p, core_ps=core_ps) for p in paths))
