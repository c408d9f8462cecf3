"""Plain-text tables and strict JSON for the command line."""

from __future__ import annotations

import numpy as np

from ..analysis.markov import MarkovRecord
from ..analysis.records import Snapshot
from ..display import core_test_line, events_line, ranking_text, state_names, transport_line
from ..display import interval_of as _interval
from ..display import interval_text as _pair
from ..display import route_text as route
from ..analysis.verdict import comparable_text, endpoints_text
from ..states.selection import StateNumber


def counted(n: int, one: str, many: str | None = None) -> str:
    """``n`` and the noun in its number: ``counted(1, "store")`` is "1 store", ``counted(3, "trajectory",
    "trajectories")`` "3 trajectories"."""
    return f"{n} {one if n == 1 else many or one + 's'}"


def table(headers: list[str], rows: list[list[str]], left: int = 1) -> str:
    """A plain-text table; the first ``left`` columns are left-aligned, the rest right-aligned."""
    widths = [max(len(h), *(len(r[k]) for r in rows)) if rows else len(h) for k, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if k < left else c.rjust(w) for k, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def format_model(model) -> str:
    """The kinetic model as the tables the CLI prints."""
    tm, rates = model.transition, model.rates
    names = [f"S{s}" for s in tm.active_set]
    out = [
        f"Koopman model at lag {model.lag_ps:g} ps ({'reversible' if tm.reversible else 'EDMD, row-normalised counts'}): "
        f"{tm.active_set.size} of {tm.n_states} states active, {tm.counts.sum():.0f} transition pairs counted at "
        f"this lag."
    ]
    if tm.excluded_states.size:
        never = [s for s in tm.excluded_states if s in tm.unvisited_states]
        apart = [s for s in tm.excluded_states if s not in tm.unvisited_states]
        out.append("Excluded states: " + "; ".join(
            part for part in (f"{', '.join(f'S{s}' for s in never)} never visited" if never else "",
                              f"{', '.join(f'S{s}' for s in apart)} visited, but not both entered and left within "
                              f"the largest connected set of states" if apart else "") if part) + ".")
    out += ["", table(
        ["state", "population", "escape rate (1/ps)", "mobility"],
        [[n, f"{p:.4f}", f"{e:.4g}", f"{m:.3f}"]
         for n, p, e, m in zip(names, tm.stationary_distribution, rates.escape_rates, rates.mobility)],
    )]
    ts = ", ".join(f"t{k + 1} = {t:.4g}" for k, t in enumerate(model.timescales.timescales))
    out += ["", f"Implied timescales (ps): {ts or 'none (one state)'}"]
    verdict = "a valid generator" if rates.valid else (
        f"NOT a valid generator ({'; '.join(rates.problems)}); shown: the nearest generator ({rates.generator_method})")
    out += ["", f"Rate matrix R = logm(K)/tau in 1/ps, {verdict}:", table(
        ["from \\ to", *names], [[n, *(f"{v:.3e}" for v in row)] for n, row in zip(names, rates.generator)])]
    out += ["", ranking_text(model.mobility_ranking, model.endpoint_candidates)]
    if model.nothing_to_analyse is not None:
        out += ["", model.nothing_to_analyse[0].upper() + model.nothing_to_analyse[1:] + "."]
    elif model.flux is not None:
        src, dst = ", ".join(f"S{s}" for s in model.source), ", ".join(f"S{s}" for s in model.target)
        out += ["", f"Reactive flux {src} -> {dst}: total {model.flux.total_flux:.4g} per lag, "
                    f"rate {model.tpt_rate_per_ps:.4g} 1/ps (mean first-passage time {model.mfpt_ps:.4g} ps)"
                if model.tpt_rate_per_ps > 0 else f"No reactive flux from {src} to {dst}."]
        out += ["", f"Top {len(model.pathways)} pathways:", table(
            ["#", "pathway", "flux (per lag)", "share", "rate-limiting step", "its rate (1/ps)"],
            [[str(k + 1), route(p.states), f"{p.flux:.4g}", f"{100 * p.fraction:.1f}%",
              route(p.bottleneck) if p.bottleneck else "-", f"{p.bottleneck_rate:.4g}"]
             for k, p in enumerate(model.pathways)], left=2)]
        if np.isfinite(model.pathway_diversity):
            out.append(f"Pathway diversity: {model.pathway_diversity:.2f} effective routes (the exponential of the "
                       f"Shannon entropy of the route shares)")
    return "\n".join(out)



def format_state_model(model) -> str:
    """The state model's quality numbers and the table of its states' mean environments."""
    schema = model.schema
    present = [e for e in schema.elements if any(s.mean_counts.get(e, 0) >= 0.05 for s in model.states)]
    t = model.training
    out = [
        f"State model {model.fingerprint[:16]}: {model.n_states} states, silhouette {model.silhouette:.4f} "
        f"(the paper reports 0.29-0.33; above 0.25 counts as reasonable).",
        f"Trained on {t.get('n_environments', '?')} Li environments from {t.get('n_frames', '?')} frames, "
        f"{t.get('epochs', '?')} epochs, seed {t.get('seed', '?')}; final loss {t['losses'][-1]:.4f}."
        if t.get("losses") else "",
        f"Graphs: edges < {schema.edge_cutoff_A:g} A, shell {schema.shell_cutoff_A:g} A, "
        f"elements {', '.join(schema.elements)}.",
    ]
    selection = model.training.get("selection")
    if selection:
        rows = []
        for e in map(StateNumber.from_dict, selection["evidence"]):
            timed = e.t1_ps is not None
            rows.append([str(e.k), f"{e.silhouette:.3f}", "-" if e.agreement is None else f"{e.agreement:.2f}",
                         f"{e.events_per_li_ps:.3g}" if timed else "-",
                         f"{e.t1_ps:.3g} -> {e.t1_doubled_ps:.3g}" if timed else "-",
                         ("not judged" if e.metastable is None else "yes" if e.metastable else "no") if timed
                         else "-", "<- chosen" if e.chosen else ""])
        out += ["", "The evidence for each number of states (cross-seed ARI: mean adjusted Rand index of the seeds' "
                    "states; changes per Li per ps and t1 at the core length and at twice it, on every frame in "
                    "time order):",
                table(["states", "silhouette", "cross-seed ARI", "changes /Li/ps", "t1 (ps), core x1 -> x2",
                       "metastable", ""], rows),
                f"Chosen by the rule: {selection['rule']}."]
    elif len(model.silhouette_by_k) > 1:
        out += ["", table(["states", "silhouette", ""],
                           [[str(k), f"{v:.4f}", "<- chosen" if k == model.n_states else ""]
                            for k, v in sorted(model.silhouette_by_k.items())])]
    out += ["", "States, ordered by the mean number of Li in the central Li's shell:", table(
        ["state", "population", *(f"n_{e}" for e in present), "mean distance (A)"],
        [[f"S{s.index}", f"{s.population:.3f}", *(f"{s.mean_counts[e]:.2f}" for e in present),
          f"{s.mean_neighbour_distance_A:.3f}"] for s in model.states])]
    return "\n".join(line for line in out if line is not None)




def core_line(core_ps: float, removed: float | None) -> str:
    """What the core assignment did, in one line."""
    if not core_ps:
        return "Core assignment: off (raw labels counted)."
    share = f"; it removed {100 * removed:.0f}% of the raw label changes" if removed is not None else ""
    return f"Core assignment: a Li changes state after {core_ps:g} ps in the new one{share}."


def _verdict_lines(snap: Snapshot) -> list[str]:
    ensemble = snap.ensemble
    out = [f"Convergence: {'CONVERGED' if snap.converged else 'not converged'}"
           + (f" (of {len(ensemble)} runs together: {', '.join(ensemble)})" if ensemble else "")]
    for c in (snap.verdict.conditions if snap.verdict is not None else ()):
        out.append(f"  [{'x' if c.passed else ' '}] {c.name:<19} {c.detail}")
    for note in (snap.verdict.notes if snap.verdict is not None else ()):
        out.append(f"  note: {note}")
    markov = snap.markov
    if markov is not None:
        verdicts = ", ".join(f"{lag:g} ps {'passes' if ok else 'fails'}"
                             for lag, ok in zip(markov.lags_ps, markov.markovian))
        suggestion = markov.suggested_lag_ps
        out.append(f"Markov test by lag: {verdicts}; shortest passing lag: "
                   + (f"{suggestion:g} ps" if suggestion is not None else "none (count longer lags)"))
    return out


def format_snapshot(snap: Snapshot, *, status: str | None = None, committed: int | None = None,
                    patience: int | None = None) -> str:
    """A stored analysis snapshot: the verdict with each condition, timescales, the Markov test and pathways."""
    snap = Snapshot.from_dict(snap)
    intervals = snap.intervals
    head = [f"Frame {snap.frame} (step {snap.step}, {snap.time_ps:.2f} ps)"
            + (f", {committed} frames committed" if committed is not None else "")
            + (f", run {status}" if status else ""), *_verdict_lines(snap)]
    ts_ci = intervals.timescales_ci if intervals is not None else None
    ts = [f"t{k + 1} = {t:.3g} ps {_interval(ts_ci, k, fmt='.3g')}".rstrip()
          for k, t in enumerate(snap.timescales) if np.isfinite(t)]
    chosen = " (chosen automatically)" if snap.lag_auto else ""
    if snap.forecast is not None and not snap.converged:
        head.append("Forecast: " + snap.forecast.text())
    head.append(f"Implied timescales at lag {snap.lag_ps:g} ps{chosen}: " + (", ".join(ts) or "none finite"))
    head.append(core_line(snap.core_ps, snap.label_changes_removed))
    head += [line for line in (events_line(snap), core_test_line(snap), transport_line(snap)) if line]
    head.append(ranking_text(snap.mobility_ranking, snap.endpoint_candidates))
    if snap.nothing_to_analyse is not None:
        return "\n".join([*head, "", snap.nothing_to_analyse[0].upper() + snap.nothing_to_analyse[1:] + "."])
    src = ", ".join(f"S{s}" for s in snap.source)
    dst = ", ".join(f"S{s}" for s in snap.target)
    head += [f"Note: {note}" for note in snap.endpoint_notes]
    share_ci = intervals.pathway_fraction_ci if intervals is not None else None
    rate_ci = intervals.bottleneck_rate_ci if intervals is not None else None
    names = state_names(snap.environments)
    rows = [[str(k + 1), route(p.states, names=names), f"{100 * p.fraction:.1f}%", _interval(share_ci, k, 100, ".1f"),
             route(p.bottleneck) if p.bottleneck else "-",
             f"{p.bottleneck_rate:.3g}" if np.isfinite(p.bottleneck_rate) else "-",
             _interval(rate_ci, k, fmt=".3g")]
            for k, p in enumerate(snap.pathways)]
    confidence = intervals.confidence if intervals is not None else None
    method = intervals.interval_method if intervals is not None else "Li atoms"
    head += ["", f"Top pathways {src} -> {dst} (share of the reactive flux"
             + (f", {100 * confidence:.0f}% interval from resampling {method}" if confidence else "")
             + (f"; top route on top in {100 * intervals.top_route_resolved:.0f}% of resamples"
                if intervals is not None else "")
             + (f"; {ends}" if (ends := endpoints_text(snap)) else "") + "):",
             table(["#", "pathway", "share", "interval", "rate-limiting step", "rate (1/ps)", "interval"], rows,
                   left=2)]
    if (tied := comparable_text(snap)):
        head.append(f"Comparable routes (their share intervals overlap the top route's): {tied}")
    if np.isfinite(snap.pathway_diversity):
        spread_ci = _pair(intervals.pathway_diversity_ci, fmt=".2f") if intervals is not None else ""
        head.append(f"Pathway diversity: {snap.pathway_diversity:.2f} effective routes {spread_ci}".rstrip())
    if np.isfinite(snap.mfpt_ps):
        mfpt_ci = _pair(intervals.mfpt_ci, fmt=".3g") if intervals is not None else ""
        head.append(f"Mean first-passage time {src} -> {dst}: {snap.mfpt_ps:.3g} ps {mfpt_ci}".rstrip())
    return "\n".join(head)


def format_markov(markov: MarkovRecord) -> str:
    """The Markov test at every lag and the Chapman-Kolmogorov table at the lag used."""
    if isinstance(markov, dict):
        markov = MarkovRecord.from_dict(markov)
    out = ["Is the lag Markovian? (implied-timescale plateau and Chapman-Kolmogorov test, per stored lag)"]
    for lag, ok, reasons in zip(markov.lags_ps, markov.markovian, markov.reasons):
        out.append(f"  {lag:g} ps: " + ("passes" if ok else "fails: " + "; ".join(reasons)))
    suggestion = markov.suggested_lag_ps
    out.append("Suggested lag: " + (f"{suggestion:g} ps (the shortest stored lag that passes)" if suggestion is not None
                                    else "none of the stored lags passes; count longer lags"))
    ck = markov.ck
    if ck is not None:
        out += ["", f"Chapman-Kolmogorov test at lag {ck.lag:g} ps: P(stay in state) predicted K(tau)^k "
                    f"against estimated K(k tau), with intervals; tolerance {ck.tolerance:g} for every entry, "
                    f"{100 * ck.leave_rtol:g}% for the probability of leaving a state"]
        rows = []
        for m, k in enumerate(ck.multiples):
            for s in range(ck.predicted.shape[1]):
                p, e = ck.predicted[m, s, s], ck.estimated[m, s, s]
                if np.isfinite(p) and np.isfinite(e):
                    leave = ck.leave_deviation[m, s] if ck.leave_deviation.size else np.nan
                    rows.append([f"{k} x {ck.lag:g} ps", f"S{s}", f"{p:.3f}", _pair(ck.predicted_ci[m, s, s]),
                                 f"{e:.3f}", _pair(ck.estimated_ci[m, s, s]),
                                 f"{100 * leave:.0f}%" if np.isfinite(leave) else ""])
        out.append(table(["lag", "state", "predicted", "interval", "estimated", "interval", "leaving apart"], rows,
                         left=2))
        out.append("  " + ", ".join(f"{k} x: largest |difference| {d:.3f}, {'passed' if ok else 'FAILED'}"
                                    for k, d, ok in zip(ck.multiples, ck.max_deviation, ck.passed)))
    return "\n".join(out)
