"""Shared fixtures: fixed seeds and the real data in ../shared/data (skipped when absent)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs two workers on two cores: one thread each for torch, BLAS and OpenMP, in this process and in
    # the processes its tests start, or the two oversubscribe the cores and every test slows down.
    for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_name] = "1"

import numpy as np  # noqa: E402
import pytest  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
LPSCL_416 = SHARED_DATA / "structures" / "Li6PS5Cl_2x2x2_416atoms_morgan_POSCAR"


def shared_file(path: Path) -> Path:
    """Return a file from ../shared/data, or skip the test with the reason."""
    if not path.exists():
        pytest.skip(f"needs the shared data file {path} (../shared beside the repository is absent)")
    return path


@pytest.fixture
def fixed_seed() -> np.random.Generator:
    return np.random.default_rng(20261122)


@pytest.fixture(scope="session")
def lpscl_416():
    from ase.io import read

    return read(shared_file(LPSCL_416), format="vasp")


TRAJECTORIES = SHARED_DATA / "trajectories"
TINY_TRAINING = dict(epochs=4, batch_size=128, hidden_channels=8, heads=4, embedding_dim=16)


def aimd_run(name: str, index: str = ":"):
    """Frames of one of the real Li6PS5Cl AIMD runs at 500 K ("0pct", "50pct", "100pct")."""
    from ase.io import read

    return read(shared_file(TRAJECTORIES / f"Li6PS5Cl_AIMD_500K_{name}_run1_XDATCAR.gz"), index=index)


@pytest.fixture(scope="session")
def aimd_frames():
    return {"train": [aimd_run("0pct", "0:140:14"), aimd_run("100pct", "0:140:14")],
            "test": aimd_run("50pct", "7:140:33")}


def train_tiny(frames, seed: int, n_states: int = 4):
    """A small state model trained in a couple of seconds on real frames."""
    from getsei_live.states.encoder import TrainingConfig
    from getsei_live.states.model import StateModel

    return StateModel.train(frames, n_states=n_states, frame_fraction=1.0,
                            config=TrainingConfig(seed=seed, **TINY_TRAINING))


def made_once(tmp_path_factory, name: str, make) -> Path:
    """``base/name``, made by ``make(path)`` once in the whole test run: pytest-xdist's workers share it (the first
    makes it under a file lock, the others wait for it and read it)."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # the workers' common folder
    path = root / name
    with FileLock(str(root / f"{name}.lock")):
        if not path.exists():
            make(path)
    return path


@pytest.fixture(scope="session")
def tiny_model_file(aimd_frames, tmp_path_factory):
    return made_once(tmp_path_factory, "tiny.pt", lambda path: train_tiny(aimd_frames["train"], seed=1).save(path))


@pytest.fixture(scope="session")
def tiny_model(tiny_model_file):
    from getsei_live.states.model import StateModel

    return StateModel.load(tiny_model_file)


AIMD_RUNS = ("0pct", "50pct", "100pct")
#: How the AIMD runs are replayed (the 2 fs / 50-step spacing is nominal: the tests need mechanics, not physics).
AIMD_REPLAY = dict(timestep_fs=2.0, interval_steps=50, lags_ps=(0.1, 0.2, 0.5), check_every_frames=35)


@pytest.fixture(scope="session")
def aimd_stores(tiny_model, tmp_path_factory):
    """One store per real AIMD run, replayed serially with the tiny state model (all 140 frames each)."""
    from getsei_live.observers.live import replay

    def make(folder: Path) -> None:
        making = folder.with_name(folder.name + ".making")
        shutil.rmtree(making, ignore_errors=True)
        making.mkdir()
        for name in AIMD_RUNS:
            replay(aimd_run(name), tiny_model, making / f"{name}.zarr", temperature_K=500.0, **AIMD_REPLAY)
        making.rename(folder)

    folder = made_once(tmp_path_factory, "aimd_stores", make)
    return [folder / f"{name}.zarr" for name in AIMD_RUNS]


def pytest_configure(config) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)  # a BLAS loaded before the variables above were set
