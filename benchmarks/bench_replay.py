"""Replay throughput: the serial replay against Dask workers, on the real Li6PS5Cl AIMD trajectories.

Usage: python benchmarks/bench_replay.py [--workers 1,2] [--repeats 2] [--chunk-frames 20] [--files 3]
                                        [--dask-defaults]

The three 416-atom AIMD runs in ../shared/data/trajectories (140 frames each,
192 Li) are replayed into one store each with the bundled demo state model:
serially in this process, one frame labelled and recorded after another (the
baseline: what 0.1 did, ``pipeline_depth=0``, with torch's default threads, and
with one thread: the cost per core, the unit a cluster multiplies); through
the replay pipeline with no overlap (depth 1: each stage's own time) and with
the labeller 8 frames ahead of the recorder (``pipeline_depth=8``); then
by a local Dask cluster of N single-threaded worker processes, one task per
file and tasks of ``--chunk-frames`` frames (one worker with chunks is the
replay pipeline across processes: labelling there, recording here). The cluster is
started before the clock runs (its start-up is printed on its own line); every
configuration runs ``--repeats`` times, interleaved, and the table shows the
median frames per second and the speed-up over the serial replay. Each Dask
run is checked to give the serial run's states. ``--files 2 --workers 2`` is the
test of issue 25: N trajectories on N workers against the serial replay of the
same N (three files on two workers leave one worker idle for a third of the time).
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from getsei_live.md.calculators import bundled_file
from getsei_live.observers.distributed import local_cluster, replay_distributed
from getsei_live.observers.live import replay
from getsei_live.observers.pipeline import StageTimes
from getsei_live.states.model import StateModel
from getsei_live.store.run_store import RunStore
from getsei_live.structures.trajectory import read_trajectory

TRAJECTORIES = Path(__file__).resolve().parents[2] / "shared" / "data" / "trajectories"
SETTINGS = dict(timestep_fs=2.0, interval_steps=50, lags_ps=(0.1, 0.2, 0.5), check_every_frames=20)


def files() -> list[Path]:
    found = sorted(TRAJECTORIES.glob("Li6PS5Cl_AIMD_500K_*_XDATCAR.gz"))
    if not found:
        sys.exit(f"needs the AIMD trajectories in {TRAJECTORIES} (../shared beside the repository)")
    return found


def serial(paths: list[Path], model_path: Path, folder: Path, threads: int | None = None, depth: int = 0,
           times: StageTimes | None = None) -> dict[str, np.ndarray]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads or before)
    try:
        return _serial(paths, model_path, folder, depth, times)
    finally:
        torch.set_num_threads(before)


def _serial(paths: list[Path], model_path: Path, folder: Path, depth: int,
            times: StageTimes | None) -> dict[str, np.ndarray]:
    model = StateModel.load(model_path, device="cpu")
    out = {}
    for path in paths:
        store = folder / f"{path.name}.zarr"
        replay(read_trajectory(path), model, store, pipeline_depth=depth, times=times, **SETTINGS)
        out[path.name] = RunStore.open(store).states()
    return out


def distributed(paths: list[Path], model_path: Path, folder: Path, client, chunk_frames: int | None) -> dict:
    jobs = {folder / f"{path.name}.zarr": [path] for path in paths}
    replay_distributed(jobs, model_path, client=client, chunk_frames=chunk_frames, **SETTINGS)
    return {path.name: RunStore.open(folder / f"{path.name}.zarr").states() for path in paths}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2", help="Dask worker counts, comma-separated")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--chunk-frames", type=int, default=20)
    parser.add_argument("--files", type=int, default=3,
                        help="How many of the three AIMD trajectories to replay (the issue's test: as many as workers)")
    parser.add_argument("--dask-defaults", action="store_true",
                        help="Workers with Dask's own settings (MALLOC_TRIM_THRESHOLD_ and nothing against it, "
                             "Dask's profiler sampling every 10 ms): the slowdowns before getsei-live's "
                             "local_cluster, for comparison.")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from dask.distributed import Client, LocalCluster

    paths = files()[: args.files]
    model_path = bundled_file("demo_states.pt")
    n_frames = sum(len(read_trajectory(p)) for p in paths)
    counts = [int(w) for w in args.workers.split(",")]
    clients = {}
    for n in counts:
        start = time.perf_counter()
        cluster = local_cluster(n) if not args.dask_defaults else LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.WARNING)
        clients[n] = Client(cluster)
        print(f"local cluster of {n} worker(s) started in {time.perf_counter() - start:.1f} s")
    chunked = {n: f"dask x{n}, chunks of {args.chunk_frames}" for n in counts}
    stages = {"pipeline, depth 1 (no overlap)": StageTimes(), "pipeline, depth 8": StageTimes()}
    times: dict[str, list[float]] = {"serial": [], "serial, 1 torch thread": [], **{name: [] for name in stages},
                                     **{name: [] for n in counts for name in (f"dask x{n}", chunked[n])}}
    reference = None
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            states = serial(paths, model_path, Path(tmp) / "serial")
            times["serial"].append(time.perf_counter() - start)
            reference = reference or states
            start = time.perf_counter()
            serial(paths, model_path, Path(tmp) / "serial1", threads=1)
            times["serial, 1 torch thread"].append(time.perf_counter() - start)
            for name, stage in stages.items():
                start = time.perf_counter()
                depth = int(name.split("depth ")[1].split()[0])
                states = serial(paths, model_path, Path(tmp) / f"pipeline{depth}", depth=depth, times=stage)
                times[name].append(time.perf_counter() - start)
                assert all(states[k].tobytes() == reference[k].tobytes() for k in reference), "states differ"
            runs = [run for n in counts for run in ((f"dask x{n}", clients[n], None),
                                                    (chunked[n], clients[n], args.chunk_frames))]
            for name, client, chunk in runs:
                folder = Path(tmp) / name.replace(" ", "_").replace(",", "")
                start = time.perf_counter()
                states = distributed(paths, model_path, folder, client, chunk)
                times[name].append(time.perf_counter() - start)
                assert all(states[k].tobytes() == reference[k].tobytes() for k in reference), "states differ"
    for client in clients.values():
        cluster = client.cluster
        client.close()
        cluster.close()
    base = statistics.median(times["serial"])
    print(f"\nreplay of {len(paths)} AIMD trajectories, {n_frames} frames of 416 atoms (192 Li), demo state model, "
          f"{os.cpu_count()} cores; median of {args.repeats}")
    print(f"{'how':<31} {'wall (s)':>9} {'frames/s':>9} {'speed-up':>9}")
    for name, values in times.items():
        wall = statistics.median(values)
        print(f"{name:<31} {wall:9.2f} {n_frames / wall:9.1f} {base / wall:8.2f}x")
    print("every pipelined and Dask run gave the serial run's states byte for byte")
    print(f"\n{'stage seconds (sum of repeats)':<31} {'read':>7} {'label':>7} {'record':>7} {'wall':>7}")
    for name, stage in stages.items():
        print(f"{name:<31} {stage.read_s:7.2f} {stage.label_s:7.2f} {stage.record_s:7.2f} {stage.wall_s:7.2f}")


if __name__ == "__main__":
    main()
