"""Commands that read kinetics: ``analyze-counts``, ``analyze`` and ``watch``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click
import numpy as np

from ..analysis import strict_json as json_ready
from ..display import (
    core_test_line,
    events_line,
    interval_of,
    interval_text,
    route_text,
    state_names,
    transport_line,
)
from ..analysis.verdict import comparable_text, endpoints_text, explain
from ..errors import ParameterError
from . import main
from ._format import core_line, format_markov, format_model, format_snapshot, table
from ._options import LAG, endpoints, renamed_options

if TYPE_CHECKING:
    from ..offline.summary import StoreInfo


def _load_counts(path: Path) -> np.ndarray:
    try:
        counts = np.load(path) if path.suffix == ".npy" else np.loadtxt(path, delimiter="," if path.suffix == ".csv" else None)
    except (OSError, ValueError) as error:
        raise ParameterError(f"Cannot read a count matrix from {path}: {error}") from None
    if counts.ndim != 2:
        raise ParameterError(f"{path} holds an array of shape {counts.shape}; expected one (n_states, n_states) count matrix.")
    return counts


@main.command("analyze-counts")
@click.argument("counts_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--lag-ps", type=float, required=True, help="Lag time of the counts, in ps.")
@endpoints("least mobile", "most mobile")
@click.option("--reversible", is_flag=True, help="Detailed-balance estimate instead of row-normalised counts.")
@click.option("--pathways", "n_pathways", type=click.IntRange(min=1), default=5, show_default=True,
              help="How many pathways to list.")
@click.option("--json", "as_json", is_flag=True, help="Print the full result as JSON.")
def analyze_counts(counts_file: Path, lag_ps: float, source: tuple[int, ...] | None, target: tuple[int, ...] | None,
                   reversible: bool, n_pathways: int, as_json: bool) -> None:
    """Kinetics from a count matrix (.npy, .csv or whitespace text) at one lag.

    Prints the stationary distribution, implied timescales, rate matrix,
    mobility ranking and the top transport pathways between SOURCE and TARGET.
    """
    from ..analysis import kinetic_model

    model = kinetic_model(_load_counts(counts_file), lag_ps, source=source,
                          target=target, reversible=reversible, n_pathways=n_pathways)
    if as_json:
        click.echo(json.dumps(json_ready(model.to_dict()), indent=1))
    else:
        click.echo(format_model(model))


@main.command()
@click.argument("store_paths", metavar="STORE...", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--lag-ps", type=LAG, default=None,
              help="Lag of the model in ps, or 'auto' for the shortest lag that passes the Markov test "
                   "(default: the run's analysis lag).")
@endpoints("least mobile populated state", "most mobile populated state")
@click.option("--reversible", is_flag=True, help="Detailed-balance estimate instead of row-normalised counts.")
@click.option("--pathways", "n_pathways", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--core-ps", type=click.FloatRange(min=0), default=None,
              help="Re-core the stored raw labels with this core length in ps (0: raw labels; default: the run's).")
@click.option("--json", "as_json", is_flag=True, help="Print the full result as JSON.")
def analyze(store_paths: tuple[Path, ...], lag_ps, source: tuple[int, ...] | None, target: tuple[int, ...] | None,
            reversible: bool, n_pathways: int, core_ps: float | None, as_json: bool) -> None:
    """The full kinetic analysis of a run store (read-only; works while the run is still being written).

    Several stores (replicas of one system: the same state model, frame spacing and lags) are analysed as one
    model: their counts add, and the intervals resample Li atoms and blocks of time of all runs, and whole runs.
    """
    from ..offline.summary import analyze_store

    result = analyze_store(list(store_paths), lag_ps=lag_ps, source=source,
                           target=target, reversible=reversible, n_pathways=n_pathways, core_ps=core_ps)
    info, model = result.info, result.model
    if as_json:
        click.echo(json.dumps(json_ready(result.to_dict()), indent=1))
        return
    partial = " (still running: partial)" if info.status == "running" else ""
    if info.n_runs > 1:
        click.echo(f"{info.n_runs} runs as one model:")
        click.echo(table(["store", "status", "frames", "ps", "Li", "transitions"],
                         [[r.store, r.status, str(r.committed_frames), f"{r.simulated_ps:.2f}",
                           str(r.n_li), str(r.transitions)] for r in info.runs]))
        click.echo(f"together: {info.committed_frames} frames, {info.simulated_ps:.2f} ps simulated{partial}")
    else:
        click.echo(f"{info.store}: {info.committed_frames} frames, {info.simulated_ps:.2f} ps simulated, "
                   f"status {info.status}{partial}"
                   + (f", stopped: {info.stop_reason}" if info.stop_reason else ""))
    names = state_names(result.snapshot.environments)
    if names:
        click.echo("The states by the mean environment of their Li at the run's checks: "
                   + ", ".join(f"S{s} {name}" for s, name in sorted(names.items())))
    click.echo(format_model(model))
    for note in model.notes:
        click.echo(f"Note: {note}")
    fit = info.state_model_fit
    if fit is not None:
        click.echo(f"State-model fit: {100 * fit.ood_fraction:.1f}% of Li environments outside the training "
                   f"distribution over {fit.frames} frames, {100 * fit.ood_fraction_recent:.1f}% in the last "
                   f"20 frames" + (" -- the states no longer describe the structure; retrain"
                                   if fit.retrain else ""))
    click.echo(core_line(info.core_ps, info.label_changes_removed))
    snap = result.snapshot
    for line in (events_line(snap), core_test_line(snap), transport_line(snap)):
        if line:
            click.echo(line)
    intervals = snap.intervals
    if intervals is not None and intervals.pathway_fraction_ci.size and model.nothing_to_analyse is None:
        click.echo(f"Route-share intervals ({100 * intervals.confidence:.0f}%, resampling "
                   f"{intervals.interval_method}): "
                   + ", ".join(f"#{k + 1} [{100 * c[0]:.1f}, {100 * c[1]:.1f}]"
                               for k, c in enumerate(intervals.pathway_fraction_ci) if np.isfinite(c).all())
                   + f"; top route on top in {100 * intervals.top_route_resolved:.0f}% of resamples"
                   + (f" ({ends})" if (ends := endpoints_text(snap)) else ""))
        if (tied := comparable_text(snap)):
            click.echo(f"Comparable routes (their share intervals overlap the top route's): {tied}")
        if np.isfinite(snap.pathway_diversity):
            click.echo(f"Pathway diversity: {snap.pathway_diversity:.2f} effective routes "
                       f"{interval_text(intervals.pathway_diversity_ci, fmt='.2f')}".rstrip())
        steps = [f"#{k + 1} {route_text(p.bottleneck)} {p.bottleneck_rate:.3g} {bounds}"
                 for k, p in enumerate(snap.pathways)
                 if p.bottleneck and (bounds := interval_of(intervals.bottleneck_rate_ci, k, fmt=".3g"))]
        if steps:
            click.echo("Rate-limiting step of each pathway (the transition with the least net flux), rate in 1/ps "
                       f"with its {100 * intervals.confidence:.0f}% interval: " + ", ".join(steps))
        if np.isfinite(snap.mfpt_ps) and (bounds := interval_text(intervals.mfpt_ci, fmt=".3g")):
            click.echo(f"Mean first-passage time {', '.join(f'S{s}' for s in snap.source)} -> "
                       f"{', '.join(f'S{s}' for s in snap.target)}: {snap.mfpt_ps:.3g} ps {bounds}")
    steady = result.snapshot.stationarity
    if steady is not None:
        click.echo("Stationarity: " + ("populations and leaving probabilities steady across the run" if
                                       steady.stationary else "still equilibrating: " + "; ".join(steady.reasons)))
    click.echo("")
    click.echo(format_markov(result.snapshot.markov))
    by_lag, lags_ps = info.timescales_by_lag, info.lags_ps
    width = max((len(t) for t in by_lag), default=0)
    click.echo("\nImplied timescales (ps) at every counted lag:")
    click.echo(table(["lag (ps)", *(f"t{k + 1}" for k in range(width))],
                     [[f"{lag:g}", *(f"{v:.4g}" for v in t), *([""] * (width - len(t)))]
                      for lag, t in zip(lags_ps, by_lag)]))
    rows = info.core_lengths
    if rows:
        click.echo("\nThe slowest timescale against the core length (raw labels re-cored; t1 in ps at each lag): "
                   "flat where the states are metastable, growing with the core where they are fluctuations")
        click.echo(table(["core (ps)", "changes /Li/ps", "removed", *(f"t1 @{lag:g}" for lag in lags_ps)],
                         [[f"{r.core_ps:g}" + (" *" if r.core_frames == _core_frames(info) else ""),
                           f"{r.changes_per_li_ps:.3g}" if r.changes_per_li_ps == r.changes_per_li_ps else "-",
                           "-" if r.removed_share is None else f"{100 * r.removed_share:.0f}%",
                           *(f"{t:.3g}" if t == t else "-" for t in r.t1_by_lag)] for r in rows]))
        click.echo("  * the core length of this analysis; -: no slow process at that lag (t1 not longer than the "
                   "lag, or too few state changes left)")
    click.echo("")
    if snap.forecast is not None and not snap.converged:
        click.echo("Forecast from the run's own checks: " + snap.forecast.text())
    click.echo(f"Verdict: {explain(snap)}")


def _core_frames(info: StoreInfo) -> int:
    """The core length of an analysis in frames (1: raw labels)."""
    return next((r.core_frames for r in info.core_lengths if abs(r.core_ps - info.core_ps) < 1e-9), 1)


@main.command()
@renamed_options(interval="--refresh-s")
@click.argument("store_path", metavar="STORE", type=click.Path(path_type=Path))
@click.option("--refresh-s", type=click.FloatRange(min=0.1), default=5.0, show_default=True,
              help="Seconds between refreshes.")
@click.option("--once", is_flag=True, help="Print the current state once and exit.")
def watch(store_path: Path, refresh_s: float, once: bool) -> None:
    """Live view of a store that another process is writing; ends when the run ends (Ctrl-C to leave).

    Started before the run has created its store, it waits for it (not with --once).
    """
    import time

    from ..errors import StoreError
    from ..store.run_store import RunStore

    waiting = False
    while True:
        try:
            store = RunStore.open(store_path, "r")
            break
        except StoreError:
            if once or (store_path / "zarr.json").is_file():  # a store is there, and it cannot be read: say why
                raise
            if not waiting:
                click.echo(f"{store_path} does not exist yet; waiting for a run to create it (Ctrl-C to leave).")
                waiting = True
            time.sleep(refresh_s)
    patience = (store.analysis.get("criteria") or {}).get("patience")
    while True:
        store.refresh()  # one read of the metadata per view: everything shown is of the same commit
        status, committed = store.status, store.committed_frames
        snapshots = [s for s in store.snapshots() if (s.frame or 0) <= committed]
        if store.spec is None and status == "warming up":
            text = (f"{store_path}: warming up, {store.warmup.committed} of {store.warmup.settings['n_frames']} "
                    f"frames kept; the state model is trained on them, then the analysis starts.")
        else:
            text = (format_snapshot(snapshots[-1], status=status, committed=committed, patience=patience)
                    if snapshots else f"{store_path}: {committed} frames committed, run {status}; no analysis yet.")
        if not once:
            click.clear()
            click.echo(f"getsei-live watch {store_path}  (every {refresh_s:g} s, Ctrl-C to leave)\n")
        click.echo(text)
        if once or status not in ("running", "warming up"):
            return
        time.sleep(refresh_s)


@main.command()
@click.argument("store_path", metavar="STORE", type=click.Path(path_type=Path))
@click.option("--repair", is_flag=True, help="Rebuild derived data (counts, snapshots) from the committed states.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def check(store_path: Path, repair: bool, as_json: bool) -> None:
    """Verify a store: metadata, committed rows, counts against a recount of states, snapshot history.

    Changes nothing unless --repair is given; --repair never touches frames or states. Exits 1 when problems remain.
    """
    from ..store.integrity import check_store, repair_store

    report = repair_store(store_path) if repair else check_store(store_path)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=1))
    else:
        click.echo(f"{store_path}: {report.committed_frames} committed frames")
        for line in report.problems:
            click.echo(f"  DAMAGED  {line}")
        for line in report.derived:
            click.echo(f"  DERIVED  {line}  (getsei-live check --repair rebuilds it)")
        for line in report.notes:
            click.echo(f"  note     {line}")
        click.echo("OK" + (" (repaired)" if repair else "") if report.ok else "PROBLEMS FOUND")
    if not report.ok:
        raise SystemExit(1)


@main.command()
@click.argument("store_paths", metavar="STORE...", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default=Path("report"),
              show_default=True, help="Folder for the figures, index.html and summary.json.")
@click.option("--lag-ps", type=LAG, default=None,
              help="Lag of the model in ps, or 'auto' (default: the run's analysis lag).")
@endpoints("least mobile populated state", "most mobile populated state")
def report(store_paths: tuple[Path, ...], output: Path, lag_ps, source: tuple[int, ...] | None,
           target: tuple[int, ...] | None) -> None:
    """Figures (PNG), a self-contained index.html and summary.json for a run store, or for several as one model
    (replicas); works on a running store."""
    from ..offline.report import write_report

    written = write_report(list(store_paths), output, lag_ps=lag_ps, source=source, target=target)
    click.echo(f"Wrote {len(written.figures)} figures, index.html and summary.json to {output}"
               + (" (PARTIAL: the run is still going)" if written.partial else ""))
    for name, file in written.figures.items():
        click.echo(f"  {output / file.name}  ({name})")
    empty = written.analysis.model.nothing_to_analyse
    if empty:
        click.echo(empty[0].upper() + empty[1:] + ".")
