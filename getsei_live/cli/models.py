"""Commands for state models: ``train`` and ``inspect``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..analysis import strict_json as json_ready
from ..errors import ParameterError
from . import main
from ._format import format_state_model
from ._options import STATE_MODEL


@main.command()
@click.argument("trajectories", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the state model (.pt).")
@click.option("--n-states", default="6", show_default=True,
              help="Number of states, or 'auto': every number of --k-range is weighed by silhouette, cross-seed "
                   "agreement and (with --frame-ps) whether its states are metastable; the evidence is printed.")
@click.option("--k-range", nargs=2, type=int, default=(2, 10), show_default=True,
              help="State numbers tried with --n-states auto.")
@click.option("--frame-fraction", type=click.FloatRange(0, 1, min_open=True), default=0.2, show_default=True,
              help="Fraction of each trajectory's frames used, evenly spaced.")
@click.option("--epochs", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=2), default=256, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--seeds", "n_seeds", type=click.IntRange(min=1), default=5, show_default=True,
              help="Encoders trained (seeds --seed, --seed+1, ...); the states are their consensus and the "
                   "cross-seed adjusted Rand index is printed. 1: one encoder, as getsei-live 0.1 did.")
@click.option("--frame-ps", "frame_dt_ps", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Time between the frames of each trajectory (ps): with --n-states auto, each number of states "
                   "is core-tested on the labels of every frame in time order.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--format", "file_format", default=None, help="ase.io format name, when the file name does not say it.")
def train(trajectories: tuple[Path, ...], output: Path, n_states: str, k_range: tuple[int, int],
          frame_fraction: float, epochs: int, batch_size: int, seed: int, n_seeds: int, frame_dt_ps: float | None,
          device: str, file_format: str | None) -> None:
    """Train a state model (GAT encoder + Gaussian mixture) on one or more trajectories."""
    from ..md.calculators import resolve_device
    from ..states.encoder import TrainingConfig
    from ..states.model import StateModel
    from ..structures.trajectory import read_trajectory

    if n_states != "auto" and not n_states.isdigit():
        raise ParameterError(f"The '--n-states' option takes a whole number or 'auto'. Got {n_states!r} instead.")
    device = resolve_device(device)
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
        device=device, progress=progress, n_seeds=n_seeds, frame_dt_ps=frame_dt_ps,
    )
    model.save(output)
    click.echo(format_state_model(model))
    agreement = model.training.get("seed_agreement")
    if agreement:
        pairs = ", ".join(f"{v:.3f}" for v in agreement["pairwise_ari"])
        click.echo(f"\nCross-seed agreement of the {len(agreement['seeds'])} encoders (adjusted Rand index of their "
                   f"states): mean {agreement['mean_ari']:.3f}, pairs {pairs}; "
                   f"the model keeps seed {agreement['medoid_seed']}, whose refitted states match the consensus "
                   f"with ARI {agreement['ari_to_consensus']:.3f}.")
    click.echo(f"\nWrote {output}")


@main.command()
@click.argument("model_file", type=STATE_MODEL)
@click.option("--json", "as_json", is_flag=True, help="Print the model's card as JSON.")
def inspect(model_file: Path, as_json: bool) -> None:
    """Show a saved state model (a file, or 'bundled' for the shipped one): states, their mean environments,
    silhouette scores."""
    from ..states.model import StateModel

    model = StateModel.load(model_file)
    if as_json:
        click.echo(json.dumps(json_ready({
            "fingerprint": model.fingerprint, "n_states": model.n_states, "silhouette": model.silhouette,
            "silhouette_by_k": model.silhouette_by_k, "feature_schema": model.schema.to_dict(),
            "training": model.training, "states": [s.to_dict() for s in model.states]}), indent=1))
    else:
        click.echo(format_state_model(model))
