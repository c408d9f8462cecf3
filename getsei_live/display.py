"""How an analysis is shown: routes, intervals and state names in words; its tables (states, pathways, timescales by
lag) as plain rows, pandas frames and HTML, for notebooks (``snap.to_pandas("pathways")``, and the ``_repr_html_`` of
``Snapshot``, ``KineticModel`` and a store's analysis); the lines the command line and the report print.

A leaf: it imports nothing of getsei_live at run time (the records it shows are read by attribute), so ``analysis``,
the command line and the report all import it and no import points back.

Rows are lists of dicts of plain numbers (numpy and the standard library only); pandas is imported only by
``to_pandas``, and only where it is installed.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas

    from .analysis.model import KineticModel
    from .analysis.records import Environments, Snapshot

__all__ = ["TABLES", "core_test_line", "events_line", "html_page", "html_table", "interval_of", "interval_text",
           "model_rows", "ranking_text", "route_text", "snapshot_rows", "state_names", "to_pandas", "transport_line",
           "verdict_lines"]

#: The tables every analysis has, in the order they are shown.
TABLES = ("states", "pathways", "timescales")


def route_text(states: Sequence[int], arrow: str = " -> ", names: dict[int, str] | None = None) -> str:
    """``S1 -> S3 -> S0``; with ``names`` (``state_names``) each state by its environment too:
    ``S2 Li metal (11.6 Li) -> S1 (9.4 Li, 4.3 O)``."""
    return arrow.join(f"S{s}" + (f" {names[s]}" if names and names.get(s) else "") for s in states)


def ranking_text(ranking: Sequence[int], candidates: Sequence[int]) -> str:
    """"Mobility ranking: S3* > S0 > S1" with the states a default source or target cannot be marked and the mark
    explained (``candidates``: the states that hold a real share of the Li and were left often enough)."""
    marked = [s for s in ranking if candidates and s not in candidates]
    text = "Mobility ranking: " + " > ".join(f"S{s}" + ("*" if s in marked else "") for s in ranking)
    if marked:
        text += (" (*: too few of the Li, or left too seldom, to be a default source or target; the target is the "
                 "most mobile of the others)")
    return text


def state_names(environments: Environments | None, *, shown: int = 2) -> dict[int, str]:
    """Each state by the mean environment of its Li: "Li metal (11.6 Li)" where fewer than one atom in the shell
    is not Li, else its ``shown`` most numerous neighbours, "(9.4 Li, 4.3 O)"; nothing for a state no Li was in
    (or without environments)."""
    if environments is None:
        return {}
    names = {}
    elements = list(environments.elements)
    li = elements.index("Li") if "Li" in elements else None
    for s, counts in enumerate(np.asarray(environments.mean_counts, dtype=float)):
        if s >= len(environments.li) or not environments.li[s] or not np.isfinite(counts).all():
            continue
        order = [k for k in np.argsort(-counts)[:shown] if counts[k] >= 0.5]
        parts = ", ".join(f"{counts[k]:.1f} {elements[k]}" for k in order)
        others = counts.sum() - (counts[li] if li is not None else 0.0)
        metal = li is not None and others < 1.0 and counts[li] >= 4.0
        names[s] = ("Li metal " if metal else "") + f"({parts})" if parts else ""
    return {s: n for s, n in names.items() if n}


def interval_text(bounds, scale: float = 1.0, fmt: str = ".3f") -> str:
    """``[lo, hi]`` (times ``scale``); "" where there are no finite bounds (None and NaN included)."""
    if bounds is None or len(bounds) < 2 or not np.isfinite(np.asarray(bounds, dtype=float)).all():
        return ""
    return f"[{scale * bounds[0]:{fmt}}, {scale * bounds[1]:{fmt}}]"


def interval_of(ci, k: int, scale: float = 1.0, fmt: str = ".2f") -> str:
    """``interval_text`` of the ``k``-th interval of ``ci``; "" where ``ci`` has none."""
    return interval_text(ci[k], scale, fmt) if ci is not None and k < len(ci) else ""


def _bounds(ci: np.ndarray | None, k: int) -> tuple[float, float]:
    if ci is None or len(ci) <= k:
        return float("nan"), float("nan")
    return float(ci[k][0]), float(ci[k][1])


def snapshot_rows(snap: Snapshot, table: str) -> list[dict[str, Any]]:
    """One of ``TABLES`` of a snapshot as rows (interval bounds NaN where there are none)."""
    intervals = snap.intervals
    if table == "states":
        n = len(snap.stationary_distribution)
        return [{"state": f"S{s}", "population": float(snap.stationary_distribution[s]),
                 "escape_rate_per_ps": float(snap.escape_rates[s]) if len(snap.escape_rates) > s else float("nan"),
                 "transitions_out": int(snap.transitions_out[s]) if len(snap.transitions_out) > s else 0,
                 "active": s in snap.active_set, "source": s in snap.source, "target": s in snap.target}
                for s in range(n)]
    if table == "pathways":
        ci = intervals.pathway_fraction_ci if intervals is not None else None
        return [{"rank": k + 1, "route": route_text(p.states), "share": float(p.fraction),
                 "share_lower": _bounds(ci, k)[0], "share_upper": _bounds(ci, k)[1], "flux_per_lag": float(p.flux)}
                for k, p in enumerate(snap.pathways)]
    if table == "timescales":
        ci = intervals.timescales_by_lag_ci if intervals is not None else None
        passes = snap.markov.markovian if snap.markov is not None else ()
        rows = []
        for i, lag in enumerate(snap.lags_ps):
            row: dict[str, Any] = {"lag_ps": float(lag), "markovian": bool(passes[i]) if len(passes) > i else None}
            values = snap.timescales_by_lag[i] if len(snap.timescales_by_lag) > i else ()
            for k, value in enumerate(values):
                lo, hi = _bounds(ci[i] if ci is not None and len(ci) > i else None, k)
                row.update({f"t{k + 1}_ps": float(value), f"t{k + 1}_lower": lo, f"t{k + 1}_upper": hi})
            rows.append(row)
        return rows
    raise ValueError(f"No table {table!r}; the tables are {', '.join(TABLES)}.")


def model_rows(model: KineticModel, table: str) -> list[dict[str, Any]]:
    """One of ``TABLES`` of a kinetic model (no intervals; "timescales" at its own lag only)."""
    active = model.transition.active_set
    if table == "states":
        pi = model.transition.stationary_distribution
        return [{"state": f"S{int(s)}", "population": float(pi[k]),
                 "escape_rate_per_ps": float(model.rates.escape_rates[k]), "source": int(s) in model.source,
                 "target": int(s) in model.target} for k, s in enumerate(active)]
    if table == "pathways":
        return [{"rank": k + 1, "route": route_text(p.states), "share": float(p.fraction),
                 "flux_per_lag": float(p.flux)}
                for k, p in enumerate(model.pathways)]
    if table == "timescales":
        return [{"lag_ps": float(model.lag_ps), **{f"t{k + 1}_ps": float(t) for k, t in
                                                enumerate(model.timescales.timescales)}}]
    raise ValueError(f"No table {table!r}; the tables are {', '.join(TABLES)}.")


def to_pandas(rows: list[dict[str, Any]]) -> pandas.DataFrame:
    """Rows as a pandas DataFrame (pandas is optional: ``pip install pandas``)."""
    try:
        import pandas
    except ImportError:
        raise ImportError("to_pandas needs pandas: pip install pandas (or getsei-live[notebook]).") from None
    return pandas.DataFrame.from_records(rows)


def _cell(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "" if value is None else ("yes" if value else "no")
    if isinstance(value, float):
        return "-" if not np.isfinite(value) else f"{value:.4g}"
    return html.escape(str(value))


def html_table(rows: list[dict[str, Any]], caption: str = "") -> str:
    """Rows as a small HTML table."""
    if not rows:
        return f"<p><b>{html.escape(caption)}</b>: none</p>" if caption else ""
    head = "".join(f"<th>{html.escape(k)}</th>" for k in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row.values()) + "</tr>" for row in rows)
    cap = f"<caption style='text-align:left'><b>{html.escape(caption)}</b></caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def verdict_lines(snap: Snapshot) -> list[str]:
    """A judged snapshot's verdict as lines: converged or not, with the reasons, then the notes (none unjudged)."""
    verdict = snap.verdict
    if verdict is None:
        return []
    head = "converged" if verdict.converged else "not converged"
    return [head + (": " + "; ".join(verdict.reasons) if verdict.reasons else ""),
            *(f"note: {note}" for note in verdict.notes)]


def html_page(title: str, lines: Sequence[str], tables: dict[str, list[dict[str, Any]]]) -> str:
    """A title, a few lines of text and the tables: what a notebook shows for a result."""
    text = "".join(f"<div>{html.escape(line)}</div>" for line in lines)
    return f"<div><b>{html.escape(title)}</b>{text}" + "".join(html_table(r, c) for c, r in tables.items()) + "</div>"


def events_line(snap: Snapshot) -> str:
    """The state changes counted, in one line ("" for a snapshot from before they were counted)."""
    if not snap.events_out:
        return ""
    rate = f" ({snap.events_per_li_ps:.3g} per Li per ps)" if np.isfinite(snap.events_per_li_ps) else ""
    out = ", ".join(f"S{s} {k}" for s, k in enumerate(snap.events_out) if s in snap.active_set)
    return f"State changes counted: {snap.n_events}{rate}; out of each state: {out}."


def transport_line(snap: Snapshot) -> str:
    """What the Li positions say, in one line ("" without positions)."""
    moved = snap.transport
    if moved is None:
        return ""
    line = (f"Li positions: {moved.hops_per_li_ps:.3g} hops per Li per ps (>{moved.hop_distance_A:g} A after "
            f"{moved.smooth_ps:g} ps smoothing; {100 * moved.never_hopped:.0f}% of the Li never hopped), mean squared "
            f"displacement {moved.msd_A2:.3g} A^2 over {moved.span_ps:.3g} ps")
    if moved.state_changes:
        line += (f"; over a state change a Li moved {moved.median_displacement_A:.2f} A (median), "
                 f"{100 * moved.moved_share:.0f}% of the changes more than {moved.site_spacing_A:g} A")
    if np.isfinite(moved.hop_change_correlation):
        line += f"; per Li, hops and state changes correlate (Spearman) {moved.hop_change_correlation:.2f}"
    return line + "."


def core_test_line(snap: Snapshot) -> str:
    """The core test in one line ("" without core assignment)."""
    test = snap.core_test
    if test is None:
        return ""
    shown = ", ".join(f"t{k + 1} {a:.3g} -> {b:.3g} ps" for k, (a, b) in
                      enumerate(zip(test.timescales, test.probe_timescales)) if np.isfinite(a) and k < 2)
    verdict = ("metastable" if test.passed else "; ".join(test.reasons) if not test.judged
               else "NOT metastable: " + "; ".join(test.reasons))
    return (f"Core test at lag {test.lag_ps:g} ps, core {test.core_ps:g} ps -> {test.probe_core_ps:g} ps"
            + (f" ({shown})" if shown else "") + f": {verdict}")
