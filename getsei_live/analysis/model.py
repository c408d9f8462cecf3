"""One call from counts to the whole kinetic picture: Koopman matrix, timescales, rates, TPT and pathways."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ..deprecation import renamed_attribute, renamed_parameters
from ..errors import ParameterError
from ._checks import as_lag, as_state_set
from ._result import Result
from .koopman import TransitionMatrix, transition_matrix
from .pathways import DIVERSITY_ROUTES, Pathway, diversity, pathways
from .rates import RateMatrix, rate_matrix
from .spectral import ImpliedTimescales, implied_timescales
from ..display import TABLES, html_page, model_rows, route_text, to_pandas
from .tpt import ReactiveFlux, mfpt, reactive_flux

__all__ = ["KineticModel", "kinetic_model"]


@dataclass(frozen=True, slots=True)
class KineticModel(Result):
    """Everything estimated from one count matrix at one lag.

    ``transition``, ``timescales``, ``rates`` and ``flux`` index the active
    states (``transition.active_set`` maps them back); ``source``, ``target``
    and the states of ``pathways`` use the original state numbering (S0..Sn).

    Attributes
    ----------
    lag_ps : float
        Lag time in ps (``lag`` before 0.2, still read with a warning).
    transition : TransitionMatrix
    timescales : ImpliedTimescales
    rates : RateMatrix
    flux : ReactiveFlux or None
        None when fewer than two states are active.
    pathways : tuple of Pathway
    source, target : tuple of int
    endpoint_candidates : tuple of int
        States that hold a real share of the Li (stationary population at
        least ``min_population``, at least ``min_transitions`` transitions
        out): the default source and target are chosen among them.
    notes : tuple of str
        Warnings about the source and target (a state the interface barely visits).
    nothing_to_analyse : str or None
        Why there are no fluxes or pathways: fewer than two populated states (stationary population at least
        ``min_population``), or a default source that is also the target.
    mfpt_ps : float
        Mean first-passage time (ps) from the source to the target (``tpt.mfpt``); NaN without fluxes (``mfpt``
        before 0.2).
    pathway_diversity : float
        The effective number of routes (``pathways.diversity``: the exponential of the Shannon entropy of the
        route shares); NaN without fluxes.
    """

    lag_ps: float
    transition: TransitionMatrix
    timescales: ImpliedTimescales
    rates: RateMatrix
    flux: ReactiveFlux | None
    pathways: tuple[Pathway, ...]
    source: tuple[int, ...]
    target: tuple[int, ...]
    endpoint_candidates: tuple[int, ...] = ()
    notes: tuple[str, ...] = ()
    nothing_to_analyse: str | None = None
    mfpt_ps: float = float("nan")
    pathway_diversity: float = float("nan")

    lag = renamed_attribute("lag", "lag_ps")
    mfpt = renamed_attribute("mfpt", "mfpt_ps")

    @property
    def tpt_rate_per_ps(self) -> float:
        """Reactive transitions from the source to the target per ps (``flux.rate``); 0 without fluxes."""
        return float(self.flux.rate) if self.flux is not None else 0.0

    @property
    def mobility_ranking(self) -> tuple[int, ...]:
        """States (original numbering) from most to least mobile."""
        return tuple(int(self.transition.active_set[k]) for k in self.rates.mobility_ranking)

    def __repr__(self) -> str:
        ts = self.timescales.timescales
        t1 = f", t1 {ts[0]:.3g} ps" if len(ts) and np.isfinite(ts[0]) else ""
        first = self.pathways[0] if self.pathways else None
        top = (f", top route {route_text(first.states)} {100 * first.fraction:.0f}%"
               if self.pathways else "")
        n = len(self.transition.active_set) + len(self.transition.excluded_states)
        return f"<KineticModel lag {self.lag_ps:g} ps, {len(self.transition.active_set)} of {n} states active{t1}{top}>"

    def to_pandas(self, table: str = "pathways"):
        """``table`` ("states", "pathways" or "timescales") as a pandas DataFrame; pandas is needed for this alone."""
        return to_pandas(model_rows(self, table))

    def _repr_html_(self) -> str:
        tables = {t.capitalize(): model_rows(self, t) for t in TABLES}
        return html_page(repr(self).strip("<>"), list(self.notes), tables)


@renamed_parameters(min_transitions_out="min_transitions", lag="lag_ps")
def kinetic_model(
    counts: np.ndarray,
    lag_ps: float,
    *,
    source: int | Iterable[int] | None = None,
    target: int | Iterable[int] | None = None,
    reversible: bool = False,
    n_pathways: int | None = 5,
    min_population: float = 0.02,
    min_transitions: int = 20,
    events_out: np.ndarray | None = None,
) -> KineticModel:
    """Estimate the Koopman model and read rates, timescales, fluxes and pathways from it.

    Parameters
    ----------
    counts : (n_states, n_states) array_like
        Transition counts at lag ``lag_ps``.
    lag_ps : float
        Lag time in ps (``lag`` before 0.2).
    source, target : int or iterable of int, optional
        TPT sets in the original state numbering. By default the least mobile
        and the most mobile state, as in the paper, among the states that hold
        a real share of the Li (see ``min_population``).
    reversible : bool, default False
        Detailed-balance estimate instead of the paper's row-normalised counts.
    n_pathways : int or None, default 5
        How many pathways to extract; None for the full decomposition.
    min_population : float, default 0.02
        Least stationary population (fraction of the Li) of a default source
        or target state; a chosen source or target below it is noted.
    min_transitions : int, default 20
        Least number of observed transitions out of a default source or target state: state changes
        (``events_out``) where given, else the sliding-window counts out of it.
    events_out : (n_states,) array_like, optional
        State changes out of each state, each counted once (``TransitionCounter.events``).

    Returns
    -------
    KineticModel
    """
    lag = as_lag(lag_ps, "lag_ps")
    tm = transition_matrix(counts, reversible=reversible)
    K = tm.transition_matrix
    its = implied_timescales(K, lag)
    rates = rate_matrix(K, lag)
    active = tm.active_set
    src, dst, candidates, notes = _endpoints(tm, rates, source, target, min_population=min_population,
                                             min_transitions=min_transitions, events_out=events_out)
    empty = _nothing_to_analyse(tm, src, dst, min_population) or _outside(tm, src, dst)
    if empty is not None:
        return KineticModel(lag, tm, its, rates, None, (), src, dst, candidates, notes, empty)
    a, b = tm.to_active(src, "source"), tm.to_active(dst, "target")
    flux = reactive_flux(K, a, b, lag=lag)
    routes = tuple(
        Pathway(states=tuple(int(active[s]) for s in p.states), flux=p.flux, fraction=p.fraction,
                bottleneck=tuple(int(active[s]) for s in p.bottleneck),
                bottleneck_rate=float(rates.generator[p.bottleneck]))
        for p in pathways(flux, k=n_pathways)
    )
    spread = diversity([p.fraction for p in pathways(flux, k=DIVERSITY_ROUTES)])
    return KineticModel(lag, tm, its, rates, flux, routes, src, dst, candidates, notes, mfpt_ps=mfpt(K, a, b, lag=lag),
                        pathway_diversity=spread)


def _nothing_to_analyse(tm: TransitionMatrix, source: tuple[int, ...], target: tuple[int, ...],
                        min_population: float) -> str | None:
    """One line when the counts hold no kinetics to read: fewer than two populated states, or source = target."""
    pi = tm.stationary_distribution
    populated = [int(tm.active_set[k]) for k in np.flatnonzero(pi >= min_population)]
    if len(populated) < 2:
        names = ", ".join(f"S{s}" for s in populated) or "no state"
        others = [int(s) for s in tm.excluded_states if s not in tm.unvisited_states]
        if others:
            return (f"only {names} is connected both ways ({', '.join(f'S{s}' for s in others)} visited, but not "
                    f"yet left and re-entered): nothing to analyse yet")
        return f"only {names} is visited ({100 * pi.max():.1f}% of the Li): nothing to analyse yet"
    if set(source) & set(target):
        return (f"the least and the most mobile populated state are both {', '.join(f'S{s}' for s in source)}: "
                f"nothing to analyse yet")
    return None


def _outside(tm: TransitionMatrix, source: tuple[int, ...], target: tuple[int, ...]) -> str | None:
    """One line when a given source or target is outside the model's states (never visited, or not yet left and
    re-entered): early in a run, a question about a state the run has barely seen has no answer yet."""
    active = set(int(s) for s in tm.active_set)
    missing = [(name, s) for name, states in (("source", source), ("target", target)) for s in states
               if s not in active]
    if not missing:
        return None
    named = ", ".join(f"the {name} S{s}" for name, s in missing)
    how = ("never visited" if all(s in tm.unvisited_states for _, s in missing)
           else "not yet connected both ways with the other states")
    return f"{named} {'is' if len(missing) == 1 else 'are'} {how}: nothing to analyse yet"


def _endpoints(tm: TransitionMatrix, rates: RateMatrix, source, target, *, min_population: float,
               min_transitions: int, events_out: np.ndarray | None = None
               ) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[str, ...]]:
    """Source, target, the states they are chosen among by default, and notes on any the interface barely visits."""
    n, active = tm.n_states, tm.active_set
    exits = (tm.counts.sum(axis=1) - np.diag(tm.counts) if events_out is None
             else np.asarray(events_out, dtype=float)[active])
    unit = "transitions" if events_out is None else "state changes"
    populated = tm.stationary_distribution >= min_population
    real = populated & (exits >= min_transitions)
    notes = []
    if real.sum() < 2:
        if populated.sum() < 2:
            why = f"fewer than two states hold {100 * min_population:g}% of the Li"
        else:
            left = ", ".join(f"S{int(active[k])} {exits[k]:.0f}" for k in np.flatnonzero(populated))
            why = (f"fewer than two of the states that hold {100 * min_population:g}% of the Li were left "
                   f"{min_transitions} times ({unit} out: {left})")
        notes.append(f"{why}; source and target are chosen among all {active.size} states of the model")
        real[:] = True
    ranked = [k for k in rates.mobility_ranking if real[k]]
    candidates = tuple(int(active[k]) for k in sorted(ranked))
    src = as_state_set(source, n, "source") if source is not None else (int(active[ranked[-1]]),)
    dst = as_state_set(target, n, "target") if target is not None else (int(active[ranked[0]]),)
    given = source is not None and target is not None
    if given and (overlap := sorted(set(src) & set(dst))):
        raise ParameterError(f"The source and target sets overlap in states {overlap}; they must be disjoint.")
    position = {int(s): k for k, s in enumerate(active)}
    for name, chosen in (("source", src), ("target", dst)):
        for s in chosen:
            if s in position and not real[position[s]]:
                k = position[s]
                notes.append(f"{name} S{s} holds {100 * tm.stationary_distribution[k]:.1f}% of the Li with "
                             f"{exits[k]:.0f} {unit} out (below {100 * min_population:g}% or "
                             f"{min_transitions}): the interface barely visits it")
    return src, dst, candidates, tuple(notes)
