"""``getsei-live arrhenius``: rates against temperature and activation energies from stores at several temperatures."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from . import main
from ._format import table


def _ci(lo: float, hi: float, fmt: str = "{:.3g}") -> str:
    return "" if not (np.isfinite(lo) and np.isfinite(hi)) else f"[{fmt.format(lo)}, {fmt.format(hi)}]"


def format_arrhenius(result, n_pairs: int | None = None) -> str:
    """The rates at every temperature, then the fits, as plain-text tables."""
    temps = [row.temperature_K for row in result.temperatures]
    lines = [f"Rates from the Koopman matrix at lag {result.lag_ps:g} ps; "
             f"{100 * result.escape[0].confidence:.0f}% intervals from resampling Li atoms, blocks of time and runs.",
             table(["T (K)", "runs", "ps simulated", "state changes at the lag", "Markovian at the lag"],
                   [[f"{row.temperature_K:g}", str(row.n_runs), f"{row.simulated_ps:.1f}",
                     str(row.state_changes), "yes" if row.markovian else "NO"] for row in result.temperatures]),
             ""]
    fits = list(result.escape) + sorted(result.transitions, key=lambda f: -np.nanmax(f.rates))[:n_pairs]
    header = ["rate (1/ps)", *(f"{t:g} K" for t in temps), "E_a (eV)", "interval", "A (1/ps)",
              f"k({result.at_K:g} K)", "interval"]
    rows = [[f.name, *(f"{k:.3g}" if np.isfinite(k) else "-" for k in f.rates),
             f"{f.activation_eV:.3f}" if np.isfinite(f.activation_eV) else "-", _ci(*f.activation_eV_ci, "{:.3f}"),
             f"{f.prefactor_per_ps:.3g}" if np.isfinite(f.prefactor_per_ps) else "-",
             f"{f.rate_at:.3g}" if np.isfinite(f.rate_at) else "-", _ci(*f.rate_at_ci)] for f in fits]
    lines.append(table(header, rows))
    lines += [f"Note: {note}" for note in result.notes]
    return "\n".join(lines)


@main.command()
@click.argument("store_paths", metavar="STORE...", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--lag-ps", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Lag of the rates in ps (default: the shortest lag every temperature counts that passes the "
                   "Markov test at each).")
@click.option("--at-K", "at_K", type=click.FloatRange(min=0, min_open=True), default=300.0, show_default=True,
              help="Temperature to extrapolate the rates to, in K.")
@click.option("--pairs", "n_pairs", type=click.IntRange(min=0), default=10, show_default=True,
              help="How many state-to-state rates to list (fastest first; all are in the JSON).")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default=Path("arrhenius"),
              show_default=True, help="Folder for arrhenius.png and arrhenius.json.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def arrhenius(store_paths: tuple[Path, ...], lag_ps: float | None, at_K: float, n_pairs: int, output: Path,
              as_json: bool) -> None:
    """Escape and state-to-state rates against 1/T, activation energies and prefactors with intervals, and the
    rates extrapolated to --at-K, from stores at several temperatures (several at one temperature are replicas;
    all must use one state model)."""
    from ..errors import StoreError
    from ..offline.plots import arrhenius_figure
    from ..offline.temperatures import arrhenius_stores

    result = arrhenius_stores(list(store_paths), lag_ps=lag_ps, at_K=at_K)
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(f"Cannot write to {output}: {error.strerror}.") from None
    (output / "arrhenius.json").write_text(json.dumps(result.to_dict(), indent=1))
    figure = arrhenius_figure(result)
    figure.savefig(output / "arrhenius.png", dpi=110)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=1))
        return
    click.echo(format_arrhenius(result, n_pairs))
    click.echo(f"\nWrote {output / 'arrhenius.png'} and {output / 'arrhenius.json'}")
