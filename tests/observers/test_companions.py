"""Replicas stop together: a live monitor reads the other replicas' stores and judges the ensemble."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from ase import units
from ase.md.verlet import VelocityVerlet

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from _chains import TIMESTEP_FS, ChainLabels, _li_atoms, chains, labels  # noqa: E402

from getsei_live import attach  # noqa: E402
from getsei_live.analysis.criteria import ConvergenceCriteria  # noqa: E402
from getsei_live.errors import ParameterError  # noqa: E402
from getsei_live.store.run_store import RunStore  # noqa: E402

CHAIN = replace(chains()[0], n_li=24, budget_frames=2500)
CRITERIA = ConvergenceCriteria(n_bootstrap=100)
DT_PS = TIMESTEP_FS / 1000


def run(path: Path, seed: int, frames: int, *, stop: bool, companions=()) -> object:
    """Real velocity-Verlet MD of Li atoms, labelled by the chain (the same 'state model' for every replica)."""
    rng = np.random.default_rng(seed)
    dyn = VelocityVerlet(_li_atoms(CHAIN.n_li), timestep=TIMESTEP_FS * units.fs)
    monitor = attach(dyn, ChainLabels(labels(CHAIN, rng), 3, "easy"), store=path, interval_steps=1,
                     lags_ps=tuple(lag * DT_PS for lag in CHAIN.lags), lag_ps=DT_PS, source=0, target=2,
                     check_every_frames=50, criteria=CRITERIA, stop_when_stable=stop, seed=seed, companions=companions,
                     core_ps=0)  # exact Markov labels: nothing to core
    with monitor:
        dyn.run(frames - 1)
    return monitor


@pytest.mark.slow
def test_a_replica_stops_when_the_ensemble_has_converged(tmp_path):
    first, second = tmp_path / "a.zarr", tmp_path / "b.zarr"
    run(first, 1, 1500, stop=False)
    alone = run(tmp_path / "alone.zarr", 2, CHAIN.budget_frames, stop=True)
    together = run(second, 2, CHAIN.budget_frames, stop=True, companions=[first, tmp_path / "not-yet.zarr"])
    assert together.stop_reason == "converged" and "(2 runs together)" in together.stop_explanation
    alone_frames = RunStore.open(tmp_path / "alone.zarr").committed_frames
    together_frames = RunStore.open(second).committed_frames
    print(f"\nstopped after {together_frames} frames with a 1500-frame companion, {alone_frames} alone "
          f"({'never converged' if alone.stop_reason is None else 'converged'})")
    assert together_frames < alone_frames
    # every check judged the sum of this run's counts and the companion's (the one that existed)
    snaps = RunStore.open(second).snapshots()
    assert all(s["ensemble"] == [str(second), str(first)] and s["n_replicas"] == 2 for s in snaps)
    companion_counts = RunStore.open(first).counts()[0]
    own = RunStore.open(second).states()
    last = snaps[-1]
    n = last["frame"]
    own_lag1 = np.zeros((3, 3), int)
    np.add.at(own_lag1, (own[: n - 1].ravel(), own[1:n].ravel()), 1)
    assert last["n_transitions"] == int(own_lag1.sum() + companion_counts[0].sum())
    assert RunStore.open(first).committed_frames == 1500  # read, never written


def test_companions_that_do_not_belong_are_refused(tmp_path):
    first = tmp_path / "a.zarr"
    run(first, 1, 60, stop=False)
    with pytest.raises(ParameterError, match="this run's own store"):
        run(first, 1, 10, stop=False, companions=[first])
    rng = np.random.default_rng(0)
    dyn = VelocityVerlet(_li_atoms(CHAIN.n_li), timestep=TIMESTEP_FS * units.fs)
    with pytest.raises(ParameterError, match="cannot join this run's ensemble: lags"):
        attach(dyn, ChainLabels(labels(CHAIN, rng), 3, "easy"), store=tmp_path / "c.zarr", interval_steps=1,
               lags_ps=(DT_PS, 3 * DT_PS), companions=[first], core_ps=0)
    assert not (tmp_path / "c.zarr").exists() or RunStore.open(tmp_path / "c.zarr").committed_frames == 0
