"""The typed records of the live analysis: the ``Snapshot`` taken at every check and the ``Verdict`` on it.

A snapshot is what one check knows: the kinetic model at the analysis lag, the
implied timescales at every lag, the Markov test, the resampling intervals and,
once judged, the verdict. It is frozen; ``to_dict`` gives the JSON the store
keeps (one string per check, the same keys since version 0.1) and ``from_dict``
reads it back, tolerating the keys older stores lack and keeping the ones it
does not know. For code written against the dictionaries of 0.1 a snapshot is
also a read-only mapping of those keys (``snap["lag_ps"]``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from ..deprecation import renamed_attribute
from ..display import TABLES, html_page, route_text, snapshot_rows, to_pandas, verdict_lines
from ._result import FlatRecord, FrozenRecord, empty_array, int_tuple, listed, nan_array, strict_json
from .forecast import Forecast
from .markov import MarkovRecord
from .metastability import CoreTest
from .transport import Transport
from .model import KineticModel
from .pathways import Pathway
from .stationarity import Stationarity

__all__ = ["Condition", "Environments", "Intervals", "Snapshot", "StateFit", "Verdict"]


@dataclass(frozen=True, eq=False)
class StateFit(FlatRecord):
    """How well the state model describes the frames since the previous check (``DriftGuard``).

    Attributes
    ----------
    ood_fraction : float
        Share of Li environments below the training distribution's 1st-percentile log-likelihood.
    mean_log_likelihood : float
    threshold : float
    """

    ood_fraction: float
    mean_log_likelihood: float
    threshold: float


@dataclass(frozen=True, eq=False)
class Environments(FrozenRecord):
    """The mean environment of the Li in each state, measured on the frame of a check (``StateModel.environments``):
    what the Li of this run see, not what the state model's training frames held.

    Attributes
    ----------
    elements : tuple of str
        The columns of ``mean_counts``.
    li : (n_states,) ndarray of int
        Li atoms in each state in that frame (the weight of its means).
    mean_counts : (n_states, n_elements) ndarray
        Mean number of atoms of each element within the shell of a Li in the state (NaN for a state no Li is in).
    mean_neighbour_distance_A : (n_states,) ndarray
    """

    elements: tuple[str, ...]
    li: np.ndarray
    mean_counts: np.ndarray
    mean_neighbour_distance_A: np.ndarray

    def to_dict(self) -> dict:
        return {"elements": list(self.elements), "li": self.li.tolist(), "mean_counts": listed(self.mean_counts),
                "mean_neighbour_distance_A": listed(self.mean_neighbour_distance_A)}

    @classmethod
    def from_dict(cls, data: Mapping) -> Environments:
        return cls(tuple(data["elements"]), np.asarray(data["li"], dtype=int), nan_array(data["mean_counts"]),
                   nan_array(data["mean_neighbour_distance_A"]))

    @classmethod
    def pooled(cls, records: Sequence[Environments]) -> Environments | None:
        """The Li-weighted means over several checks' records (None for none)."""
        records = [r for r in records if r is not None]
        if not records:
            return None
        li = np.sum([r.li for r in records], axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            counts = np.sum([np.nan_to_num(r.mean_counts) * r.li[:, None] for r in records], axis=0) / li[:, None]
            distance = np.sum([np.nan_to_num(r.mean_neighbour_distance_A) * r.li for r in records], axis=0) / li
        return cls(records[0].elements, li, counts, distance)


@dataclass(frozen=True, eq=False)
class Intervals(FrozenRecord):
    """Resampling intervals of a snapshot: (lower, upper) pairs, NaN where a resample had no value.

    Attributes
    ----------
    Each field has the name of its stored key. Before 0.2 the fields had other names than their keys (``method``,
    ``pathway_fractions``, ``timescales``, ``timescales_by_lag``, ``transition_matrix``, ``mfpt``,
    ``bottleneck_rates``, ``pathway_diversity``); those names still read, with a warning.

    n_bootstrap : int
    interval_method : str
        What was resampled, in words ("Li atoms and blocks of time").
    confidence : float
    pathway_fraction_ci : (n_pathways, 2) ndarray
        Of each route's share of the flux.
    top_route_resolved : float
        Share of the resamples in which the top route stays on top, between the
        same source and target (a default source or target is chosen again in
        every resample, see ``endpoints_resolved``).
    endpoints_resolved : float
        Share of the resamples that choose the same default source (least
        mobile) and target (most mobile) as the estimate; 1 when both were
        given, NaN in stores written before 0.3, which did not check.
    timescales_ci : (n - 1, 2) ndarray
        Of the implied timescales (ps) at the analysis lag.
    timescales_by_lag_ci : (n_lags, n - 1, 2) ndarray
    transition_matrix_ci : (n, n, 2) ndarray
    mfpt_ci : (2,) ndarray
        Of the mean first-passage time from source to target (ps).
    bottleneck_rate_ci : (n_pathways, 2) ndarray
        Of the rate (1/ps) of each pathway's rate-limiting step.
    comparable_routes : tuple of int
        The routes (indices into the snapshot's pathways) that cannot be told from the top route: the top route
        and each route whose share interval overlaps its own (``uncertainty.comparable_routes``).
    comparable_resolved : float
        Share of the resamples whose top route is one of ``comparable_routes`` (between the same source and
        target): with several comparable routes, the answer is that they tie.
    pathway_diversity_ci : (2,) ndarray
        Of the effective number of routes.
    """

    n_bootstrap: int = 0
    interval_method: str = ""
    confidence: float = float("nan")
    pathway_fraction_ci: np.ndarray = field(default_factory=empty_array)
    top_route_resolved: float = 0.0
    endpoints_resolved: float = float("nan")
    timescales_ci: np.ndarray = field(default_factory=empty_array)
    timescales_by_lag_ci: np.ndarray = field(default_factory=empty_array)
    transition_matrix_ci: np.ndarray = field(default_factory=empty_array)
    mfpt_ci: np.ndarray = field(default_factory=lambda: np.full(2, np.nan))
    bottleneck_rate_ci: np.ndarray = field(default_factory=empty_array)
    comparable_routes: tuple[int, ...] = ()
    comparable_resolved: float = float("nan")
    pathway_diversity_ci: np.ndarray = field(default_factory=lambda: np.full(2, np.nan))

    method = renamed_attribute("method", "interval_method")
    pathway_fractions = renamed_attribute("pathway_fractions", "pathway_fraction_ci")
    timescales = renamed_attribute("timescales", "timescales_ci")
    timescales_by_lag = renamed_attribute("timescales_by_lag", "timescales_by_lag_ci")
    transition_matrix = renamed_attribute("transition_matrix", "transition_matrix_ci")
    mfpt = renamed_attribute("mfpt", "mfpt_ci")
    bottleneck_rates = renamed_attribute("bottleneck_rates", "bottleneck_rate_ci")
    pathway_diversity = renamed_attribute("pathway_diversity", "pathway_diversity_ci")

    def to_dict(self) -> dict:
        """The stored keys: the field names."""
        return {name: listed(value) if isinstance(value, np.ndarray) else list(value) if isinstance(value, tuple)
                else value for name, value in ((f.name, getattr(self, f.name)) for f in fields(self))}

    @classmethod
    def from_dict(cls, data: Mapping) -> Intervals | None:
        """The intervals among a snapshot's stored keys; None when it has none."""
        if not any(key in data for key in ("pathway_fraction_ci", "timescales_ci", "confidence")):
            return None
        values = {f.name: data[f.name] for f in fields(cls) if data.get(f.name) is not None}
        for name, value in values.items():
            if name.endswith("_ci"):
                values[name] = nan_array(value)
        if "comparable_routes" in values:
            values["comparable_routes"] = int_tuple(values["comparable_routes"])
        return cls(**values)


@dataclass(frozen=True, eq=False)
class Condition(FlatRecord):
    """One convergence condition: passed or not, its value against its threshold, and why in words."""

    name: str
    passed: bool
    value: Any
    threshold: Any
    unit: str
    detail: str


@dataclass(frozen=True, eq=False)
class Verdict:
    """The judgement of one snapshot (``ConvergenceMonitor.judge``).

    Attributes
    ----------
    stable : bool
        The point estimates did not move since the previous check.
    stable_streak : int
        Checks in a row that were unchanged with every other condition met.
    conditions : tuple of Condition
    failed : tuple of str
        Names of the conditions that failed.
    converged : bool
    reasons : tuple of str
        What failed, in words.
    notes : tuple of str
        What the Li positions say about the meaning of the answer, in words (``transport.transport_notes``): Li
        that hardly move, or state changes that do not move them. They do not decide convergence; they say what a
        converged answer is an answer about.
    """

    stable: bool
    stable_streak: int
    conditions: tuple[Condition, ...]
    failed: tuple[str, ...]
    converged: bool
    reasons: tuple[str, ...]
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"stable": self.stable, "stable_streak": self.stable_streak,
                "conditions": [c.to_dict() for c in self.conditions], "failed": list(self.failed),
                "converged": self.converged, "reasons": list(self.reasons), "notes": list(self.notes)}

    @classmethod
    def from_dict(cls, data: Mapping) -> Verdict | None:
        """The verdict among a snapshot's stored keys; None for a snapshot not judged."""
        if "converged" not in data:
            return None
        return cls(bool(data.get("stable", False)), int(data.get("stable_streak", 0)),
                   tuple(Condition.from_dict(c) for c in data.get("conditions", ())), tuple(data.get("failed", ())),
                   bool(data["converged"]), tuple(data.get("reasons", ())), tuple(data.get("notes", ())))


#: Stored keys of the snapshot's own fields, in the order the store has always written them.
_MODEL_KEYS = ("lag_ps", "lag_auto", "n_transitions", "transitions_out", "active_set", "excluded_states",
               "stationary_distribution", "transition_matrix", "lags_ps", "timescales_by_lag", "timescales",
               "generator_per_ps", "rates_valid", "rate_problems", "escape_rates", "mobility", "mobility_ranking",
               "source", "target", "endpoint_candidates", "endpoint_notes", "total_flux", "tpt_rate_per_ps", "pathways",
               "n_blocks", "n_replicas", "block_ps", "markov", "core_ps", "label_changes_removed", "observed_ps",
               "nothing_to_analyse", "stationarity", "mfpt_ps", "pathway_diversity", "n_events", "events_out",
               "events_per_li_ps", "core_test", "transport", "forecast")
_ARRAYS = ("stationary_distribution", "transition_matrix", "timescales_by_lag", "timescales", "generator_per_ps",
           "escape_rates", "mobility")
_INTS = ("transitions_out", "active_set", "excluded_states", "mobility_ranking", "source", "target",
         "endpoint_candidates", "events_out")
#: Stored records of a snapshot (each with ``to_dict``/``from_dict``), by key.
_RECORDS = {"markov": MarkovRecord, "stationarity": Stationarity, "core_test": CoreTest, "transport": Transport,
            "forecast": Forecast}
_CONTEXT = ("frame", "step", "time_ps")
#: Snapshot keys of stores written before 0.2, and their names now (read, never written).
LEGACY_KEYS = {"rate_matrix": "generator_per_ps"}
#: Stored keys of a snapshot's intervals: the names of their fields.
INTERVAL_FIELDS = tuple(f.name for f in fields(Intervals))
_VERDICT_KEYS = ("stable", "stable_streak", "conditions", "failed", "converged", "reasons", "notes")


@dataclass(frozen=True, eq=False)
class Snapshot(FrozenRecord, Mapping):
    """One analysis check: the model at the analysis lag, the timescales at every lag, the Markov test, the
    intervals, where the run was, and (once judged) the verdict.

    Vectors and matrices use the original state numbering (S0..Sn, zero or NaN for
    states outside the active set); NaN where a timescale or a bound has no value.

    Attributes
    ----------
    lag_ps : float
        The analysis lag.
    lag_auto : bool
        The lag was chosen by the Markov test (the shortest stored lag that passes).
    n_transitions : int
        Sliding-window pairs counted at the lag (the estimator's input; each change of state appears in about
        lag / frame interval of them, so they are not events: see ``n_events``).
    transitions_out : tuple of int
        Sliding-window pairs out of each state at the lag.
    active_set, excluded_states : tuple of int
    stationary_distribution : (n,) ndarray
    transition_matrix : (n, n) ndarray
    generator_per_ps : (n, n) ndarray
        The rates between states (1/ps): logm(K)/lag where it is a generator, else the nearest valid one
        (``RateMatrix.generator``). Called ``rate_matrix`` before 0.2, the name ``RateMatrix`` gives the raw logarithm.
    lags_ps : tuple of float
    timescales_by_lag : (n_lags, n - 1) ndarray
    timescales : (n - 1,) ndarray
        At the analysis lag.
    rates_valid : bool
    rate_problems : tuple of str
    escape_rates, mobility : (n,) ndarray
    mobility_ranking, source, target, endpoint_candidates : tuple of int
    endpoint_notes : tuple of str
    total_flux, tpt_rate_per_ps : float
    pathways : tuple of Pathway
    n_blocks, n_replicas : int
        Blocks of time and runs the intervals resample.
    block_ps : float or None
    markov : MarkovRecord or None
    core_ps : float
        Core length of the counted labels (0: raw labels).
    label_changes_removed : float or None
        Share of the raw label changes that the core assignment removed.
    observed_ps : float or None
        Counted time per Li (ps).
    nothing_to_analyse : str or None
        Why there is no kinetics to read yet (fewer than two populated states, or the source is the target).
    stationarity : Stationarity or None
        Populations and leaving probabilities in the two halves of the run (None: too few blocks of time).
    mfpt_ps : float
        Mean first-passage time from the source to the target (ps); NaN without fluxes (and in older stores).
    pathway_diversity : float
        The effective number of routes (exponential of the Shannon entropy of the route shares); NaN without
        fluxes (and in older stores).
    n_events : int
        State changes of the core-assigned labels over the counted time, each once: the transitions that
        thresholds and sentences speak of (0 in stores from before they were counted).
    events_out : tuple of int
        State changes out of each state.
    events_per_li_ps : float
        State changes per Li per ps of counted time (NaN when unknown).
    core_test : CoreTest or None
        The slow timescales at the run's core length and at twice it (None without core assignment).
    transport : Transport or None
        How the Li moved, from their positions, and how far over each state change (None where the frames came
        without positions).
    forecast : Forecast or None
        When the run is forecast to converge, from its own checks (``analysis.forecast``); None until judged and
        forecast (and in stores from before 0.3).
    intervals : Intervals or None
        None without resampling (``n_bootstrap=0``).
    frame, step, time_ps : int, int, float or None
        Where the run was (None for an offline analysis).
    ensemble : tuple of str
        The stores analysed together (empty for one run).
    fit : StateFit or None
    environments : Environments or None
        The mean environment of each state's Li in the frame of the check (None where the labeller cannot say, or
        the frames were labelled elsewhere).
    verdict : Verdict or None
        None until ``ConvergenceMonitor.judge``.
    extra : dict
        Stored keys this version does not know, kept as they were.
    """

    lag_ps: float
    lag_auto: bool = False
    n_transitions: int = 0
    transitions_out: tuple[int, ...] = ()
    active_set: tuple[int, ...] = ()
    excluded_states: tuple[int, ...] = ()
    stationary_distribution: np.ndarray = field(default_factory=empty_array)
    transition_matrix: np.ndarray = field(default_factory=empty_array)
    lags_ps: tuple[float, ...] = ()
    timescales_by_lag: np.ndarray = field(default_factory=empty_array)
    timescales: np.ndarray = field(default_factory=empty_array)
    generator_per_ps: np.ndarray = field(default_factory=empty_array)
    rates_valid: bool = False
    rate_problems: tuple[str, ...] = ()
    escape_rates: np.ndarray = field(default_factory=empty_array)
    mobility: np.ndarray = field(default_factory=empty_array)
    mobility_ranking: tuple[int, ...] = ()
    source: tuple[int, ...] = ()
    target: tuple[int, ...] = ()
    endpoint_candidates: tuple[int, ...] = ()
    endpoint_notes: tuple[str, ...] = ()
    total_flux: float = 0.0
    tpt_rate_per_ps: float = 0.0
    pathways: tuple[Pathway, ...] = ()
    n_blocks: int = 0
    n_replicas: int = 1
    block_ps: float | None = None
    markov: MarkovRecord | None = None
    core_ps: float = 0.0
    label_changes_removed: float | None = None
    observed_ps: float | None = None
    nothing_to_analyse: str | None = None
    stationarity: Stationarity | None = None
    mfpt_ps: float = float("nan")
    pathway_diversity: float = float("nan")
    n_events: int = 0
    events_out: tuple[int, ...] = ()
    events_per_li_ps: float = float("nan")
    core_test: CoreTest | None = None
    transport: Transport | None = None
    forecast: Forecast | None = None
    intervals: Intervals | None = None
    frame: int | None = None
    step: int | None = None
    time_ps: float | None = None
    ensemble: tuple[str, ...] = ()
    fit: StateFit | None = None
    environments: Environments | None = None
    verdict: Verdict | None = None
    extra: Mapping = field(default_factory=dict)

    @classmethod
    def of(cls, model: KineticModel, counts: np.ndarray, *, lags_ps: tuple[float, ...], timescales_by_lag: np.ndarray,
           markov: MarkovRecord, intervals: Intervals | None, lag_auto: bool, n_blocks: int, n_replicas: int,
           block_ps: float | None, core_ps: float = 0.0, label_changes_removed: float | None = None,
           observed_ps: float | None = None, stationarity: Stationarity | None = None,
           events: np.ndarray | None = None, events_per_li_ps: float = float("nan"),
           core_test: CoreTest | None = None, transport: Transport | None = None) -> Snapshot:
        """The snapshot of ``model``, estimated from ``counts`` (n, n) at its lag, among the stored ``lags_ps``
        (``events``: the (n, n) state changes i -> j, each once)."""
        n = counts.shape[-1]
        active = model.transition.active_set

        def full(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
            out = np.zeros(shape)
            out[np.ix_(*[active] * len(shape))] = values
            return out

        lag_index = lags_ps.index(model.lag_ps)
        flux = model.flux
        return cls(
            lag_ps=model.lag_ps, lag_auto=lag_auto, n_transitions=int(counts.sum()),
            transitions_out=int_tuple(counts.sum(axis=1) - np.diag(counts)), active_set=int_tuple(active),
            excluded_states=int_tuple(model.transition.excluded_states),
            stationary_distribution=full(model.transition.stationary_distribution, (n,)),
            transition_matrix=full(model.transition.transition_matrix, (n, n)), lags_ps=tuple(lags_ps),
            timescales_by_lag=timescales_by_lag, timescales=timescales_by_lag[lag_index],
            generator_per_ps=full(model.rates.generator, (n, n)), rates_valid=model.rates.valid,
            rate_problems=tuple(model.rates.problems), escape_rates=full(model.rates.escape_rates, (n,)),
            mobility=full(model.rates.mobility, (n,)), mobility_ranking=model.mobility_ranking,
            source=model.source, target=model.target, endpoint_candidates=model.endpoint_candidates,
            endpoint_notes=model.notes, total_flux=flux.total_flux if flux is not None else 0.0,
            tpt_rate_per_ps=model.tpt_rate_per_ps, pathways=model.pathways, n_blocks=n_blocks,
            n_replicas=n_replicas, block_ps=block_ps, markov=markov, intervals=intervals,
            nothing_to_analyse=model.nothing_to_analyse, core_ps=core_ps,
            label_changes_removed=label_changes_removed, observed_ps=observed_ps, stationarity=stationarity,
            mfpt_ps=model.mfpt_ps, pathway_diversity=model.pathway_diversity,
            n_events=0 if events is None else int(events.sum()),
            events_out=() if events is None else int_tuple(events.sum(axis=1) - np.diag(events)),
            events_per_li_ps=float(events_per_li_ps), core_test=core_test, transport=transport)

    # ---------------------------------------------------------------- the stored form
    def to_dict(self) -> dict:
        """The JSON-ready dictionary the store keeps (non-finite numbers as None)."""
        out: dict[str, Any] = {k: getattr(self, k) for k in _CONTEXT if getattr(self, k) is not None}
        if self.ensemble:
            out["ensemble"] = list(self.ensemble)
        if self.fit is not None:
            out["fit"] = self.fit.to_dict()
        if self.environments is not None:
            out["environments"] = self.environments.to_dict()
        for key in _MODEL_KEYS:
            value = getattr(self, key)
            if isinstance(value, np.ndarray):
                value = listed(value)
            elif key == "pathways":
                value = [{"states": list(p.states), "flux": p.flux, "fraction": p.fraction,
                          "bottleneck": list(p.bottleneck), "bottleneck_rate_per_ps": p.bottleneck_rate}
                         for p in value]
            elif key in _RECORDS:
                value = value.to_dict() if value is not None else None
            elif isinstance(value, tuple):
                value = list(value)
            out[key] = value
        if self.intervals is not None:
            out.update(self.intervals.to_dict())
        if self.verdict is not None:
            out.update(self.verdict.to_dict())
        out.update(self.extra)
        return strict_json(out)

    @classmethod
    def from_dict(cls, data: Mapping) -> Snapshot:
        """A stored snapshot (or any mapping with at least ``lag_ps``); missing keys take their defaults."""
        if isinstance(data, Snapshot):
            return data
        known = {*LEGACY_KEYS, *_MODEL_KEYS, *_CONTEXT, "ensemble", "fit", "environments", *INTERVAL_FIELDS,
                 *_VERDICT_KEYS}
        data = {**{LEGACY_KEYS[k]: v for k, v in data.items() if k in LEGACY_KEYS}, **data}  # stores before 0.2
        values: dict[str, Any] = {k: data[k] for k in (*_MODEL_KEYS, *_CONTEXT) if k in data}
        for key in _ARRAYS:
            if key in values:
                values[key] = nan_array(values[key])
        for key in _INTS:
            if key in values:
                values[key] = int_tuple(values[key])
        for key in ("lags_ps", "rate_problems", "endpoint_notes"):
            if key in values:
                values[key] = tuple(values[key])
        values["pathways"] = tuple(Pathway(tuple(int(s) for s in p["states"]), _float(p.get("flux")),
                                           float(p["fraction"]), tuple(int(s) for s in p.get("bottleneck", ())),
                                           _float(p.get("bottleneck_rate_per_ps")))
                                   for p in data.get("pathways", ()))
        for key in ("mfpt_ps", "pathway_diversity", "events_per_li_ps"):
            if key in values:
                values[key] = _float(values[key])
        for key, record in _RECORDS.items():
            values[key] = record.from_dict(data[key]) if data.get(key) else None
        fit = StateFit.from_dict(data["fit"]) if data.get("fit") else None
        environments = Environments.from_dict(data["environments"]) if data.get("environments") else None
        return cls(**values, ensemble=tuple(data.get("ensemble", ())), fit=fit, environments=environments,
                   intervals=Intervals.from_dict(data), verdict=Verdict.from_dict(data),
                   extra={k: v for k, v in data.items() if k not in known})

    def judged(self, verdict: Verdict) -> Snapshot:
        return dataclasses.replace(self, verdict=verdict)

    def at(self, *, frame: int, step: int, time_ps: float, ensemble: tuple[str, ...] = (),
           fit: StateFit | None = None, environments: Environments | None = None) -> Snapshot:
        """This snapshot, recorded at ``frame`` (MD ``step``, ``time_ps``) of a run."""
        return dataclasses.replace(self, frame=frame, step=step, time_ps=time_ps, ensemble=tuple(ensemble), fit=fit,
                                   environments=environments)

    @property
    def converged(self) -> bool:
        return self.verdict is not None and self.verdict.converged

    rate_matrix = renamed_attribute("rate_matrix", "generator_per_ps")

    @property
    def lag_index(self) -> int:
        return self.lags_ps.index(self.lag_ps)

    # ---------------------------------------------------------------- the 0.1 dictionary view
    @functools.cached_property
    def _stored(self) -> dict:
        return self.to_dict()

    def __getitem__(self, key: str) -> Any:
        return self._stored[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._stored)

    def __len__(self) -> int:
        return len(self._stored)

    def __repr__(self) -> str:
        where = f"{self.time_ps:g} ps, " if self.time_ps is not None else ""
        where += f"frame {self.frame}, " if self.frame is not None else ""
        t1 = f", t1 {self.timescales[0]:.3g} ps" if len(self.timescales) and np.isfinite(self.timescales[0]) else ""
        top = (f", top route {route_text(self.pathways[0].states)} "
               f"{100 * self.pathways[0].fraction:.0f}%" if self.pathways else "")
        verdict = "" if self.verdict is None else (", converged" if self.verdict.converged else ", not converged")
        return f"<Snapshot {where}lag {self.lag_ps:g} ps{t1}{top}{verdict}>"

    # ---------------------------------------------------------------- for notebooks
    def to_pandas(self, table: str = "pathways"):
        """``table`` ("states", "pathways" or "timescales" by lag, each with its interval bounds) as a pandas
        DataFrame; pandas is needed for this alone."""
        return to_pandas(snapshot_rows(self, table))

    def _repr_html_(self) -> str:
        return html_page(repr(self).strip("<>"), verdict_lines(self),
                         {t.capitalize(): snapshot_rows(self, t) for t in TABLES})


def _float(value: Any) -> float:
    return float("nan") if value is None else float(value)
