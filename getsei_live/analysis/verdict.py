"""The verdict on a snapshot: each convergence condition, passed or not and by how much, the streak of checks
that held, and why in words. "Converged" means the answer will not change with more MD, within the intervals shown.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .criteria import ConvergenceCriteria
from .records import Condition, Snapshot, Verdict
from ..display import interval_of, interval_text, route_text, state_names
from .transport import transport_notes

__all__ = ["ConvergenceMonitor", "EQUILIBRATING", "RETRAIN", "comparable_text", "conditions", "endpoints_text",
           "explain", "timescale_text"]

#: What the verdict says instead of "converged" when the state model no longer fits the frames.
RETRAIN = ("states no longer describe the structure; retrain: 'getsei-live train' on this run's frames (a run with "
           "--trajectory writes them; train --n-states auto --frame-ps <ps between them>), then replay them, or "
           "run with --states auto --warmup-ps, which trains on the first ps of the run itself")

#: What it says when populations or rates still drift across the run.
EQUILIBRATING = "still equilibrating"


def _slow(snap: Snapshot, n_timescales: int) -> list[int]:
    """Indices of the slowest timescales at the analysis lag that are longer than the lag."""
    return [k for k, t in enumerate(snap.timescales[:n_timescales]) if t > snap.lag_ps]


def _transitions(snap: Snapshot, c: ConvergenceCriteria) -> Condition:
    active = set(snap.active_set)
    events = bool(snap.events_out)
    out = snap.events_out if events else snap.transitions_out  # stores from before events were counted
    unit = "state changes" if events else "transitions"
    exits = {s: k for s, k in enumerate(out) if s in active}
    fewest = min(exits.values(), default=0)
    scarce = [f"S{s} ({k})" for s, k in exits.items() if k < c.min_transitions]
    return Condition("min_transitions", not scarce, fewest, c.min_transitions, unit,
                     f"fewer than {c.min_transitions} {unit} out of {', '.join(scarce)}" if scarce
                     else f"at least {fewest} {unit} out of every state")


def _metastable(snap: Snapshot) -> list[Condition]:
    """The core test (only with core assignment: without it no answer depends on a core length)."""
    test = snap.core_test
    if test is None:
        if not snap.core_ps:
            return []
        return [Condition("metastable", False, None, "core test", "",
                          "the core test was not made (a snapshot from before 0.3): analyze the store again")]
    t, probe = test.timescales, test.probe_timescales
    shown = f"t1 = {t[0]:.3g} ps at core {test.core_ps:g} ps, {probe[0]:.3g} ps at {test.probe_core_ps:g} ps" \
        if t.size and np.isfinite(t[0]) and np.isfinite(probe[0]) else ""
    detail = (f"metastable: slow timescales unchanged within {100 * test.rtol:g}% when the core doubles ({shown})"
              if test.passed else "; ".join(test.reasons) if not test.judged
              else "not metastable: " + "; ".join(test.reasons))
    return [Condition("metastable", test.passed, shown or None, f"within {100 * test.rtol:g}%", "", detail)]


def _markovian(snap: Snapshot) -> Condition:
    markov = snap.markov
    at = markov.lags_ps.index(snap.lag_ps)
    suggestion = markov.suggested_lag_ps
    why = "; ".join(markov.reasons[at])
    if markov.markovian[at]:
        detail = f"CK test passed at lag {snap.lag_ps:g} ps"
    else:
        shortest = (f"the shortest stored lag that passes is {suggestion:g} ps" if suggestion is not None
                    else "no stored lag passes (count longer lags)")
        detail = f"lag {snap.lag_ps:g} ps is not Markovian: {why}; {shortest}"
    return Condition("markovian", markov.markovian[at], why or "passed", "plateau and CK", "", detail)


def endpoints_text(snap: Snapshot) -> str:
    """How often the resamples pick the same default source and target, in words; "" when both were given or
    every resample agrees."""
    shared = snap.intervals.endpoints_resolved if snap.intervals is not None else np.nan
    if not np.isfinite(shared) or shared >= 1:
        return ""
    src, dst = (", ".join(f"S{s}" for s in states) for states in (snap.source, snap.target))
    return f"{src} least and {dst} most mobile in {100 * shared:.0f}% of resamples"


def comparable_text(snap: Snapshot) -> str:
    """"S0 -> S1 -> S3 49% [46, 52] and S0 -> S2 -> S3 47% [44, 50]": the routes that cannot be told from the top
    route, each with its share and interval; "" when the top route stands alone."""
    intervals = snap.intervals
    tied = intervals.comparable_routes if intervals is not None else ()
    route = next((c for c in snap.verdict.conditions if c.name == "route_interval"), None) if snap.verdict else None
    if len(tied) < 2 or (route is not None and not route.passed):  # wide intervals overlap: no tie is told yet
        return ""
    names = state_names(snap.environments)
    parts = [f"{route_text(snap.pathways[k].states, names=names)} {100 * snap.pathways[k].fraction:.0f}%"
             + (f" {bounds}" if (bounds := interval_of(intervals.pathway_fraction_ci, k, 100, '.0f')) else "")
             for k in tied if k < len(snap.pathways)]
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _routes(snap: Snapshot, c: ConvergenceCriteria) -> list[Condition]:
    ci = snap.intervals.pathway_fraction_ci if snap.intervals is not None else np.zeros(0)
    if not snap.pathways or not ci.size:
        return [Condition("route_interval", False, None, c.share_ci_width, "share", "no pathway intervals yet"),
                Condition("top_route_resolved", False, None, c.top_route_confidence, "fraction of resamples",
                          "no pathway intervals yet")]
    widest = float(np.max(ci[:, 1] - ci[:, 0]))  # NaN bounds make it NaN: not passed
    widest = widest if np.isfinite(widest) else np.inf
    intervals = snap.intervals
    resolved = intervals.top_route_resolved
    ends = endpoints_text(snap)
    unresolved_ends = ends and intervals.endpoints_resolved < c.top_route_confidence
    need = f"(need {100 * c.top_route_confidence:g}%)"
    tied = comparable_text(snap) if widest <= c.share_ci_width else ""  # a tie only once the shares are narrow
    together = intervals.comparable_resolved
    if resolved >= c.top_route_confidence or not tied:
        top = Condition("top_route_resolved", resolved >= c.top_route_confidence, resolved, c.top_route_confidence,
                        "fraction of resamples", f"top route on top in {100 * resolved:.0f}% of resamples {need}"
                        + (f": which way it runs is not resolved ({ends})" if unresolved_ends else ""))
    else:
        top = Condition("top_route_resolved", together >= c.top_route_confidence, together, c.top_route_confidence,
                        "fraction of resamples",
                        f"comparable routes: {tied}; one of them on top in {100 * together:.0f}% of resamples {need}"
                        + (f": which way they run is not resolved ({ends})" if unresolved_ends else ""))
    return [Condition("route_interval", widest <= c.share_ci_width, widest, c.share_ci_width, "share",
                      f"widest route-share interval {100 * widest:.1f} points (at most {100 * c.share_ci_width:g})"),
            top]


def _stationary(snap: Snapshot) -> Condition:
    steady = snap.stationarity
    if steady is None:
        return Condition("stationary", False, None, "no drift", "", "too few blocks of time to judge drift yet")
    if snap.events_out and not snap.n_events:
        return Condition("stationary", False, None, "no drift", "",
                         "no state change counted yet: drift cannot be judged (the core assignment removed "
                         + (f"{100 * snap.label_changes_removed:.0f}% of the raw label changes)"
                            if snap.label_changes_removed is not None else "every raw label change)"))
    if steady.stationary:
        return Condition("stationary", True, "no drift", "no drift", "",
                         "populations and leaving probabilities steady across the run")
    return Condition("stationary", False, "; ".join(steady.reasons), "no drift", "",
                     f"{EQUILIBRATING}: " + "; ".join(steady.reasons))


def _analysable(snap: Snapshot) -> list[Condition]:
    if snap.nothing_to_analyse is None:
        return []
    return [Condition("analysable", False, None, "two populated states", "", snap.nothing_to_analyse)]


def _states_fit(snap: Snapshot, c: ConvergenceCriteria) -> list[Condition]:
    if snap.fit is None:
        return []
    ood = snap.fit.ood_fraction
    limit = f"(at most {100 * c.max_ood_fraction:g}%)"
    return [Condition("states_fit", ood <= c.max_ood_fraction, ood, c.max_ood_fraction, "fraction of Li",
                      f"{100 * ood:.1f}% of Li environments outside the state model's training distribution"
                      + (f" {limit}" if ood <= c.max_ood_fraction else f": {RETRAIN} {limit}"))]


def _timescale_interval(snap: Snapshot, c: ConvergenceCriteria) -> Condition:
    slow = _slow(snap, c.n_timescales)
    ts_ci = snap.intervals.timescales_ci if snap.intervals is not None else np.zeros((0, 2))
    rel = [np.inf if k >= len(ts_ci) or np.isnan(ts_ci[k]).any()
           else (ts_ci[k][1] - ts_ci[k][0]) / snap.timescales[k] for k in slow]
    worst = float(max(rel)) if rel else np.inf
    return Condition("timescale_interval", bool(rel) and worst <= c.timescale_ci_rwidth,
                     worst if np.isfinite(worst) else None, c.timescale_ci_rwidth, "relative",
                     f"widest slow-timescale interval {100 * worst:.0f}% of the estimate "
                     f"(at most {100 * c.timescale_ci_rwidth:g}%)" if rel else "no timescale longer than the lag")


def conditions(snap: Snapshot | Mapping, criteria: ConvergenceCriteria) -> list[Condition]:
    """The convergence conditions of one snapshot (all but ``unchanged``, which needs the history): passed or
    not, by how much."""
    snap, c = Snapshot.from_dict(snap), criteria
    return [*_analysable(snap), _transitions(snap, c), _markovian(snap), *_metastable(snap), _stationary(snap),
            Condition("time_blocks", snap.n_blocks >= c.min_blocks, snap.n_blocks, c.min_blocks, "blocks",
                      f"{snap.n_blocks} blocks of time to resample (need {c.min_blocks})"),
            *_routes(snap, c), *_states_fit(snap, c), _timescale_interval(snap, c)]


def _unchanged(streak: int, patience: int) -> Condition:
    return Condition("unchanged", streak >= patience, streak, patience, "checks",
                     f"estimates unchanged, with every other condition met, for {streak} of {patience} checks")


def _moved(snap: Snapshot, prev: Snapshot | None, criteria: ConvergenceCriteria) -> list[str]:
    """Why the point estimates differ from the previous check (empty: unchanged)."""
    if prev is None:
        return ["first check"]
    if snap.lag_ps != prev.lag_ps:
        return ["the analysis lag changed"]
    reasons = []
    now_shares = {p.states: p.fraction for p in snap.pathways}
    before_shares = {p.states: p.fraction for p in prev.pathways}
    if now_shares.keys() != before_shares.keys():
        reasons.append("top pathways changed")
    elif snap.pathways and snap.pathways[0].states != prev.pathways[0].states and not (
            _tied(snap, prev.pathways[0].states) and _tied(prev, snap.pathways[0].states)):
        reasons.append("the top route changed")
    else:  # comparable routes may swap places: their shares are compared, not their order
        moved = max((abs(now_shares[r] - before_shares[r]) for r in now_shares), default=0.0)
        if moved >= criteria.fraction_tol:
            reasons.append(f"a pathway share moved by {moved:.3f}")
    now, before = snap.timescales, prev.timescales
    if len(now) != len(before) or not np.array_equal(np.isnan(now), np.isnan(before)):
        reasons.append("the set of finite timescales changed")
    else:
        both = ~np.isnan(now) & (before != 0)
        changes = np.abs(now[both] - before[both]) / np.abs(before[both])
        if changes.size and changes.max() >= criteria.timescale_rtol:
            reasons.append(f"a timescale moved by {100 * changes.max():.0f}%")
    return reasons


def _tied(snap: Snapshot, route: tuple[int, ...]) -> bool:
    """Whether ``route`` is among the routes of ``snap`` that cannot be told from its top route."""
    tied = snap.intervals.comparable_routes if snap.intervals is not None else ()
    return any(k < len(snap.pathways) and snap.pathways[k].states == route for k in tied)


class ConvergenceMonitor:
    """Judges each snapshot against the criteria and the previous snapshot.

    Parameters
    ----------
    criteria : ConvergenceCriteria
    """

    def __init__(self, criteria: ConvergenceCriteria) -> None:
        self.criteria = criteria
        self.previous: Snapshot | None = None
        self.streak = 0
        self.converged = False

    def restore(self, history: list[Snapshot]) -> None:
        """Continue from the stored snapshot history."""
        if history:
            last = Snapshot.from_dict(history[-1])
            self.previous = last
            self.streak = last.verdict.stable_streak if last.verdict is not None else 0
            self.converged = last.converged

    def judge(self, snap: Snapshot | Mapping) -> Snapshot:
        """The snapshot with its ``Verdict``: whether it is ``stable`` (unchanged since the last check), the
        ``stable_streak`` (checks in a row that were unchanged with every other condition met), each condition with
        its value and threshold, the names of those that ``failed``, the ``reasons`` in words, and ``converged``.

        Counting only checks where everything held means one check whose noisy
        interval happens to be narrow cannot end a run.
        """
        snap = Snapshot.from_dict(snap)
        moved = _moved(snap, self.previous, self.criteria)
        self.previous = snap
        checks = conditions(snap, self.criteria)
        held = not moved and all(c.passed for c in checks)
        self.streak = self.streak + 1 if held else 0
        checks.append(_unchanged(self.streak, self.criteria.patience))
        failed = [c for c in checks if not c.passed]
        self.converged = not failed
        reasons = [c.detail for c in failed if c.name != "unchanged"] + moved
        if held and self.streak < self.criteria.patience:
            reasons.append(f"every condition held for {self.streak} of {self.criteria.patience} checks")
        return snap.judged(Verdict(not moved, self.streak, tuple(checks), tuple(c.name for c in failed),
                                   self.converged, tuple(reasons), transport_notes(snap.transport)))


def timescale_text(snap: Snapshot, k: int = 0) -> str:
    """"t1 = 3.35 ps [2.83, 3.91]": the k-th slowest timescale of a snapshot with its interval, when it has one."""
    intervals = snap.intervals
    ci = intervals.timescales_ci[k] if intervals is not None and len(intervals.timescales_ci) > k else None
    bounds = f" [{ci[0]:.3g}, {ci[1]:.3g}]" if ci is not None and np.isfinite(ci).all() else ""
    return f"t{k + 1} = {snap.timescales[k]:.3g} ps{bounds}"


def explain(snap: Snapshot | Mapping) -> str:
    """Why a judged snapshot is, or is not, converged, in a user's words, and what the Li positions say about the
    meaning of the answer."""
    snap = Snapshot.from_dict(snap)
    said = _explained(snap)
    notes = snap.verdict.notes if snap.verdict is not None else ()
    return said + "".join(f"; note: {note}" for note in notes)


def _explained(snap: Snapshot) -> str:
    verdict = snap.verdict
    reasons = list(verdict.reasons) if verdict is not None else []
    if verdict is not None and "states_fit" in verdict.failed:
        return f"{RETRAIN}: " + "; ".join(reasons)
    if snap.nothing_to_analyse is not None:
        return snap.nothing_to_analyse
    if verdict is not None and "stationary" in verdict.failed and snap.stationarity is not None:
        first = next(c.detail for c in verdict.conditions if c.name == "stationary")
        return "; ".join([first, *(r for r in reasons if r != first)])
    if not snap.converged:
        return "not converged: " + "; ".join(reasons or ["no analysis yet"])
    parts = []
    intervals = snap.intervals
    tied = comparable_text(snap)
    if tied:
        parts.append(f"routes {tied}: comparable")
    elif snap.pathways:
        top = snap.pathways[0]
        ci = intervals.pathway_fraction_ci[0] if intervals is not None and len(intervals.pathway_fraction_ci) else None
        bounds = (f" [{100 * ci[0]:.0f}, {100 * ci[1]:.0f}]" if ci is not None and not np.isnan(ci).any() else "")
        resolved = intervals.top_route_resolved if intervals is not None else 0.0
        parts.append(f"top route {route_text(top.states, names=state_names(snap.environments))} "
                     f"{100 * top.fraction:.0f}%{bounds}, on "
                     f"top in {100 * resolved:.0f}% of resamples")
    ts = [timescale_text(snap, k) for k in range(min(2, len(snap.timescales))) if np.isfinite(snap.timescales[k])]
    if ts:
        parts.append(", ".join(ts))
    if np.isfinite(snap.pathway_diversity):
        ci = intervals.pathway_diversity_ci if intervals is not None else None
        parts.append(f"{snap.pathway_diversity:.2g} effective routes" + (f" {interval_text(ci, fmt='.2g')}"
                                                                          if interval_text(ci) else ""))
    parts.append(f"Markovian at lag {snap.lag_ps:g} ps")
    if snap.core_test is not None and snap.core_test.passed:
        parts.append(f"metastable (unchanged at core {snap.core_test.probe_core_ps:g} ps)")
    if snap.stationarity is not None:
        parts.append("populations steady")
    runs = snap.n_replicas
    return f"converged{f' ({runs} runs together)' if runs > 1 else ''}: " + "; ".join(parts)
