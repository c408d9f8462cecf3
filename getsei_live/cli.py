"""The ``getsei-live`` command line: click commands that print tables, or JSON with ``--json``."""

from __future__ import annotations

import json
import logging
import math
import sys
from pathlib import Path
from typing import Any

import click
import numpy as np

from . import __version__
from .errors import GetseiError, ParameterError


class _Group(click.Group):
    """Turns a GetseiError into one line on stderr and exit status 2, unless ``--debug``."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GetseiError as error:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"Error: {error}", err=True)
            ctx.exit(2)


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="getsei-live")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.pass_context
def main(ctx: click.Context, debug: bool, verbose: int) -> None:
    """Live GET-SEI analysis of lithium transport in ASE molecular dynamics."""
    ctx.obj = {"debug": debug}
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def _load_counts(path: Path) -> np.ndarray:
    try:
        counts = np.load(path) if path.suffix == ".npy" else np.loadtxt(path, delimiter="," if path.suffix == ".csv" else None)
    except (OSError, ValueError) as error:
        raise ParameterError(f"Cannot read a count matrix from {path}: {error}") from None
    if counts.ndim != 2:
        raise ParameterError(f"{path} holds an array of shape {counts.shape}; expected one (n_states, n_states) count matrix.")
    return counts


def _json_ready(value: Any) -> Any:
    """Strict JSON: non-finite numbers become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_json_ready(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    return value


def _table(headers: list[str], rows: list[list[str]], left: int = 1) -> str:
    """A plain-text table; the first ``left`` columns are left-aligned, the rest right-aligned."""
    widths = [max(len(h), *(len(r[k]) for r in rows)) if rows else len(h) for k, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if k < left else c.rjust(w) for k, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def _path(states: tuple[int, ...]) -> str:
    return " -> ".join(f"S{s}" for s in states)


def format_model(model) -> str:
    """The kinetic model as the tables the CLI prints."""
    tm, rates = model.transition, model.rates
    names = [f"S{s}" for s in tm.active_set]
    out = [
        f"Koopman model at lag {model.lag:g} ps ({'reversible' if tm.reversible else 'EDMD, row-normalised counts'}): "
        f"{tm.active_set.size} of {tm.n_states} states active, {tm.counts.sum():.0f} transitions counted."
    ]
    if tm.excluded_states.size:
        out.append(f"Excluded states: {', '.join(f'S{s}' for s in tm.excluded_states)} "
                   f"(never visited: {', '.join(f'S{s}' for s in tm.unvisited_states) or 'none'}).")
    out += ["", _table(
        ["state", "population", "escape rate (1/ps)", "mobility"],
        [[n, f"{p:.4f}", f"{e:.4g}", f"{m:.3f}"]
         for n, p, e, m in zip(names, tm.stationary_distribution, rates.escape_rates, rates.mobility)],
    )]
    ts = ", ".join(f"t{k + 1} = {t:.4g}" for k, t in enumerate(model.timescales.timescales))
    out += ["", f"Implied timescales (ps): {ts or 'none (one state)'}"]
    verdict = "a valid generator" if rates.valid else (
        f"NOT a valid generator ({'; '.join(rates.problems)}); shown: the nearest generator ({rates.generator_method})")
    out += ["", f"Rate matrix R = logm(K)/tau in 1/ps, {verdict}:", _table(
        ["from \\ to", *names], [[n, *(f"{v:.3e}" for v in row)] for n, row in zip(names, rates.generator)])]
    out += ["", "Mobility ranking: " + " > ".join(f"S{s}" for s in model.mobility_ranking)]
    if model.flux is not None:
        src, dst = ", ".join(f"S{s}" for s in model.source), ", ".join(f"S{s}" for s in model.target)
        out += ["", f"Reactive flux {src} -> {dst}: total {model.flux.total_flux:.4g} per lag, "
                    f"rate {model.flux.rate:.4g} 1/ps (mean first-passage time {1 / model.flux.rate:.4g} ps)"
                if model.flux.rate > 0 else f"No reactive flux from {src} to {dst}."]
        out += ["", f"Top {len(model.pathways)} pathways:", _table(
            ["#", "pathway", "flux (per lag)", "share"],
            [[str(k + 1), _path(p.states), f"{p.flux:.4g}", f"{100 * p.fraction:.1f}%"]
             for k, p in enumerate(model.pathways)], left=2)]
    return "\n".join(out)


def _state_list(values: tuple[str, ...], name: str) -> tuple[int, ...] | None:
    if not values:
        return None
    states = []
    for value in ",".join(values).split(","):
        text = value.strip().upper().removeprefix("S")
        if not text.isdigit():
            raise ParameterError(f"The '--{name}' option takes state numbers such as 2 or S2. Got {value!r} instead.")
        states.append(int(text))
    return tuple(states)


@main.command("analyze-counts")
@click.argument("counts_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--lag-ps", type=float, required=True, help="Lag time of the counts, in ps.")
@click.option("--source", multiple=True, help="Source state(s), e.g. 2 or S2 (default: least mobile).")
@click.option("--target", multiple=True, help="Target state(s) (default: most mobile).")
@click.option("--reversible", is_flag=True, help="Detailed-balance estimate instead of row-normalised counts.")
@click.option("--pathways", "n_pathways", type=click.IntRange(min=1), default=5, show_default=True,
              help="How many pathways to list.")
@click.option("--json", "as_json", is_flag=True, help="Print the full result as JSON.")
def analyze_counts(counts_file: Path, lag_ps: float, source: tuple[str, ...], target: tuple[str, ...],
                   reversible: bool, n_pathways: int, as_json: bool) -> None:
    """Kinetics from a count matrix (.npy, .csv or whitespace text) at one lag.

    Prints the stationary distribution, implied timescales, rate matrix,
    mobility ranking and the top transport pathways between SOURCE and TARGET.
    """
    from .analysis import kinetic_model

    model = kinetic_model(_load_counts(counts_file), lag_ps, source=_state_list(source, "source"),
                          target=_state_list(target, "target"), reversible=reversible, n_pathways=n_pathways)
    if as_json:
        click.echo(json.dumps(_json_ready(model.to_dict()), indent=1))
    else:
        click.echo(format_model(model))


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
    if len(model.silhouette_by_k) > 1:
        out += ["", _table(["states", "silhouette", ""],
                           [[str(k), f"{v:.4f}", "<- chosen" if k == model.n_states else ""]
                            for k, v in sorted(model.silhouette_by_k.items())])]
    out += ["", "States, ordered by the mean number of Li in the central Li's shell:", _table(
        ["state", "population", *(f"n_{e}" for e in present), "mean distance (A)"],
        [[f"S{s.index}", f"{s.population:.3f}", *(f"{s.mean_counts[e]:.2f}" for e in present),
          f"{s.mean_neighbour_distance_A:.3f}"] for s in model.states])]
    return "\n".join(line for line in out if line is not None)


@main.command()
@click.argument("trajectories", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the state model (.pt).")
@click.option("--n-states", default="6", show_default=True, help="Number of states, or 'auto' (best silhouette).")
@click.option("--k-range", nargs=2, type=int, default=(2, 10), show_default=True,
              help="State numbers tried with --n-states auto.")
@click.option("--frame-fraction", type=click.FloatRange(0, 1, min_open=True), default=0.2, show_default=True,
              help="Fraction of each trajectory's frames used, evenly spaced.")
@click.option("--epochs", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=2), default=256, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--format", "file_format", default=None, help="ase.io format name, when the file name does not say it.")
def train(trajectories: tuple[Path, ...], output: Path, n_states: str, k_range: tuple[int, int],
          frame_fraction: float, epochs: int, batch_size: int, seed: int, device: str, file_format: str | None) -> None:
    """Train a state model (GAT encoder + Gaussian mixture) on one or more trajectories."""
    import torch

    from .gcl import TrainingConfig
    from .states import StateModel
    from .trajectory import read_trajectory

    if n_states != "auto" and not n_states.isdigit():
        raise ParameterError(f"The '--n-states' option takes a whole number or 'auto'. Got {n_states!r} instead.")
    device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
    frames = []
    for path in trajectories:
        frames.append(read_trajectory(path, format=file_format))
        click.echo(f"Read {len(frames[-1])} frames of {len(frames[-1][0])} atoms from {path}", err=True)

    def progress(epoch: int, n_epochs: int, loss: float) -> None:
        click.echo(f"  epoch {epoch:>3}/{n_epochs}  loss {loss:.4f}", err=True)

    click.echo(f"Training on {device} ...", err=True)
    model = StateModel.train(
        frames, n_states="auto" if n_states == "auto" else int(n_states), frame_fraction=frame_fraction,
        config=TrainingConfig(epochs=epochs, batch_size=batch_size, seed=seed), k_range=tuple(k_range),
        device=device, progress=progress,
    )
    model.save(output)
    click.echo(format_state_model(model))
    click.echo(f"\nWrote {output}")


@main.command()
@click.argument("model_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the model's card as JSON.")
def inspect(model_file: Path, as_json: bool) -> None:
    """Show a saved state model: states, their mean environments, silhouette scores."""
    from .states import StateModel

    model = StateModel.load(model_file)
    if as_json:
        click.echo(json.dumps(_json_ready({
            "fingerprint": model.fingerprint, "n_states": model.n_states, "silhouette": model.silhouette,
            "silhouette_by_k": model.silhouette_by_k, "feature_schema": model.schema.to_dict(),
            "training": model.training, "states": [s.to_dict() for s in model.states]}), indent=1))
    else:
        click.echo(format_state_model(model))


if __name__ == "__main__":  # pragma: no cover
    main()
