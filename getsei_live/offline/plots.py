"""Matplotlib figures of a kinetic model and its run (the paper's Figs. 3-6 and the run's history).

Every function takes plain arrays, analysis records or JSON-ready dicts and returns a Figure;
states keep one colour each across all figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import matplotlib
import matplotlib.ticker
import numpy as np
from matplotlib.figure import Figure

from ..analysis import nan_padded
from ..analysis.arrhenius import BOLTZMANN_EV_PER_K
from ..analysis.markov import ChapmanKolmogorov, MarkovRecord
from ..analysis.records import Snapshot
from ..display import route_text

if TYPE_CHECKING:
    from ..analysis.pathways import Pathway
    from .summary import CoreLength, FrameFits

__all__ = ["state_colour", "implied_timescales_figure", "rate_matrix_figure", "mobility_figure", "flux_figure",
           "network_figure", "pathways_figure", "convergence_figure", "core_lengths_figure",
           "ck_figure", "populations_figure", "features_figure", "arrhenius_figure", "state_model_fit_figure"]

SOURCE_COLOUR, TARGET_COLOUR = "#ff1493", "#00bfff"  # outside the state palette


def _subplots(nrows: int = 1, ncols: int = 1, *, figsize=None, layout=None, **kwargs):
    """``pyplot.subplots`` without pyplot: a notebook's backend stays its own (pyplot and ``matplotlib.use`` would
    switch it), pyplot keeps no reference to the figure, and ``Figure.savefig`` writes PNG without a display."""
    fig = Figure(figsize=figsize, layout=layout)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def _cmap(name: str):
    return matplotlib.colormaps[name]


def state_colour(state: int) -> tuple:
    return _cmap("tab10")(int(state) % 10)


def _names(states) -> list[str]:
    return [f"S{int(s)}" for s in states]


def implied_timescales_figure(lags_ps, timescales, intervals=None) -> Figure:
    """Implied timescales against lag time, with the lag = timescale line (paper Fig. 3a).

    timescales : (n_lags, n_processes) with NaN where undefined; intervals : (n_lags, n_processes, 2) or None.
    """
    lags = np.asarray(lags_ps, dtype=float)
    ts = np.asarray(timescales, dtype=float)
    fig, ax = _subplots(figsize=(6, 4.2), layout="constrained")
    for k in range(ts.shape[1]):
        if not np.any(np.isfinite(ts[:, k])):
            continue  # fewer active states than the model has: no such process
        colour = _cmap("viridis")(k / max(1, ts.shape[1] - 1))
        ax.plot(lags, ts[:, k], "o-", color=colour, label=f"process {k + 1}")
        if intervals is not None:
            ci = np.asarray(intervals, dtype=float)
            ax.fill_between(lags, ci[:, k, 0], ci[:, k, 1], color=colour, alpha=0.2, linewidth=0)
    span = np.array([lags.min(), lags.max()])
    ax.plot(span, span, "--", color="grey", label="lag = timescale")
    ax.fill_between(span, 0, span, color="grey", alpha=0.12)
    ax.set_yscale("log")
    ax.set_xlabel("lag time (ps)")
    ax.set_ylabel("implied timescale (ps)")
    ax.set_title("Implied timescales (shaded: not resolved at this lag)")
    ax.legend(fontsize=8)
    return fig


def core_lengths_figure(lags_ps, rows: Sequence[CoreLength], core_ps: float) -> Figure:
    """The slowest implied timescale against lag for each core length (``StoreInfo.core_lengths``);
    the analysis's own core length drawn thick. A flat line is a Markovian core length."""
    lags = np.asarray(lags_ps, dtype=float)
    fig, ax = _subplots(figsize=(6, 4.2), layout="constrained")
    for k, row in enumerate(rows):
        t1 = np.array([np.nan if t is None else t for t in row.t1_by_lag], dtype=float)
        own = abs(row.core_ps - core_ps) < 1e-9
        share = "" if row.removed_share is None else f", {100 * row.removed_share:.0f}% of changes removed"
        ax.plot(lags, t1, "o-", lw=2.5 if own else 1.2, color=_cmap("plasma")(k / max(1, len(rows))),
                label=f"core {row.core_ps:g} ps{share}" + (" (this analysis)" if own else ""))
    span = np.array([lags.min(), lags.max()])
    ax.plot(span, span, "--", color="grey", label="lag = timescale")
    ax.set_yscale("log")
    ax.set_xlabel("lag time (ps)")
    ax.set_ylabel("slowest implied timescale t1 (ps)")
    ax.set_title("t1 against lag for each core length")
    ax.legend(fontsize=7)
    return fig


def _readable_on(rgba) -> str:
    """Black or white, whichever reads on a cell of colour ``rgba`` (its relative luminance, ITU-R BT.709)."""
    r, g, b = rgba[:3]
    return "black" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.45 else "white"


def _heatmap(ax, matrix, names, title, unit, *, fmt="{:.2g}", marks=None, cmap="viridis"):
    image = ax.imshow(matrix, cmap=cmap)
    ax.set_xticks(range(len(names)), names)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("to state")
    ax.set_ylabel("from state")
    ax.set_title(title)
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            if not np.isfinite(matrix[i, j]):
                continue
            ax.text(j, i, fmt.format(matrix[i, j]), ha="center", va="center", fontsize=9,
                    color=_readable_on(image.cmap(image.norm(matrix[i, j]))))
            if marks is not None and marks[i, j]:
                ax.plot(j, i, marker="x", color="red", markersize=14, markeredgewidth=1.5)
    ax.figure.colorbar(image, ax=ax, label=unit, shrink=0.8)


def rate_matrix_figure(generator, states, *, valid: bool, raw_rates=None) -> Figure:
    """Off-diagonal rates in 1/ps (paper Fig. 3b); red crosses where logm(K)/lag was negative (not a generator)."""
    g = np.array(generator, dtype=float)
    off = g.copy()
    np.fill_diagonal(off, np.nan)
    marks = None
    if not valid and raw_rates is not None:
        raw = np.real(np.asarray(raw_rates, dtype=complex))
        marks = (raw < 0) & ~np.eye(len(g), dtype=bool)
    fig, ax = _subplots(figsize=(5.6, 4.6), layout="constrained")
    title = "Rate matrix (1/ps)" + ("" if valid else "\nlogm(K)/lag not a generator: nearest valid one shown, x = was < 0")
    _heatmap(ax, off, _names(states), title, "rate (1/ps)", fmt="{:.2g}", marks=marks)
    return fig


def mobility_figure(states, escape_rates, mobility) -> Figure:
    """Mobility score (escape rate / the largest), most mobile first (paper Fig. 3c)."""
    order = np.argsort(-np.asarray(escape_rates), kind="stable")
    fig, ax = _subplots(figsize=(5.5, 3.6), layout="constrained")
    names = [f"S{states[k]}" for k in order]
    bars = ax.bar(names, np.asarray(mobility)[order], color=[state_colour(states[k]) for k in order])
    for bar, k in zip(bars, order):
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), f"{escape_rates[k]:.3g}/ps",
                ha="center", va="bottom", fontsize=7)
    ax.set_ylabel("mobility score (escape rate / max)")
    ax.set_xlabel("state, most mobile first")
    ax.set_ylim(0, 1.15)
    ax.set_title("Mobility ranking")
    return fig


def flux_figure(states, equilibrium_flux, net_flux) -> Figure:
    """Equilibrium flux pi_i K_ij and net reactive flux (paper Fig. 4a-b), per lag."""
    fig, axes = _subplots(1, 2, figsize=(10.5, 4.4), layout="constrained")
    names = _names(states)
    _heatmap(axes[0], np.asarray(equilibrium_flux, float), names, "Equilibrium flux", "flux per lag", cmap="Blues")
    _heatmap(axes[1], np.asarray(net_flux, float), names, "Net reactive flux", "flux per lag", cmap="Reds")
    return fig


def network_figure(states, populations, net_flux, source, target) -> Figure:
    """States as nodes sized by population, arrows as wide as the net reactive flux (paper Fig. 4c)."""
    n = len(states)
    angle = np.pi / 2 - 2 * np.pi * np.arange(n) / n
    xy = np.column_stack([np.cos(angle), np.sin(angle)])
    fig, ax = _subplots(figsize=(5.5, 5.5), layout="constrained")
    flux = np.asarray(net_flux, float)
    top = flux.max() if flux.max() > 0 else 1.0
    for i in range(n):
        for j in range(n):
            if flux[i, j] > 1e-3 * top:
                ax.annotate("", xy=xy[j], xytext=xy[i], arrowprops=dict(
                    arrowstyle="-|>", lw=0.5 + 7 * flux[i, j] / top, color="0.35", alpha=0.8,
                    shrinkA=22, shrinkB=22, connectionstyle="arc3,rad=0.12"))
    pops = np.asarray(populations, float)
    for k, s in enumerate(states):
        edge = SOURCE_COLOUR if s in source else TARGET_COLOUR if s in target else "black"
        ax.scatter(*xy[k], s=600 + 5000 * pops[k], color=state_colour(s), edgecolors=edge, linewidths=4, zorder=3)
        role = "\nsource" if s in source else "\ntarget" if s in target else ""
        ax.text(*xy[k], f"S{s}\n{100 * pops[k]:.1f}%{role}", ha="center", va="center", fontsize=8, zorder=4)
    ax.set_xlim(-1.5, 1.5)
    ax.set_ylim(-1.5, 1.5)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title("Transition network: population and net reactive flux")
    return fig


def pathways_figure(pathways: Sequence[Pathway], intervals=None) -> Figure:
    """Top pathways as routes of state circles, with flux share and interval (paper Fig. 4d)."""
    rows = max(1, len(pathways))
    fig, ax = _subplots(figsize=(7.5, 0.9 * rows + 0.8), layout="constrained")
    for r, path in enumerate(pathways):
        y = rows - r
        for k, s in enumerate(path.states):
            ax.scatter(k, y, s=500, color=state_colour(s), zorder=3, edgecolors="black")
            ax.text(k, y, f"S{s}", ha="center", va="center", fontsize=8, zorder=4)
            if k:
                ax.annotate("", xy=(k - 0.18, y), xytext=(k - 0.82, y),
                            arrowprops=dict(arrowstyle="-|>", lw=1 + 6 * path.fraction, color="0.3"))
        ci = intervals[r] if intervals and r < len(intervals) and intervals[r] and None not in intervals[r] else None
        share = f"{100 * path.fraction:.1f}%" + (f"  [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]" if ci else "")
        ax.text(len(path.states) - 0.4, y, share, va="center", fontsize=9)
    width = max((len(p.states) for p in pathways), default=2)
    ax.set_xlim(-0.6, width + 2.2)
    ax.set_ylim(0.3, rows + 0.7)
    ax.axis("off")
    ax.set_title("Top pathways, share of the reactive flux [interval]")
    return fig


def convergence_figure(snapshots: Sequence[Snapshot]) -> Figure:
    """Timescales and pathway shares at each check against simulated time; the first converged check marked."""
    snapshots = [Snapshot.from_dict(s) for s in snapshots]
    fig, (top, bottom) = _subplots(2, 1, figsize=(7, 6), sharex=True, layout="constrained")
    time = np.array([s.time_ps for s in snapshots], dtype=float)
    ts = nan_padded([s.timescales for s in snapshots])
    for k in range(ts.shape[1]):
        if np.any(np.isfinite(ts[:, k])):  # a legend only for what is drawn
            line, = top.plot(time, ts[:, k], "o-", markersize=3, label=f"t{k + 1}")
            bounds = np.array([s.intervals.timescales_ci[k] if s.intervals is not None
                               and len(s.intervals.timescales_ci) > k else (np.nan, np.nan) for s in snapshots],
                              dtype=float)
            if np.isfinite(bounds).any():
                top.fill_between(time, bounds[:, 0], bounds[:, 1], color=line.get_color(), alpha=0.15, linewidth=0,
                                 label=f"t{k + 1} interval")
    _plain_log_axis(top, ts)
    top.set_ylabel("implied timescale (ps)")
    top.legend(fontsize=7, ncol=3)
    routes: dict[tuple, list] = {}
    for k, s in enumerate(snapshots):
        for p in s.pathways:
            routes.setdefault(tuple(p.states), [np.nan] * len(snapshots))[k] = p.fraction
    bands: dict[tuple, np.ndarray] = {}
    for k, s in enumerate(snapshots):
        ci = s.intervals.pathway_fraction_ci if s.intervals is not None else np.zeros((0, 2))
        for j, p in enumerate(s.pathways):
            if j < len(ci):
                bands.setdefault(tuple(p.states), np.full((len(snapshots), 2), np.nan))[k] = ci[j]
    for route, shares in sorted(routes.items(), key=lambda item: -np.nanmax(item[1]))[:8]:
        line, = bottom.plot(time, shares, "o-", markersize=3, label=route_text(route))
        band = bands.get(route)
        if band is not None and np.isfinite(band).any():
            bottom.fill_between(time, band[:, 0], band[:, 1], color=line.get_color(), alpha=0.15, linewidth=0)
    bottom.set_ylabel("pathway share")
    bottom.set_xlabel("simulated time (ps)")
    bottom.legend(fontsize=7)
    converged = [s.time_ps for s in snapshots if s.converged]
    for ax in (top, bottom):
        if converged:
            ax.axvline(converged[0], color="red", linestyle="--", label="converged")
    top.set_title("Convergence history"
                  + (f" (converged at {converged[0]:.1f} ps)" if converged else " (not converged)"))
    return fig


#: The conditions the forecast figure draws, with their axis labels.
FORECAST_PANELS = {"route_interval": "widest route-share interval", "timescale_interval": "widest t interval / t",
                   "min_transitions": "fewest state changes out of a state", "time_blocks": "blocks of time",
                   "metastable": "t1 at twice the core / t1"}


def _plain_log_axis(ax, values) -> None:
    """A log y axis labelled 2, 3, 5 rather than 2 x 10^0; minor ticks labelled too when the values span less than
    a factor of 6, and those at 2 and 5 of each decade when they span less than 100."""
    import matplotlib.ticker

    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%.3g"))
    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values) & (values > 0)]
    span = finite.max() / finite.min() if finite.size else np.inf
    if span < 6:  # every minor tick labelled: few of them
        minor = matplotlib.ticker.FormatStrFormatter("%.3g")
    elif span < 100:  # a decade or two: 2 and 5 labelled as well, so that more than one number is on the axis
        minor = matplotlib.ticker.FuncFormatter(
            lambda y, _: f"{y:.3g}" if y > 0 and f"{y:.1e}"[0] in "25" and f"{y:.1e}"[1:3] == ".0" else "")
    else:  # wider: the minor labels would run into each other
        minor = matplotlib.ticker.NullFormatter()
    ax.yaxis.set_minor_formatter(minor)


def _core_ratios(snapshots: Sequence[Snapshot]) -> list[tuple[float, float, float]]:
    """(time, t1 at the doubled core / t1, 1 + rtol) of every check whose core test was judged."""
    points = []
    for s in snapshots:
        test = s.core_test
        if test is None or not test.judged or not test.timescales.size or not test.probe_timescales.size:
            continue
        ratio = test.probe_timescales[0] / test.timescales[0]
        if np.isfinite(ratio) and ratio > 0:
            points.append((s.time_ps, float(ratio), 1 + test.rtol))
    return points


def forecast_figure(snapshots: Sequence[Snapshot]) -> Figure:
    """Each condition the forecast extrapolates, against simulated time: its value at every check, its threshold,
    and the power law of the last check's forecast carried on to the time it is forecast to hold."""
    snapshots = [Snapshot.from_dict(s) for s in snapshots]
    last = next((s for s in reversed(snapshots) if s.forecast is not None), None)
    names = [n for n in FORECAST_PANELS if any(c.name == n for s in snapshots if s.verdict is not None
                                               for c in s.verdict.conditions)]
    fig, axes = _subplots(len(names) or 1, 1, figsize=(7, 2.2 * max(len(names), 1)), sharex=True,
                             layout="constrained", squeeze=False)
    for ax, name in zip(axes[:, 0], names):
        points = _core_ratios(snapshots) if name == "metastable" else [
            (s.time_ps, c.value, c.threshold) for s in snapshots if s.verdict is not None
            for c in s.verdict.conditions if c.name == name and isinstance(c.value, (int, float))
            and not isinstance(c.value, bool) and np.isfinite(c.value)]
        if not points:
            ax.set_ylabel(FORECAST_PANELS[name], fontsize=8)
            ax.text(0.5, 0.5, "not judged yet", transform=ax.transAxes, ha="center", va="center", fontsize=8)
            continue
        t, v, threshold = (np.array(x, dtype=float) for x in zip(*points))
        v = np.maximum(v, threshold[-1] / 100)  # a route with all the flux has an interval of width 0
        ax.plot(t, v, "o-", markersize=3, color="C0", label="at each check")
        ax.axhline(threshold[-1], color="0.4", linestyle=":", label="threshold")
        ahead = next((c for c in last.forecast.conditions if c.name == name), None) if last is not None else None
        if ahead is not None and np.isfinite(ahead.at_ps) and np.isfinite(ahead.exponent) and ahead.at_ps > t[-1]:
            future = np.geomspace(t[-1], ahead.at_ps, 30)  # the power law that meets the threshold then
            ax.plot(future, threshold[-1] * (future / ahead.at_ps) ** ahead.exponent, "--", color="C1",
                    label=f"forecast: t^{ahead.exponent:.2f}, holds at ~{ahead.at_ps:.3g} ps")
        ax.set_xscale("log")
        if name == "time_blocks":
            ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        else:
            _plain_log_axis(ax, np.append(v, threshold[-1]))
        if name == "metastable":  # not forecast: more data does not make states metastable
            ax.text(0.01, 0.9, "more data does not close this", transform=ax.transAxes, fontsize=7, color="0.3")
        ax.set_ylabel(FORECAST_PANELS[name], fontsize=8)
        ax.legend(fontsize=7)
    axes[-1, 0].set_xlabel("simulated time (ps)")
    title = "Forecast" if last is None else f"Forecast at {last.time_ps:.3g} ps: {last.forecast.text()}"
    fig.suptitle("\n".join(_wrapped(title, 90)), fontsize=9)
    return fig


def _wrapped(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width) or [""]


def populations_figure(time_ps, states, n_states: int) -> Figure:
    """Fraction of the Li atoms in each state against simulated time."""
    labels = np.asarray(states)
    visited = [s for s in range(n_states) if np.any(labels == s)]  # states no Li ever entered are left out
    fractions = np.stack([(labels == s).mean(axis=1) for s in visited], axis=1)
    fig, ax = _subplots(figsize=(7, 3.8), layout="constrained")
    ax.stackplot(time_ps, fractions.T, colors=[state_colour(s) for s in visited],
                 labels=[f"S{s}" for s in visited])
    ax.set_xlabel("simulated time (ps)")
    ax.set_ylabel("fraction of Li")
    ax.set_ylim(0, 1)
    ax.set_title("State populations")
    ax.legend(fontsize=7, ncol=max(1, len(visited)), loc="upper center", bbox_to_anchor=(0.5, -0.22))
    return fig


#: States a Pearson r of the features figure needs (with 3 or 4, |r| > 0.8 happens by chance in 10-20 % of draws).
MIN_CORRELATED = 5


def features_figure(states, escape_rates, features: dict[str, np.ndarray]) -> Figure:
    """Escape rate of each state against its mean graph features, with Pearson r from ``MIN_CORRELATED`` states on
    (paper Fig. 3d)."""
    names = list(features)
    cols = min(3, len(names))
    rows = int(np.ceil(len(names) / cols))
    fig, axes = _subplots(rows, cols, figsize=(3.4 * cols, 3.0 * rows), layout="constrained", squeeze=False)
    rates = np.asarray(escape_rates, float)
    for ax, name in zip(axes.flat, names):
        x = np.asarray(features[name], float)
        ax.scatter(x, rates, c=[state_colour(s) for s in states], s=60, edgecolors="black")
        for s, xi, yi in zip(states, x, rates):
            ax.annotate(f"S{s}", (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=7)
        r = np.corrcoef(x, rates)[0, 1] if np.std(x) > 0 and np.std(rates) > 0 else np.nan
        # a correlation of 3 points is almost any number by chance: shown only from 5 states on
        ax.set_title(f"r = {r:.2f} over {len(x)} states" if np.isfinite(r) and len(x) >= MIN_CORRELATED else
                     f"{len(x)} states: too few for a correlation", fontsize=9)
        ax.set_xlabel(name)
        ax.set_ylabel("escape rate (1/ps)")
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle("Escape rate against the mean environment of the state's Li in this run")
    return fig


def ck_figure(ck: ChapmanKolmogorov | dict) -> Figure:
    """Chapman-Kolmogorov test per state, as deeptime draws it: predicted ``K(tau)^k`` (line and band) against the
    estimated ``K(k tau)`` (points with bars), for the probability of being in the same state after k lags.

    ck : a snapshot's ``markov.ck`` (or its stored dictionary).
    """
    if isinstance(ck, dict):
        ck = MarkovRecord.from_dict({"ck": ck}).ck
    lags = np.array([1, *ck.multiples]) * ck.lag
    states = [s for s in range(ck.predicted.shape[1]) if np.isfinite(ck.predicted[0, s, s])]
    cols = min(3, max(1, len(states)))
    rows = int(np.ceil(len(states) / cols))
    fig, axes = _subplots(rows, cols, figsize=(3.3 * cols, 2.7 * rows), layout="constrained", squeeze=False,
                             sharex=True)
    for ax, s in zip(axes.flat, states):
        pred, est = (np.concatenate([[1.0], values[:, s, s]]) for values in (ck.predicted, ck.estimated))
        (p_lo, p_hi), (e_lo, e_hi) = (np.concatenate([[[1.0, 1.0]], ci[:, s, s]]).T
                                      for ci in (ck.predicted_ci, ck.estimated_ci))
        colour = state_colour(s)
        ax.plot(lags, pred, "-", color=colour, label="predicted K(tau)^k")
        ax.fill_between(lags, p_lo, p_hi, color=colour, alpha=0.2, linewidth=0)
        ax.errorbar(lags, est, yerr=[np.clip(est - e_lo, 0, None), np.clip(e_hi - est, 0, None)], fmt="o",
                    color="black", markersize=4, capsize=2, label="estimated K(k tau)")
        ax.set_title(f"S{s}", fontsize=9)
        ax.set_ylim(0, 1.02)
    for ax in list(axes.flat)[len(states):]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("lag time (ps)")
    for ax in axes[:, 0]:
        ax.set_ylabel("P(same state)")
    axes.flat[0].legend(fontsize=7)
    verdict = ", ".join(f"{k}x {'passed' if ok else 'FAILED'}" for k, ok in zip(ck.multiples, ck.passed))
    fig.suptitle(f"Chapman-Kolmogorov test at lag {ck.lag:g} ps ({verdict})")
    return fig


def _arrhenius_panel(ax, fits, at_K: float, colours) -> None:
    for fit, colour in zip(fits, colours):
        T, k, ci = np.asarray(fit.temperatures_K), np.asarray(fit.rates), np.asarray(fit.rate_ci)
        x = 1000.0 / T
        ok = np.isfinite(k) & (k > 0)
        err = np.abs(np.stack([k - ci[:, 0], ci[:, 1] - k]))[:, ok]
        label = fit.name + (f": {fit.activation_eV:.2f} eV" if np.isfinite(fit.activation_eV) else "")
        ax.errorbar(x[ok], k[ok], yerr=np.nan_to_num(err), fmt="o", color=colour, capsize=3, label=label)
        if np.isfinite(fit.activation_eV):
            line = np.linspace(x.min(), 1000.0 / at_K, 50)
            ax.plot(line, fit.prefactor_per_ps * np.exp(-fit.activation_eV * line / (1000.0 * BOLTZMANN_EV_PER_K)), "-",
                    color=colour, alpha=0.7)
            ax.errorbar([1000.0 / at_K], [fit.rate_at], yerr=np.abs(np.array([[fit.rate_at - fit.rate_at_ci[0]],
                                                                             [fit.rate_at_ci[1] - fit.rate_at]])),
                        fmt="s", mfc="white", color=colour, capsize=3)
    ax.axvline(1000.0 / at_K, color="grey", ls=":", lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("1000 / T (1/K)")
    ax.set_ylabel("rate (1/ps)")
    ax.legend(fontsize=7)


def arrhenius_figure(result, n_pairs: int = 6) -> Figure:
    """Escape rates (left) and the fastest state-to-state rates (right) against 1000/T, with the Arrhenius fits
    extrapolated to ``result.at_K`` (open squares, with intervals)."""
    fig, (left, right) = _subplots(1, 2, figsize=(11, 4.4), layout="constrained")
    escape = [f for f in result.escape if np.any(np.isfinite(f.rates) & (np.asarray(f.rates) > 0))]
    _arrhenius_panel(left, escape, result.at_K, [state_colour(int(f.name.split("S")[-1])) for f in escape])
    left.set_title(f"Escape rates (lag {result.lag_ps:g} ps)")
    pairs = sorted(result.transitions, key=lambda f: -np.nanmax(f.rates))[:n_pairs]
    _arrhenius_panel(right, pairs, result.at_K, [_cmap("tab10")(k) for k in range(len(pairs))])
    right.set_title("Fastest state-to-state rates")
    return fig


def state_model_fit_figure(fits: Mapping[str, FrameFits], max_ood_fraction: float) -> Figure:
    """How well the state model fitted each frame of each store: the fraction of Li environments outside its
    training distribution (top) and their mean log-likelihood (bottom), against time."""
    fig, (top, bottom) = _subplots(2, 1, figsize=(7, 5), sharex=True, layout="constrained")
    for name, fit in fits.items():
        top.plot(fit.time_ps, 100 * np.asarray(fit.ood_fraction), lw=1, label=name)
        bottom.plot(fit.time_ps, fit.mean_log_likelihood, lw=1, label=name)
    top.axhline(100 * max_ood_fraction, color="red", ls="--", lw=1, label="retrain above")
    top.axhline(1.0, color="grey", ls=":", lw=1, label="expected (1%)")
    top.set_ylabel("% of Li outside training")
    top.legend(fontsize=7)
    bottom.axhline(next(iter(fits.values())).threshold, color="grey", ls=":", lw=1,
                   label="1st percentile in training")
    bottom.set_ylabel("mean log-likelihood")
    bottom.set_xlabel("time (ps)")
    bottom.legend(fontsize=7)
    top.set_title("State-model fit of each frame")
    return fig
