"""SIGTERM, what Slurm and PBS send at a job's time limit, stops ``replay`` and ``run`` as Ctrl-C does: what was
labelled is committed, the store says it was interrupted and why, one line, exit status 128 + 15, and the same
command resumes to the store an uninterrupted run makes."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import AIMD_REPLAY, TRAJECTORIES
from helpers import kill_after_committed, lpscl_unit_cell

from getsei_live.store.run_store import RunStore

EXECUTABLE = str(Path(sys.executable).parent / "getsei-live")


def stopped_by_sigterm(command: list[str], store: Path, frames: int) -> subprocess.CompletedProcess:
    writer = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    kill_after_committed(writer, store, frames, sig=signal.SIGTERM)
    out, err = writer.communicate()
    return subprocess.CompletedProcess(command, writer.returncode, out, err)


@pytest.mark.slow
def test_sigterm_stops_a_replay_cleanly_and_it_resumes(aimd_stores, tiny_model_file, tmp_path):
    store = tmp_path / "replay.zarr"
    lags = ",".join(f"{lag:g}" for lag in AIMD_REPLAY["lags_ps"])
    command = [EXECUTABLE, "replay", str(TRAJECTORIES / "Li6PS5Cl_AIMD_500K_0pct_run1_XDATCAR.gz"), "--states",
               str(tiny_model_file), "--store", str(store), "--timestep-fs", "2", "--interval-steps", "50",
               "--lags-ps", lags, "--check-every-frames", "35", "--temperature-K", "500"]
    stopped = stopped_by_sigterm(command, store, 35)
    assert stopped.returncode == 143, stopped.stderr
    assert "Stopped by SIGTERM" in stopped.stderr and "Traceback" not in stopped.stderr
    interrupted = RunStore.open(store)
    assert interrupted.status == "interrupted" and "SIGTERM" in interrupted.stop_reason
    assert 35 <= interrupted.committed_frames < 140
    resumed = subprocess.run(command, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    done, whole = RunStore.open(store), RunStore.open(aimd_stores[0])
    assert done.status == "finished" and done.committed_frames == 140
    np.testing.assert_array_equal(done.states(), whole.states())


@pytest.mark.slow
def test_sigterm_stops_a_live_run_cleanly_and_it_resumes(tmp_path):
    structure, store = tmp_path / "cell.extxyz", tmp_path / "run.zarr"
    lpscl_unit_cell().write(structure)
    command = [EXECUTABLE, "run", str(structure), "--model", "bundled", "--states", "bundled", "--store", str(store),
               "--temperature-K", "500", "--steps", "200", "--interval-steps", "10", "--lags-ps", "0.02,0.04",
               "--core-ps", "0", "--check-every-frames", "5", "--device", "cpu"]
    stopped = stopped_by_sigterm(command, store, 5)
    assert stopped.returncode == 143, stopped.stderr
    assert "Terminated by SIGTERM at step" in stopped.stderr and "Traceback" not in stopped.stderr
    interrupted = RunStore.open(store)
    assert interrupted.status == "interrupted" and "SIGTERM" in interrupted.stop_reason
    assert interrupted.checkpoint() is not None and interrupted.committed_frames < 21
    resumed = subprocess.run(command, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    done = RunStore.open(store)
    assert done.status == "finished" and done.committed_frames == 21  # steps 0, 10, ..., 200
    assert np.all(np.diff(done.steps()) == 10)
