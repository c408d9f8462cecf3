"""Commands that produce runs: ``run`` (Langevin MACE MD with the live analysis) and ``replay``."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import click
import numpy as np

from ..display import route_text
from ..analysis.verdict import timescale_text
from ..errors import ParameterError, StructureError
from ..md.demo import DEMO_BUDGETS_PS, DEMO_SYSTEM, DEMO_TIMESTEP_FS
from ..units import steps_to_ps
from . import main
from ._options import N_STATES, float_list, live_options, make_criteria, renamed_options


def _check_line(snap) -> str:
    verdict = "CONVERGED" if snap.converged else "open: " + ", ".join(snap.verdict.failed)
    top = snap.pathways[0] if snap.pathways else None
    lead = f"  top {route_text(top.states)} {100 * top.fraction:.0f}%" if top else ""
    t1 = f"  {timescale_text(snap)}" if len(snap.timescales) and np.isfinite(snap.timescales[0]) else ""
    ahead = snap.forecast
    when = "" if ahead is None or snap.converged else (
        f"  forecast ~{ahead.converged_ps:.3g} ps" if ahead.finite else "  forecast: never (" + ", ".join(
            c.name for c in ahead.conditions if c.at_ps == np.inf) + ")" if ahead.never else "  forecast: not yet")
    return (f"  check at {snap.time_ps:9.2f} ps  frame {snap.frame:>6}  lag {snap.lag_ps:g} ps{lead}{t1}  "
            f"{verdict}{when}")


@main.command()
@renamed_options(interval="--interval-steps", check_every="--check-every-frames")
@click.argument("trajectories", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@live_options
@click.option("--timestep-fs", type=click.FloatRange(min=0, min_open=True), required=True,
              help="MD time step of the trajectory, in fs.")
@click.option("--interval-steps", type=click.IntRange(min=1), default=None,
              help="MD steps between the frames of the file.")
@click.option("--stop-when-stable", is_flag=True, help="Stop reading once the pathways are stable.")
@click.option("--format", "file_format", default=None, help="ase.io format name, when the file name does not say it.")
@click.option("--temperature-K", "temperature_K", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Temperature of the trajectory in K, recorded in the store for 'getsei-live arrhenius'.")
@click.option("--one-store-each", is_flag=True,
              help="STORE is a folder; each trajectory goes to its own store there (replicas), named after the file.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Label on a local Dask cluster of this many worker processes (default: serially, here).")
@click.option("--scheduler", default=None, help="Label on the Dask cluster at this scheduler address instead.")
@click.option("--chunk-frames", type=click.IntRange(min=0), default=20, show_default=True,
              help="Frames per Dask task, read here and sent to the workers (0: one task per trajectory file, "
                   "read by its worker).")
def replay(trajectories: tuple[Path, ...], states_file: Path, store_path: Path, lags_ps: str, lag_ps, core_ps: float,
           equilibrate_ps: float, source: tuple[int, ...] | None, target: tuple[int, ...] | None, check_every_frames: int,
           timestep_fs: float,
           interval_steps: int, stop_when_stable: bool, file_format: str | None, temperature_K: float | None,
           one_store_each: bool, workers: int | None, scheduler: str | None, chunk_frames: int | None,
           **thresholds) -> None:
    """Feed finished trajectories (in order) through the live observer into STORE.

    Run it again on the same store after an interruption: it continues where the store's committed frames end.
    With --workers or --scheduler, Dask workers label the frames and the stores are exactly the serial replay's.
    """
    if interval_steps is None:
        raise click.UsageError("Missing option '--interval-steps' (MD steps between the frames of the file).")
    from ..observers.live import refuse_early

    if states_file == "auto":
        raise ParameterError("replay needs a state model: train one on these trajectories with 'getsei-live train'.")
    jobs = ({store_path / f"{_stem(path)}.zarr": [path] for path in trajectories} if one_store_each
            else {store_path: list(trajectories)})
    for store in jobs:  # before torch loads or a frame is read: refusals in a second
        refuse_early(store, timestep_fs=timestep_fs, interval_steps=interval_steps, lags_ps=float_list(lags_ps),
                     core_ps=core_ps, equilibrate_ps=equilibrate_ps, lag_ps=lag_ps, temperature_K=temperature_K)
    from ..observers.distributed import replay_distributed
    from ..observers.live import check_endpoints
    from ..observers.live import replay as replay_frames
    from ..states.model import StateModel
    from ..store.run_store import RunStore
    from ..structures.trajectory import read_trajectory

    model = StateModel.load(states_file)
    check_endpoints(source, target, model.n_states)  # before a trajectory is read

    if len(jobs) < len(trajectories) and one_store_each:
        raise ParameterError("--one-store-each needs trajectory files with different names.")
    options = dict(lag_ps=lag_ps, core_ps=core_ps, equilibrate_ps=equilibrate_ps, source=source, target=target,
                   check_every_frames=check_every_frames, criteria=(criteria := make_criteria(thresholds)),
                   stop_when_stable=stop_when_stable, temperature_K=temperature_K,
                   on_check=_echo_check)
    for store in jobs:  # a store another process writes, or a damaged one, is refused before anything is read
        if (Path(store) / "zarr.json").is_file():
            RunStore.open(store, "a").close()
    start = time.perf_counter()
    if workers is not None or scheduler is not None:
        import distributed  # noqa: F401  (its import sets its loggers to INFO, from Dask's configuration)

        from ._format import counted

        if not logging.getLogger().isEnabledFor(logging.INFO):  # Dask's INFO lines only with -v, as ours
            logging.getLogger("distributed").setLevel(logging.WARNING)
        where = f"the Dask scheduler at {scheduler}" if scheduler else counted(workers, "local Dask worker")
        click.echo(f"Replaying {counted(len(trajectories), 'trajectory', 'trajectories')} into "
                   f"{counted(len(jobs), 'store')} on {where}", err=True)
        monitors = replay_distributed(jobs, states_file, timestep_fs=timestep_fs, interval_steps=interval_steps,
                                      lags_ps=float_list(lags_ps), workers=workers or 1, scheduler=scheduler,
                                      chunk_frames=chunk_frames, file_format=file_format, **options)
    else:
        monitors = {}
        for store, paths in jobs.items():
            frames = [frame for path in paths for frame in read_trajectory(path, format=file_format)]
            click.echo(f"Replaying {len(frames)} frames ({steps_to_ps(len(frames) * interval_steps, timestep_fs):.2f} ps)"
                       f" into {store}", err=True)
            monitors[store] = replay_frames(frames, model, store, timestep_fs=timestep_fs, interval_steps=interval_steps,
                                            lags_ps=float_list(lags_ps), **options)
    elapsed = time.perf_counter() - start
    for store in monitors:
        opened = RunStore.open(store, "r")
        click.echo(f"{opened.committed_frames} frames in {store}; status {opened.status}"
                   + (f" ({opened.stop_reason})" if opened.stop_reason else ""))
    click.echo(f"Replayed in {elapsed:.1f} s")
    latest = next(iter(monitors.values())).latest
    if len(monitors) == 1 and latest is not None:
        from ._format import format_snapshot

        click.echo(format_snapshot(latest, patience=criteria.patience))


def _stem(path: Path) -> str:
    """The file name without its compression and format extensions (run1_XDATCAR.gz -> run1_XDATCAR)."""
    name = path.name
    for suffix in (".gz", ".bz2", ".xz"):
        name = name.removesuffix(suffix)
    return Path(name).stem


@main.command()
@renamed_options(every="--interval-steps", friction_ps="--coupling-time-ps", check_every="--check-every-frames")
@click.argument("structure", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--model", "mace_model", required=True,
              help="MACE potential: a .model file, 'bundled' (the small demo potential shipped with getsei-live, "
                   "distilled from CHGNet: for trying the tool, not for physics), or a mace-torch foundation-model "
                   "name (needs internet).")
@click.option("--trust-model-file", is_flag=True,
              help="Load a --model file that needs more than a MACE model does (it could run code); only for a "
                   "file whose source you trust.")
@live_options
@click.option("--temperature-K", "temperature_K", type=click.FloatRange(min=0, min_open=True), default=300.0,
              show_default=True)
@click.option("--timestep-fs", type=click.FloatRange(min=0, min_open=True), default=2.0, show_default=True)
@click.option("--coupling-time-ps", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="Langevin coupling time, in ps.")
@click.option("--steps", type=click.IntRange(min=1), required=True, help="MD steps to run (at most).")
@click.option("--interval-steps", type=click.IntRange(min=1), default=50, show_default=True,
              help="MD steps between observed frames.")
@click.option("--stop-when-stable", is_flag=True, help="End the MD once the pathways are stable.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="Where MACE and the state model's encoder run; auto: CUDA when torch sees a GPU.")
@click.option("--dtype", type=click.Choice(["auto", "float32", "float64"]), default="auto", show_default=True,
              help="MACE's precision; auto: the model file's own (the bundled model is float32).")
@click.option("--synchronous", is_flag=True,
              help="Label, store and analyse on the MD thread between steps (default: on a worker thread, so the "
                   "MD only pauses to copy each frame).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--warmup-ps", type=click.FloatRange(min=0, min_open=True), default=None,
              help="With --states auto: ps of MD whose frames train the state model in the run (e.g. 20).")
@click.option("--n-states", type=N_STATES, default="6", show_default=True,
              help="With --states auto: number of states, or 'auto' for the best silhouette.")
@click.option("--companion", "companions", multiple=True, type=click.Path(path_type=Path),
              help="Store of another replica of this system (repeat for each): read, never written; the analysis "
                   "and the early stop are then the ensemble's.")
@click.option("--trajectory", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write an ASE trajectory (.traj: positions, momenta, energies, forces); a resumed run "
                   "appends to it, no frame twice.")
@click.option("--trajectory-every", type=click.IntRange(min=1), default=None,
              help="MD steps between trajectory frames [default: --interval-steps].")
@click.option("--log", "log_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write ASE's MDLogger table (time ps, energies eV/atom, T K) at every observed frame.")
@click.option("--progress", is_flag=True,
              help="A progress bar with the time left (tqdm) instead of a progress line every 10 s (for a terminal; "
                   "the lines suit a log file).")
def run(structure: Path, mace_model: str, states_file: Path, store_path: Path, lags_ps: str, lag_ps,
        core_ps: float, equilibrate_ps: float, source: tuple[int, ...] | None, target: tuple[int, ...] | None,
        check_every_frames: int, temperature_K: float,
        timestep_fs: float, coupling_time_ps: float, steps: int, interval_steps: int, stop_when_stable: bool, device: str, dtype: str,
        synchronous: bool, seed: int, warmup_ps: float | None, n_states: int | str, companions: tuple[Path, ...],
        trust_model_file: bool, trajectory: Path | None, trajectory_every: int | None, log_path: Path | None,
        progress: bool, **thresholds) -> None:
    """Langevin MD of STRUCTURE with a MACE potential and the live analysis attached.

    An existing STORE is resumed from its last committed frame (positions and momenta from its checkpoint).
    Replicas run as separate processes, each with its own STORE and the others as --companion; each stops when
    the ensemble has converged.
    """
    from ..observers.live import refuse_early

    if (states_file == "auto") != (warmup_ps is not None):
        raise ParameterError("--states auto trains the state model on the frames of --warmup-ps: give both, or a "
                             "state-model file without --warmup-ps.")
    refuse_early(store_path, timestep_fs=timestep_fs, interval_steps=interval_steps, lags_ps=float_list(lags_ps),
                 core_ps=core_ps, equilibrate_ps=equilibrate_ps, lag_ps=lag_ps,
                 temperature_K=temperature_K)  # before torch and MACE load: refusals in a second
    from ..md.run import MDSettings, run_live_md
    from ..states.model import StateModel

    model = None if states_file == "auto" else StateModel.load(states_file)
    warmup = {} if model is not None else dict(warmup_ps=warmup_ps, n_states=n_states)
    md = MDSettings(steps=steps, temperature_K=temperature_K, timestep_fs=timestep_fs,
                    coupling_time_ps=coupling_time_ps, interval_steps=interval_steps, device=device, dtype=dtype,
                    seed=seed, trust_model_file=trust_model_file)
    criteria = make_criteria(thresholds)
    frame_ps = steps_to_ps(interval_steps, timestep_fs)
    for line in (f"MD: Langevin {temperature_K:g} K, {timestep_fs:g} fs, coupling {coupling_time_ps:g} ps, budget "
                 f"{steps_to_ps(steps, timestep_fs):g} ps ({steps} steps), a frame every {frame_ps:g} ps, seed {seed}",
                 f"Equilibration: the first {equilibrate_ps:g} ps are stored but not counted" if equilibrate_ps
                 else "Equilibration: none (every frame is counted; --equilibrate-ps keeps the first ps out)",
                 f"Core assignment: a Li changes state after {core_ps:g} ps in the new one" if core_ps
                 else "Core assignment: off (raw labels counted)",
                 f"Lags counted: {lags_ps} ps; analysis lag {lag_ps if lag_ps == 'auto' else f'{lag_ps:g} ps'}; a "
                 f"check every {check_every_frames} frames ({check_every_frames * frame_ps:g} ps)",
                 "Converged when all of these hold:", *criteria.lines(changed_by="given")):
        _echo_err(line)
    monitor = run_live_md(read_structure(structure), mace_model, model, store_path, md, report=_echo_err,
                          lags_ps=float_list(lags_ps), lag_ps=lag_ps, core_ps=core_ps,
                          equilibrate_ps=equilibrate_ps, source=source, target=target,
                          check_every_frames=check_every_frames,
                          criteria=criteria, stop_when_stable=stop_when_stable,
                          asynchronous=not synchronous, companions=companions,
                          on_check=_write_check if progress else _echo_check, trajectory=trajectory,
                          trajectory_every=trajectory_every, log=log_path, progress=progress, **warmup)
    if monitor.latest is not None:
        from ._format import format_snapshot

        click.echo(format_snapshot(monitor.latest, patience=criteria.patience))


def read_structure(path: Path):
    """The structure in ``path`` (any ase.io format); a file ASE cannot read is one StructureError."""
    from ase.io import read

    try:
        atoms = read(path)
    except Exception as error:
        detail = str(error).splitlines()[0] if str(error) else ""
        raise StructureError(f"Cannot read a structure from {path} ({type(error).__name__}{': ' if detail else ''}"
                             f"{detail}); give a file ase.io reads, e.g. .extxyz, POSCAR or .cif.") from None
    if len(atoms) == 0:
        raise StructureError(f"{path} holds no atoms.")
    return atoms


def _echo_err(line: str) -> None:
    click.echo(line, err=True)


def _echo_check(snap) -> None:
    click.echo(_check_line(snap), err=True)


def _write_check(snap) -> None:
    """A check's line above the progress bar."""
    from tqdm.auto import tqdm

    tqdm.write(_check_line(snap), file=sys.stderr)


@main.command()
@click.argument("system", type=click.Choice(["lpscl-li", "lgps-li", "llzo-li"]))
@click.option("--size", type=click.Choice(["small", "demo", "paper"]), default="demo", show_default=True)
@click.option("--vacuum-A", "vacuum_A", type=click.FloatRange(min=0), default=None,
              help="Vacuum above the Li slab (default: periodic stacking).")
@click.option("--gap-A", "gap_A", type=click.FloatRange(min=0, min_open=True), default=2.0, show_default=True,
              help="Distance between the electrolyte and the first Li plane.")
@click.option("--metal-cells", type=click.IntRange(min=1), default=None,
              help="bcc Li cells (3.44 A each) of the Li slab along z, instead of the size's: a thicker slab keeps "
                   "Li metal where the electrolyte takes up Li.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Output structure file (any ase.io format, e.g. interface.extxyz).")
@click.option("--model", "mace_model", default="bundled", show_default=True,
              help="MACE potential the interface is relaxed with: 'bundled', a .model file or a foundation-model name.")
@click.option("--trust-model-file", is_flag=True,
              help="Load a --model file that needs more than a MACE model does (it could run code).")
@click.option("--relax-steps", type=click.IntRange(min=0), default=200, show_default=True,
              help="FIRE steps of the relaxation (0: write the interface as built).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
def build(system: str, size: str, vacuum_A: float | None, gap_A: float, metal_cells: int | None, output: Path,
          mace_model: str, trust_model_file: bool, relax_steps: int, device: str) -> None:
    """Build a solid-electrolyte / Li-metal interface of the paper (lpscl-li, lgps-li, llzo-li), relaxed with a
    short optimisation so that MD from it starts near its temperature."""
    from ase.io import write

    from ..structures.builders import build_interface

    interface = build_interface(system, size, vacuum_A=vacuum_A, gap_A=gap_A, metal_cells=metal_cells)
    click.echo(interface.describe())
    atoms = interface.atoms
    if relax_steps:
        from ..md.calculators import mace_calculator, resolve_device
        from ..md.dynamics import relax

        atoms.calc = mace_calculator(mace_model, device=resolve_device(device),
                                     dtype="float32", trust=trust_model_file)
        click.echo(f"Relaxing with the {mace_model} MACE potential: " + relax(atoms, steps=relax_steps).describe())
        atoms.calc = None
    write(output, atoms)
    click.echo(f"Wrote {output}" + ("" if relax_steps else " (not relaxed)"))


@main.command()
@click.option("--system", type=click.Choice(["lpscl-li", "lgps-li", "llzo-li"]), default=DEMO_SYSTEM,
              show_default=True)
@click.option("--store", "store_path", type=click.Path(path_type=Path), default=Path("demo.zarr"), show_default=True)
@click.option("--ps", "budget_ps", type=click.FloatRange(min=0, min_open=True), default=None,
              help="MD budget in ps (2 fs steps), equilibration included; the run stops earlier once converged. "
                   "Default: what 2 CPU cores run in about 5 minutes: "
                   + ", ".join(f"{ps:g} for {system}" for system, ps in DEMO_BUDGETS_PS.items()) + ".")
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="The budget in 2 fs MD steps instead (the 0.1 spelling; --ps wins when both are given).")
@click.option("--temperature-K", "temperature_K", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Temperature (default 700 K, where the interphase formed; its state model was trained at 650, 700 "
                   "and 750 K).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--no-stop", is_flag=True, help="Run the whole budget (a reference run), still judging every check.")
def demo(system: str, store_path: Path, budget_ps: float, steps: int | None, temperature_K: float | None, device: str,
         seed: int, no_stop: bool) -> None:
    """Langevin MD of an interphase with the bundled MACE potential and the live analysis; stops when converged.

    Starts from the interphase that scripts/make_demo_states.py formed, equilibrates (not counted), labels Li
    with the demo's state model for that interphase, writes STORE (an existing demo store is replaced), stops
    once the pathways and timescales are stable, and says why and how much of the budget that saved. Needs no
    internet.
    """
    from ..md.demo import run_demo, stop_summary
    from ._format import format_snapshot, format_state_model

    start = time.perf_counter()
    if steps is not None and budget_ps is None:
        budget_ps = steps * DEMO_TIMESTEP_FS / 1000
    run = run_demo(system, store_path, budget_ps=budget_ps, temperature_K=temperature_K, seed=seed, device=device,
                   stop=not no_stop, report=_echo_err, on_check=_echo_check)
    click.echo("")
    click.echo(format_state_model(run.model))
    latest = run.monitor.latest
    if latest is not None:
        click.echo("")
        click.echo(format_snapshot(latest, patience=run.criteria.patience))
    if run.fits:
        click.echo(f"Drift guard, share of Li environments outside the state model's training, per check (%): "
                   f"{', '.join(f'{100 * f:.1f}' for f in run.fits)} (at most "
                   f"{100 * run.criteria.max_ood_fraction:g})")
    click.echo("")
    click.echo(stop_summary(run.monitor, run.budget_ps))
    click.echo(f"Demo finished in {time.perf_counter() - start:.0f} s; the run is in {store_path} "
               f"(try: getsei-live analyze {store_path}, getsei-live report {store_path})")
