"""The full offline analysis of a run store, shared by ``getsei-live analyze`` and ``getsei-live report``."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..analysis import KineticModel, kinetic_model, nan_padded, timescales_by_lag
from ..analysis.coring import core_frames_of
from ..analysis.criteria import ConvergenceCriteria
from ..analysis.forecast import MAX_POINTS, forecast
from ..analysis.records import Environments, Snapshot
from ..analysis.verdict import ConvergenceMonitor, explain
from ..errors import ParameterError
from ..store.run_store import RunStore
from ..store.ensemble import Ensemble, RunLine, read_ensemble

__all__ = ["CORE_LENGTHS_PS", "CoreLength", "FitSummary", "FrameFits", "StoreAnalysis", "StoreInfo", "analyze_store",
           "analyze_stores", "core_lengths", "state_model_fit"]


#: Core lengths (ps) of ``analyze``'s table of implied timescales against core length (and the run's own).
CORE_LENGTHS_PS = (0.0, 0.1, 0.2, 0.3, 0.5, 1.0)


@dataclass(frozen=True, slots=True)
class FitSummary:
    """How well the state model fitted a store's recorded frames.

    Attributes
    ----------
    ood_fraction : float
        Share of Li environments below the model's fit threshold, over every recorded frame.
    ood_fraction_recent : float
        The same over the last 20 recorded frames of each run.
    frames : int
    threshold : float
        The state model's log-likelihood threshold.
    retrain : bool
        The recent share is above ``ConvergenceCriteria.max_ood_fraction``: the states no longer fit.
    """

    ood_fraction: float
    ood_fraction_recent: float
    frames: int
    threshold: float
    retrain: bool

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class StoreInfo:
    """The facts about the stores behind a ``StoreAnalysis``.

    Attributes
    ----------
    store : str
        The store's path (several joined by " + ").
    status : str
        "running", "converged", "finished", ... (several runs: their common status, "running" or "mixed").
    stop_reason : str or None
        Why a single run stopped early.
    committed_frames : int
        Of all runs together.
    simulated_ps : float
        Of all runs together.
    lags_ps : tuple of float
    timescales_by_lag : tuple of tuple of float
        The implied timescales (ps) at every lag.
    temperature_K : float or None
    n_runs : int
    runs : tuple of RunLine
    state_model_fit : FitSummary or None
    core_ps : float
        The core length (ps) the counts were cored with.
    label_changes_removed : float or None
        Share of the raw label changes the core assignment removed.
    core_lengths : tuple of CoreLength
        The implied timescales against core length.
    """

    store: str
    status: str
    stop_reason: str | None
    committed_frames: int
    simulated_ps: float
    lags_ps: tuple[float, ...]
    timescales_by_lag: tuple[tuple[float, ...], ...]
    temperature_K: float | None
    n_runs: int
    runs: tuple[RunLine, ...]
    state_model_fit: FitSummary | None
    core_ps: float
    label_changes_removed: float | None
    core_lengths: tuple[CoreLength, ...]

    def to_dict(self) -> dict:
        """JSON-ready, as ``getsei-live analyze --json`` prints it."""
        return {"store": self.store, "status": self.status, "stop_reason": self.stop_reason,
                "committed_frames": self.committed_frames, "simulated_ps": self.simulated_ps,
                "lags_ps": list(self.lags_ps), "timescales_by_lag": [list(t) for t in self.timescales_by_lag],
                "temperature_K": self.temperature_K, "n_runs": self.n_runs,
                "runs": [run.to_dict() for run in self.runs],
                "state_model_fit": None if self.state_model_fit is None else self.state_model_fit.to_dict(),
                "core_ps": self.core_ps, "label_changes_removed": self.label_changes_removed,
                "core_lengths": [row.to_dict() for row in self.core_lengths]}


@dataclass(frozen=True, slots=True)
class StoreAnalysis:
    """A store's committed data analysed at one lag.

    Attributes
    ----------
    info : StoreInfo
        Store(s), status, committed frames and simulated time (of all runs together), lags, the implied
        timescales at every lag, temperature, and one line per run (``runs``).
    model : KineticModel
    counts : (n_lags, n, n) ndarray
    per_li_counts : (n_li, n_lags, n, n) ndarray
    lag_index : int
    snapshot : Snapshot
        The live monitor's analysis of the same counts: intervals from resampling
        Li atoms and blocks of time, and the Markov test at every lag
        (``snapshot.markov``, with the Chapman-Kolmogorov test at the lag used), judged: its verdict continues the
        run's own checks (one store analysed as it was run) or starts afresh (``unchanged`` then needs
        ``patience`` checks and cannot hold).
    """

    info: StoreInfo
    model: KineticModel
    counts: np.ndarray
    per_li_counts: np.ndarray
    lag_index: int
    snapshot: Snapshot

    def to_dict(self) -> dict:
        """What ``getsei-live analyze --json`` prints."""
        stored = self.intervals_dict()
        intervals = {k: stored.get(k) for k in ("confidence", "interval_method", "pathway_fraction_ci",
                                                "top_route_resolved", "comparable_routes", "comparable_resolved",
                                                "pathway_diversity_ci", "timescales_ci", "timescales_by_lag_ci")}
        snap = self.snapshot
        verdict = snap.verdict
        return {**self.info.to_dict(), "markov": snap.markov.to_dict(), "intervals": intervals,
                "model": self.model.to_dict(), "n_events": snap.n_events, "events_out": list(snap.events_out),
                "events_per_li_ps": snap.events_per_li_ps,
                "core_test": None if snap.core_test is None else snap.core_test.to_dict(),
                "verdict": {"converged": snap.converged, "text": explain(snap),
                            "conditions": [c.to_dict() for c in verdict.conditions] if verdict else []}}

    def intervals_dict(self) -> dict:
        """The snapshot's intervals as stored (empty without resampling)."""
        return self.snapshot.intervals.to_dict() if self.snapshot.intervals is not None else {}

    def __repr__(self) -> str:
        return f"<StoreAnalysis of {self.info.store}: {repr(self.snapshot).strip('<>')}>"

    def to_pandas(self, table: str = "pathways"):
        """``table`` ("states", "pathways" or "timescales" by lag, with intervals) as a pandas DataFrame."""
        return self.snapshot.to_pandas(table)

    def _repr_html_(self) -> str:
        return self.snapshot._repr_html_()


def analyze_store(path: str | Path | Sequence[str | Path], *, lag_ps: float | str | None = None, source=None,
                  target=None, reversible: bool = False, n_pathways: int = 5, n_bootstrap: int = 200,
                  seed: int = 0, core_ps: float | None = None,
                  core_lengths_ps: Sequence[float] | None = CORE_LENGTHS_PS) -> StoreAnalysis:
    """Analyse the committed frames of a store, or of several as one model (read-only; fine while another
    process writes them).

    Parameters
    ----------
    path : str or Path, or a sequence of them
        Several stores (replicas: one state model, frame spacing and lags)
        are one model: their counts add, and the intervals also resample
        whole runs (see ``ConvergenceCriteria.min_replicas``).
    lag_ps : float or "auto", optional
        One of the store's lags, or "auto" for the shortest lag that passes the
        Markov test; default the (first) run's analysis lag.
    source, target : state(s), optional
        Default: the run's own (when it was given them), else the least and the most mobile state that holds a
        real share of the Li.
    reversible : bool, default False
    n_pathways : int, default 5
    n_bootstrap : int, default 200
        Resamples of Li atoms, of blocks of time (and of runs) for the intervals.
    seed : int, default 0
    core_ps : float, optional
        Re-core the raw labels with this core length (ps) instead of the run's.
    core_lengths_ps : sequence of float or None
        Core lengths (ps) of the table of implied timescales against core length (``info.core_lengths``);
        None for no table.
    """
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    ensemble = read_ensemble(paths, core_ps=core_ps)
    lags_ps = ensemble.spec.lags_ps
    first_store = RunStore.open(paths[0], "r")
    live = first_store.analysis
    if lag_ps is None:
        lag_ps = live.get("lag_ps", max(lags_ps))
    if source is None and target is None:  # the question the run asked, if it named one
        source, target = live.get("source"), live.get("target")
    counts = ensemble.counts
    n, simulated = ensemble.committed_frames, ensemble.simulated_ps
    lag_index = _lag_index(counts, lags_ps, lag_ps, n, simulated)
    stored = live.get("criteria") or {}
    criteria = ConvergenceCriteria.from_dict({**stored, "n_pathways": n_pathways, "n_bootstrap": n_bootstrap})
    model, snap = ensemble.check(lag_index=lag_index, source=source, target=target, criteria=criteria,
                                 rng=np.random.default_rng(seed))
    stores = [first_store] + [RunStore.open(p, "r") for p in paths[1:]]
    environments = Environments.pooled([s.environments for store in stores for s in store.snapshots()])
    own_core = core_ps is None or core_frames_of(core_ps, first_store.spec.frame_dt_ps) == first_store.spec.core_frames
    snap = _judged(dataclasses.replace(snap, environments=environments), first_store, criteria,
                   own=ensemble.n_runs == 1 and own_core)
    table = core_lengths(paths, core_lengths_ps, analysed=ensemble) if core_lengths_ps else []
    lag_index = snap.lag_index
    if reversible:  # the check's model is the paper's estimate; a detailed-balance one is asked for
        model = kinetic_model(counts[lag_index], snap.lag_ps, source=source, target=target, reversible=True,
                              n_pathways=n_pathways, min_population=criteria.min_population,
                              min_transitions=criteria.min_transitions,
                              events_out=ensemble.events.sum(axis=1) - np.diag(ensemble.events))
    by_lag = tuple(tuple(float(v) for v in t) for t in timescales_by_lag(counts, lags_ps, reversible=reversible))
    info = StoreInfo(store=ensemble.name, status=ensemble.status,
                     stop_reason=first_store.stop_reason if ensemble.n_runs == 1 else None,
                     committed_frames=n, simulated_ps=simulated, lags_ps=tuple(lags_ps), timescales_by_lag=by_lag,
                     temperature_K=ensemble.runs[0].temperature_K, n_runs=ensemble.n_runs, runs=ensemble.describe(),
                     state_model_fit=_fit_summary(paths, criteria.max_ood_fraction),
                     core_ps=ensemble.spec.core_ps, label_changes_removed=ensemble.removed_share,
                     core_lengths=tuple(table))
    return StoreAnalysis(info, model, counts, ensemble.per_li_counts, lag_index, snap)


def _judged(snap: Snapshot, store: RunStore, criteria: ConvergenceCriteria, *, own: bool) -> Snapshot:
    """The offline snapshot with its verdict: every condition, and ``unchanged`` continuing the run's own checks
    when it is analysed as it was run (one store, its core length), else starting from none."""
    monitor = ConvergenceMonitor(criteria)
    history = []
    if own:
        history = [s for s in store.snapshots() if s.verdict is not None and s.lag_ps == snap.lag_ps]
        if history and history[-1].frame == store.committed_frames:  # no new frames: this judges that check again
            history = history[:-1]
        monitor.restore(history)
    judged = monitor.judge(snap)
    if not own or not store.committed_frames:
        return judged
    time_ps = float(store.times_ps()[-1])
    judged = judged.at(frame=store.committed_frames, step=int(store.steps()[-1]), time_ps=time_ps,
                       environments=judged.environments)
    every = (store.analysis.get("check_every_frames") or 1) * store.spec.frame_dt_ps
    return dataclasses.replace(judged, forecast=forecast(history[-MAX_POINTS:], judged, criteria,
                                                         check_every_ps=every))


@dataclass(frozen=True, slots=True)
class CoreLength:
    """The counts of one core length: how often labels change and the implied timescales at every lag.

    Attributes
    ----------
    core_ps : float
    core_frames : int
    changes_per_li_ps : float
        Changes of the cored labels per Li per ps of counted time.
    removed_share : float or None
        Share of the raw label changes removed.
    t1_by_lag, t2_by_lag : tuple of float
        The two slowest implied timescales (ps) at every stored lag (NaN where undefined).
    """

    core_ps: float
    core_frames: int
    changes_per_li_ps: float
    removed_share: float | None
    t1_by_lag: tuple[float, ...]
    t2_by_lag: tuple[float, ...]

    def to_dict(self) -> dict:
        return {"core_ps": self.core_ps, "core_frames": self.core_frames,
                "changes_per_li_ps": self.changes_per_li_ps, "removed_share": self.removed_share,
                "t1_by_lag": list(self.t1_by_lag), "t2_by_lag": list(self.t2_by_lag)}


def core_lengths(paths: Sequence[str | Path], core_lengths_ps: Sequence[float], *,
                 analysed: Ensemble | None = None) -> list[CoreLength]:
    """The stores' raw labels re-cored at each core length (and at the runs' own): label changes and implied
    timescales at every lag, since the slowest timescale grows with the core length. ``analysed``: the ensemble
    read already at one of these core lengths (it is not read again)."""
    spec = RunStore.open(paths[0], "r").spec
    frames = sorted({core_frames_of(c, spec.frame_dt_ps) for c in core_lengths_ps} | {spec.core_frames})
    rows = []
    for c in frames:
        ensemble = (analysed if analysed is not None and analysed.spec.core_frames == c
                    else read_ensemble(paths, core_ps=c * spec.frame_dt_ps if c > 1 else 0.0))
        by_lag = nan_padded([t[:2] for t in timescales_by_lag(ensemble.counts, spec.lags_ps)], 2)
        changes = sum(run.cored_changes for run in ensemble.runs)
        li_ps = ensemble.observed_ps * sum(ensemble.n_li)
        rows.append(CoreLength(ensemble.spec.core_ps, c, changes / li_ps if li_ps else np.nan,
                               ensemble.removed_share, tuple(float(t) for t in by_lag[:, 0]),
                               tuple(float(t) for t in by_lag[:, 1])))
    return rows


def _lag_index(counts: np.ndarray, lags_ps: tuple[float, ...], lag_ps: float | str, n: int,
               simulated: float) -> int | None:
    """Where ``lag_ps`` is among the stored lags (None for "auto"); refuses a lag with no transitions yet."""
    if lag_ps == "auto":
        if counts[0].sum() == 0:
            raise ParameterError(f"The run is shorter than its shortest lag ({n} frames, {simulated:g} ps).")
        return None
    matches = [k for k, v in enumerate(lags_ps) if np.isclose(v, lag_ps)]
    if not matches:
        raise ParameterError(f"The store counts lags {', '.join(f'{v:g}' for v in lags_ps)} ps; "
                             f"a lag of {lag_ps:g} ps is not one of them.")
    if counts[matches[0]].sum() == 0:
        raise ParameterError(f"The lag ({lag_ps:g} ps) is longer than the run so far ({n} frames, "
                             f"{simulated:g} ps): no transitions at that lag yet.")
    return matches[0]


@dataclass(frozen=True, slots=True)
class FrameFits:
    """How well the state model fitted each recorded frame of a store.

    Attributes
    ----------
    time_ps : (n_frames,) ndarray
    ood_fraction : (n_frames,) ndarray
        Share of the frame's Li environments below the model's ``fit_threshold``.
    mean_log_likelihood : (n_frames,) ndarray
    threshold : float
    """

    time_ps: np.ndarray
    ood_fraction: np.ndarray
    mean_log_likelihood: np.ndarray
    threshold: float


def state_model_fit(path: str | Path) -> FrameFits | None:
    """How well the state model fitted each recorded frame of a store; None when nothing was recorded."""
    store = RunStore.open(path, "r")
    threshold = store.state_model_config.get("fit_threshold")
    fit = store.log_likelihood()
    recorded = ~np.all(np.isnan(fit), axis=1)
    if threshold is None or not recorded.any():
        return None
    fit = fit[recorded]
    return FrameFits(store.times_ps()[recorded], np.mean(fit < threshold, axis=1), fit.mean(axis=1),
                     float(threshold))


def _fit_summary(paths: Sequence[str | Path], max_ood_fraction: float) -> FitSummary | None:
    fits = [f for f in map(state_model_fit, paths) if f is not None]
    if not fits:
        return None
    ood = np.concatenate([f.ood_fraction for f in fits])
    recent = np.concatenate([f.ood_fraction[-20:] for f in fits])
    return FitSummary(float(ood.mean()), float(recent.mean()), int(ood.size), fits[0].threshold,
                      bool(recent.mean() > max_ood_fraction))


def analyze_stores(paths: Sequence[str | Path], **options) -> StoreAnalysis:
    """``analyze_store`` of several stores as one model (the same options)."""
    return analyze_store(list(paths), **options)
