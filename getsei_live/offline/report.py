"""``getsei-live report``: PNG figures, a self-contained index.html and summary.json from any run store."""

from __future__ import annotations

import base64
import html
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..analysis import nan_padded, strict_json
from ..analysis.criteria import ConvergenceCriteria
from ..analysis.records import Environments
from ..display import interval_of, interval_text, route_text
from ..errors import StoreError
from ..store.run_store import RunStore
from .summary import StoreAnalysis, analyze_store, state_model_fit

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Report", "report_figures", "run_context", "run_environments", "write_report"]

log = logging.getLogger(__name__)

#: Figures of two panels side by side (the flux heatmaps, the Arrhenius plots): shown at full width, not squeezed.
WIDE = ("fluxes", "forecast", "convergence")


def _paired(keys: list[str]) -> list[str]:
    """The figures in order, but a full-width one that would follow an odd number of half-width ones waits for the
    next half-width one, so that no half-width figure stands alone beside a hole."""
    out, waiting, narrow = [], [], 0
    for key in keys:
        if key in WIDE and narrow % 2:
            waiting.append(key)
            continue
        out.append(key)
        if key not in WIDE:
            narrow += 1
            if narrow % 2 == 0:
                out, waiting = out + waiting, []
    return out + waiting


def _titled(fig: Figure, context: str) -> Figure:
    """``fig`` headed by ``context`` (system, temperature, lag, core)."""
    if context:
        title = fig.get_suptitle()
        fig.suptitle(f"{title}\n{context}" if title else context, fontsize=9 if title else 8,
                     color="black" if title else "0.35")
    return fig


def _png(fig: Figure, path: Path) -> Path:
    """Save ``fig`` (made without pyplot: nothing holds it once it is saved)."""
    fig.savefig(path, dpi=110)
    return path


def report_figures(store_path: str | Path | Sequence[str | Path], *, lag_ps: float | None = None, source=None,
                   target=None, seed: int = 0) -> dict[str, Figure]:
    """The report's figures of a store (or of several as one model) as matplotlib Figures, by name, for a notebook:
    ``report_figures("run.zarr")["pathways"]``. The same figures ``write_report`` saves."""
    paths = [store_path] if isinstance(store_path, (str, Path)) else list(store_path)
    stores = [RunStore.open(p, "r") for p in paths]
    result = analyze_store(paths, lag_ps=lag_ps, source=source, target=target, seed=seed)
    return _figures(result, stores, paths)


def _figures(result, stores: list[RunStore], paths: list) -> dict[str, Figure]:
    context = run_context(stores[0], result.model.lag_ps)
    return {**_model_figures(result, stores[0].spec.n_states, context),
            **_run_figures(stores, paths, stores[0].snapshots(), run_context(stores[0])),
            **_feature_figure(result.model, run_environments(stores), context)}


def run_context(store: RunStore, lag_ps: float | None = None) -> str:
    """What a figure of this run is of, in one line: system, temperature, lag, core length."""
    from ase import Atoms

    parts = []
    checkpoint = store.checkpoint()
    numbers = None if checkpoint is None else checkpoint.numbers
    if numbers is not None:
        parts.append(f"{Atoms(numbers=numbers).get_chemical_formula(mode='metal')} ({len(numbers)} atoms, "
                     f"{store.spec.n_li} Li)")
    if store.temperature_K is not None:
        parts.append(f"{store.temperature_K:g} K")
    if lag_ps is not None:
        parts.append(f"lag {lag_ps:g} ps")
    parts.append(f"core {store.spec.core_ps:g} ps" if store.spec.core_ps else "raw labels")
    return ", ".join(parts)


def run_environments(stores: Sequence[RunStore]) -> Environments | None:
    """The mean environment of each state's Li over every check of these runs (None: no check recorded one)."""
    return Environments.pooled([snap.environments for store in stores for snap in store.snapshots()])


@dataclass(frozen=True, slots=True)
class Report:
    """A report written to disk.

    Attributes
    ----------
    folder : Path
    index : Path
        The self-contained ``index.html``.
    summary_file : Path
        ``summary.json``.
    figures : dict of str -> Path
        Each figure's PNG, by name.
    partial : bool
        The run was still going: the report shows the frames committed so far.
    analysis : StoreAnalysis
        The analysis the report shows.
    summary : dict
        The JSON document in ``summary.json``: exactly what ``getsei-live analyze --json`` prints, plus the
        figures, intervals, state descriptions, environments, the run's context and its last check.
    """

    folder: Path
    index: Path
    summary_file: Path
    figures: dict[str, Path]
    partial: bool
    analysis: StoreAnalysis
    summary: dict


def write_report(store_path: str | Path | Sequence[str | Path], out_dir: str | Path, *, lag_ps: float | None = None,
                 source=None, target=None, seed: int = 0) -> Report:
    """Write the report of a store, or of several as one model, into ``out_dir``: PNG figures, ``index.html`` and
    ``summary.json``.

    The summary holds exactly what ``getsei-live analyze --json`` prints, plus the
    figures, intervals, state descriptions and whether the run was still going.
    The convergence figure is the first store's live history; the populations
    are over all Li of all stores, up to the shortest run.
    """
    paths = [store_path] if isinstance(store_path, (str, Path)) else list(store_path)
    stores = [RunStore.open(p, "r") for p in paths]
    result = analyze_store(paths, lag_ps=lag_ps, source=source, target=target, seed=seed)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(f"Cannot write the report to {out}: {error.strerror}.") from None
    history = stores[0].snapshots()
    described = stores[0].state_model_config.get("states") or []
    environments = run_environments(stores)
    context = run_context(stores[0], result.model.lag_ps)
    figures = {name: _png(fig, out / f"{name}.png") for name, fig in _figures(result, stores, paths).items()}
    intervals = result.intervals_dict()
    summary = {**result.to_dict(), "partial": result.info.status == "running",
               "figures": {k: p.name for k, p in figures.items()},
               "timescale_intervals_by_lag": intervals.get("timescales_by_lag_ci"),
               "pathway_fraction_intervals": intervals.get("pathway_fraction_ci"), "states": described,
               "environments": environments.to_dict() if environments is not None else None, "context": context,
               "mfpt_ps": result.snapshot.mfpt_ps, "mfpt_ci": intervals.get("mfpt_ci"),
               "bottleneck_rate_ci": intervals.get("bottleneck_rate_ci"),
               "convergence": history[-1].to_dict() if history else None,
               "snapshot": result.snapshot.to_dict()}
    (out / "summary.json").write_text(json.dumps(strict_json(summary), indent=1))
    (out / "index.html").write_text(_html(summary, figures, result.model, result.info.store, environments))
    log.info("Wrote %d figures, index.html and summary.json to %s.", len(figures), out)
    return Report(out, out / "index.html", out / "summary.json", figures, summary["partial"], result, summary)


def _model_figures(result, n_states: int, context: str) -> dict[str, Figure]:
    """Timescales by lag, rates, mobility, fluxes, network, pathways and the Chapman-Kolmogorov test."""
    from . import plots

    model, snap = result.model, result.snapshot
    tm, rates = model.transition, model.rates
    active = [int(s) for s in tm.active_set]
    its = nan_padded(result.info.timescales_by_lag, n_states - 1)
    its_ci = snap.intervals.timescales_by_lag_ci if snap.intervals is not None else None
    figures = {"implied_timescales": _titled(plots.implied_timescales_figure(result.info.lags_ps, its, its_ci),
                                             context),
               "rate_matrix": _titled(plots.rate_matrix_figure(rates.generator, active, valid=rates.valid,
                                                            raw_rates=rates.rate_matrix), context),
               "mobility": _titled(plots.mobility_figure(active, rates.escape_rates, rates.mobility), context)}
    if model.flux is not None:
        figures["fluxes"] = _titled(plots.flux_figure(active, model.flux.equilibrium_flux, model.flux.net_flux),
                                    context)
        figures["network"] = _titled(plots.network_figure(active, tm.stationary_distribution, model.flux.net_flux,
                                                       model.source, model.target), context)
        figures["pathways"] = _titled(plots.pathways_figure(model.pathways,
                                                         result.intervals_dict().get("pathway_fraction_ci")), context)
    if result.info.core_lengths:
        figures["core_lengths"] = _titled(plots.core_lengths_figure(result.info.lags_ps, result.info.core_lengths,
                                                                 result.info.core_ps), context)
    if snap.markov.ck is not None:
        figures["chapman_kolmogorov"] = _titled(plots.ck_figure(snap.markov.ck), context)
    return figures


def _run_figures(stores: list[RunStore], paths: list, history: list, context: str) -> dict[str, Figure]:
    """The live history, the state model's fit and the populations over time."""
    from . import plots

    figures = {}
    if history:
        figures["convergence"] = _titled(plots.convergence_figure(history), context)
    if any(s.forecast is not None for s in history):
        figures["forecast"] = _titled(plots.forecast_figure(history), context)
    fits = {str(p): f for p in paths if (f := state_model_fit(p)) is not None}
    if fits:
        limit = ConvergenceCriteria.from_dict(stores[0].analysis.get("criteria") or {}).max_ood_fraction
        figures["state_model_fit"] = _titled(plots.state_model_fit_figure(fits, limit), context)
    n = min(s.committed_frames for s in stores)
    stride = max(1, n // 2000)
    states = np.concatenate([s.states(0, n)[::stride] for s in stores], axis=1)
    figures["populations"] = _titled(plots.populations_figure(stores[0].times_ps()[:n:stride], states,
                                                           stores[0].spec.n_states), context)
    return figures


def _feature_figure(model, environments: Environments | None, context: str) -> dict[str, Figure]:
    """Escape rate of each state against the mean environment its Li have in this run (the run's own frames, at
    every check); none with fewer than three states, where a correlation says nothing."""
    from . import plots

    active = [int(s) for s in model.transition.active_set]
    if environments is None or len(active) < 3:
        return {}
    rows = [s for s in active if environments.li[s] > 0]
    if len(rows) < 3:
        return {}
    keep = [k for k, e in enumerate(environments.elements) if np.nanmax(environments.mean_counts[rows, k]) > 0.05]
    feats = {f"mean n_{environments.elements[k]} in shell": environments.mean_counts[rows, k] for k in keep}
    feats["mean neighbour distance (A)"] = environments.mean_neighbour_distance_A[rows]
    position = {s: k for k, s in enumerate(active)}
    rates = model.rates.escape_rates[[position[s] for s in rows]]
    return {"features": _titled(plots.features_figure(rows, rates, feats), context)}


CAPTIONS = {
    "implied_timescales": "Implied timescales against lag time (90% intervals from resampling Li atoms). Processes "
                          "below the dashed line relax faster than the lag and are not resolved.",
    "rate_matrix": "Rates between states, R = logm(K)/lag, in 1/ps.",
    "mobility": "Mobility score: escape rate divided by the largest.",
    "fluxes": "Equilibrium flux pi_i K_ij and net reactive flux from source to target, per lag.",
    "network": "Transition network: node size = population, arrow width = net reactive flux.",
    "pathways": "Dominant pathways: repeated widest-bottleneck paths in the residual net flux.",
    "convergence": "What the live monitor saw at each check; the dashed red line marks convergence.",
    "chapman_kolmogorov": "Chapman-Kolmogorov test: probability of being in the same state after k lags, predicted "
                          "from K(tau)^k (line, band) against estimated from K(k tau) (points, bars). A Markovian "
                          "lag keeps the points on the bands.",
    "populations": "Fraction of Li atoms in each state over the run.",
    "core_lengths": "The slowest implied timescale against lag for each core length (raw labels re-cored): it grows "
                    "with the core length; a flat line means that core length gives a Markovian model.",
    "features": "Escape rate of each state against the mean environment its Li have in this run (measured on the "
                "frame of every check), with Pearson r across the states.",
    "state_model_fit": "Share of Li environments below the 1st percentile of the training environments' "
                       "log-likelihood, per frame: about 1% while the states describe the structure; well above the "
                       "red line, retrain the state model.",
}


def _pathways_html(model, summary: dict) -> str:
    """The pathway table with each route's rate-limiting step, and the mean first-passage time; or the one line
    that says there is nothing to analyse yet."""
    if model.nothing_to_analyse is not None:
        return f"<h2>Pathways</h2><p><b>{html.escape(model.nothing_to_analyse)}</b>.</p>"
    shares, rates = summary.get("pathway_fraction_intervals"), summary.get("bottleneck_rate_ci")
    rows = "".join(
        f"<tr><td>{k + 1}</td><td>{route_text(p.states, ' &rarr; ')}</td><td>{100 * p.fraction:.1f}%</td>"
        f"<td>{interval_of(shares, k, 100, '.1f')}</td><td>{route_text(p.bottleneck, ' &rarr; ')}</td>"
        f"<td>{p.bottleneck_rate:.3g}</td><td>{interval_of(rates, k, fmt='.3g')}</td></tr>"
        for k, p in enumerate(model.pathways))
    src, dst = (", ".join(f"S{s}" for s in states) for states in (model.source, model.target))
    mfpt = summary.get("mfpt_ps")
    bounds = interval_text(summary.get("mfpt_ci"), fmt=".3g")
    passage = (f"<p>Mean first-passage time {src} &rarr; {dst}: <b>{mfpt:.3g} ps</b> {bounds}</p>"
               if mfpt is not None and np.isfinite(mfpt) else "")
    return (f"<h2>Pathways {src} &rarr; {dst}</h2><table><tr><th>#</th><th>route</th><th>share</th>"
            "<th>90% interval</th><th>rate-limiting step</th><th>its rate (1/ps)</th><th>90% interval</th></tr>"
            f"{rows}</table>{passage}")


def _physics_html(summary: dict) -> str:
    """The lines that say what the answer is about: state changes, the core test, the Li positions, the forecast."""
    from ..analysis.records import Snapshot
    from ..display import core_test_line, events_line, transport_line

    snap = Snapshot.from_dict(summary["snapshot"])
    lines = [events_line(snap), core_test_line(snap), transport_line(snap),
             "Forecast: " + snap.forecast.text() if snap.forecast is not None and not snap.converged else ""]
    return "".join(f"<p>{html.escape(line)}</p>" for line in lines if line)


def _no_features_note(model, figures: dict) -> str:
    n = model.transition.active_set.size
    if "features" in figures or n >= 3:
        return ""
    return (f"<p>No figure of escape rates against the states' environments: a correlation across {n} states says "
            "nothing.</p>")


def _environments_html(environments: Environments | None, described: list[dict]) -> str:
    """The mean environment of each state's Li: measured in this run when its checks recorded it, else (said so)
    the state model's training description; states no Li of the run was in are left out."""
    head = ("<tr><th>state</th><th>Li environments</th><th>mean neighbours in the shell</th>"
            "<th>mean distance (A)</th></tr>")
    if environments is not None:
        total = int(environments.li.sum())
        rows = "".join(
            f"<tr><td>S{s}</td><td>{n} ({100 * n / total:.1f}%)</td><td>"
            + ", ".join(f"{e} {c:.2f}" for e, c in zip(environments.elements, environments.mean_counts[s])
                        if c >= 0.05)
            + f"</td><td>{environments.mean_neighbour_distance_A[s]:.3f}</td></tr>"
            for s, n in enumerate(environments.li) if n > 0)
        return (f"<h2>Mean environments in this run</h2><p>Measured on the frame of every check: {total} Li "
                f"environments.</p><table>{head}{rows}</table>")
    rows = "".join(
        f"<tr><td>S{d['index']}</td><td>{100 * d['population']:.1f}% of training</td><td>"
        + ", ".join(f"{e} {c:.2f}" for e, c in d["mean_counts"].items() if c >= 0.05)
        + f"</td><td>{d['mean_neighbour_distance_A']:.3f}</td></tr>" for d in described)
    return ("<h2>Mean environments (of the state model's training frames: this store recorded none of its own)</h2>"
            f"<table>{head}{rows}</table>") if rows else ""


def _html(summary: dict, figures: dict[str, Path], model, name: str, environments: Environments | None) -> str:
    esc = html.escape
    tm, rates = model.transition, model.rates
    rows = "".join(
        f"<tr><td>S{s}</td><td>{p:.4f}</td><td>{e:.4g}</td><td>{m:.3f}</td></tr>"
        for s, p, e, m in zip(tm.active_set, tm.stationary_distribution, rates.escape_rates, rates.mobility))
    states = _environments_html(environments, summary["states"])
    conv = summary.get("convergence") or {}
    verdict = ("converged" if conv.get("converged") else "not converged") if conv else "no live analysis recorded"
    conditions = "".join(
        f"<tr><td>{esc(c['name'])}</td><td>{'passed' if c['passed'] else '<b>failed</b>'}</td>"
        f"<td class=text>{esc(str(c['detail']))}</td></tr>" for c in conv.get("conditions", []))
    conditions = (f"<h2>Convergence at the last check ({conv['time_ps']:.2f} ps)</h2><table><tr><th>condition</th>"
                  f"<th></th><th>detail</th></tr>{conditions}</table>") if conditions else ""
    markov = summary["markov"]
    at = markov["lags_ps"].index(model.lag_ps) if model.lag_ps in markov["lags_ps"] else None
    suggestion = markov["suggested_lag_ps"]
    markov_text = (f"Markov test at lag {model.lag_ps:g} ps: "
                   + ("<b>passed</b>" if at is not None and markov["markovian"][at]
                      else "<b>failed</b> (" + esc("; ".join(markov["reasons"][at] if at is not None else [])) + ")")
                   + "; shortest stored lag that passes: "
                   + (f"{suggestion:g} ps" if suggestion is not None else "none (count longer lags)") + ".")
    captions = dict(CAPTIONS)
    if not conv.get("converged"):
        captions["convergence"] = "What the live monitor saw at each check (it did not converge)."
    images = "".join(
        f"<figure{' class=wide' if k in WIDE else ''}><img src='data:image/png;base64,"
        f"{base64.b64encode(figures[k].read_bytes()).decode()}' alt='{esc(k)}'>"
        f"<figcaption>{esc(captions.get(k, k))}</figcaption></figure>" for k in _paired(list(figures)))
    timescales = ", ".join(f"t{k + 1} = {t:.4g} ps" for k, t in enumerate(model.timescales.timescales))
    banner = ("<p class='partial'>PARTIAL: the run was still being written when this report was made.</p>"
              if summary["partial"] else "")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>getsei-live report: {esc(name)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;margin:0.5em 0 1.5em}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}
td:first-child,td.text{{text-align:left}}figure{{display:inline-block;margin:0.5em;vertical-align:top;max-width:520px}}
figure.wide{{max-width:100%}}
img{{max-width:100%}}figcaption{{font-size:0.85em;color:#555}}.partial{{background:#fee;padding:0.5em;border:1px solid #c00}}
</style></head><body>
<h1>getsei-live report</h1><p><b>{esc(summary.get('context') or '')}</b></p>{banner}
<p>Store <code>{esc(name)}</code>: {summary['committed_frames']} frames, {summary['simulated_ps']:.2f} ps
simulated, status <b>{esc(str(summary['status']))}</b>{' (' + esc(str(summary['stop_reason'])) + ')' if summary['stop_reason'] else ''};
live convergence: <b>{verdict}</b>.</p>
<p>Koopman model at lag {model.lag_ps:g} ps, {tm.active_set.size} of {tm.n_states} states active; rate matrix
{'is a valid generator' if rates.valid else 'is NOT a valid generator (' + esc('; '.join(rates.problems)) + '); the nearest valid generator is shown'}.
Implied timescales: {timescales}. Core assignment: {f"{summary['core_ps']:g} ps" if summary['core_ps'] else 'off'}{
'' if summary['label_changes_removed'] is None else f" ({100 * summary['label_changes_removed']:.0f}% of the raw label changes removed)"}.</p>
<p>{markov_text}</p>
<p><b>Verdict of this analysis:</b> {esc(summary['verdict']['text'])}</p>{_physics_html(summary)}{conditions}
<h2>States</h2><table><tr><th>state</th><th>population</th><th>escape rate (1/ps)</th><th>mobility</th></tr>{rows}</table>
{states}
{_pathways_html(model, summary)}
<h2>Figures</h2>{images}{_no_features_note(model, figures)}
</body></html>
"""
