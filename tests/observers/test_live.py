"""The live analysis on real ASE dynamics: store contents, resume, early stop, crash safety, refusals."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from ase import units
from ase.build import bulk
from ase.md.langevin import Langevin
from ase.md.verlet import VelocityVerlet
from conftest import TRAJECTORIES, shared_file
from helpers import PairLJ, kill_after_committed, lpscl_unit_cell, recount, run_here, soft_lj

from getsei_live import attach, replay
from getsei_live.analysis.criteria import ConvergenceCriteria
from getsei_live.errors import GetseiDeprecationWarning, ParameterError, StoreMismatchError
from getsei_live.states.graphs import LiGraphBuilder
from getsei_live.store.run_store import RunStore


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_langevin_md_store_counts_equal_recount_and_resume(tiny_model, tmp_path, asynchronous):
    atoms = lpscl_unit_cell()
    atoms.calc = soft_lj()
    dyn = Langevin(atoms, timestep=1.0 * units.fs, temperature_K=500, friction=0.02, fixcm=False,
                   rng=np.random.default_rng(0))
    path = tmp_path / "run.zarr"
    with attach(dyn, tiny_model, store=path, interval_steps=5, lags_ps=(0.005, 0.01, 0.025), check_every_frames=10,
                stop_when_stable=False, asynchronous=asynchronous, core_ps=0.015) as monitor:
        dyn.run(100)
    # A new dynamics object counts from 0 again: continue from the store's checkpoint.
    store = RunStore.open(path)
    checkpoint = store.checkpoint()
    assert checkpoint.step == 100 and np.array_equal(checkpoint.positions, atoms.positions)
    dyn2 = VelocityVerlet(atoms, timestep=1.0 * units.fs)
    with attach(dyn2, tiny_model, store=path, interval_steps=5, lags_ps=(0.005, 0.01, 0.025), check_every_frames=10,
                stop_when_stable=False, asynchronous=asynchronous, core_ps=0.015) as monitor:
        assert monitor.asynchronous == asynchronous
        dyn2.run(100)
    store = RunStore.open(path)
    assert store.committed_frames == 41 and store.status == "finished"
    np.testing.assert_array_equal(store.steps(), np.arange(0, 201, 5))
    np.testing.assert_allclose(store.times_ps(), np.arange(0, 201, 5) * 1e-3)
    states = store.states()
    assert states.shape == (41, 24) and states.dtype == np.int8
    counts, per_li, covered = store.counts()
    assert covered == 41
    np.testing.assert_array_equal(counts, recount(states.astype(int), (1, 2, 5), tiny_model.n_states, 3))
    np.testing.assert_array_equal(per_li.sum(axis=0), counts)
    labels_now = tiny_model.assign(atoms)
    np.testing.assert_array_equal(states[-1], labels_now)
    # checks at every 10th frame of the store, whether or not the run was resumed in between, and one of the last
    # frame as each run closes (its last word is a check of its last frame)
    assert [s.frame for s in store.snapshots()] == [10, 20, 21, 30, 40, 41] and monitor.latest["frame"] == 41


class SyntheticLabels:
    """Stands in for the state model: each call returns the next frame of a Markov chain with a known matrix,
    sampled independently for every Li. The labelling is not what this test is about; counting, estimation,
    the convergence verdict and the early stop are, and they are all real."""

    def __init__(self, K: np.ndarray, n_li: int, seed: int) -> None:
        self.K, self.n_states = K, K.shape[0]
        self.rng = np.random.default_rng(seed)
        self.current = self.rng.integers(0, self.n_states, n_li)
        self.builder = LiGraphBuilder(elements=("Li",))
        self.fingerprint = "synthetic-" + str(seed)
        self.calls = 0

    def check(self, atoms) -> None:
        self.builder.check(atoms)

    def describe(self) -> dict:
        return {"fingerprint": self.fingerprint}

    def assign(self, atoms) -> np.ndarray:
        if self.calls:
            cumulative = np.cumsum(self.K[self.current], axis=1)
            self.current = (self.rng.random(self.current.size)[:, None] > cumulative).sum(axis=1)
        self.calls += 1
        return self.current.astype(np.int8)


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_synthetic_process_converges_stops_early_and_covers_the_truth(tmp_path, asynchronous):
    K = np.array([[0.90, 0.07, 0.03], [0.05, 0.85, 0.10], [0.02, 0.08, 0.90]])
    atoms = bulk("Li", "bcc", a=3.44, cubic=True).repeat(4)
    atoms.calc = PairLJ(sigma=2.7, epsilon=0.01, rc=5.0, smooth=True)
    labels = SyntheticLabels(K, len(atoms), seed=3)
    dyn = VelocityVerlet(atoms, timestep=1.0 * units.fs)
    criteria = ConvergenceCriteria(patience=3, fraction_tol=0.05, timescale_rtol=0.1, n_bootstrap=200,
                                   confidence=0.95)
    monitor = attach(dyn, labels, store=tmp_path / "run.zarr", interval_steps=1, lags_ps=(0.001, 0.002), lag_ps=0.001,
                     source=0, target=2, check_every_frames=25, criteria=criteria, stop_when_stable=True,
                     asynchronous=asynchronous, max_queue=4, core_ps=0)  # exact Markov labels: nothing to core
    dyn.run(20000)
    monitor.close()
    assert monitor.converged and monitor.stop_reason == "converged"
    assert dyn.nsteps < 20000, "the MD should have been stopped early"
    if asynchronous:  # the MD learns of the verdict at its next observation, at most a full queue later
        assert monitor.latest["step"] <= dyn.nsteps <= monitor.latest["step"] + 5
    else:
        assert dyn.nsteps == monitor.latest["step"]
    store = RunStore.open(tmp_path / "run.zarr")
    assert store.committed_frames == dyn.nsteps + 1, "every frame the MD made is stored"
    assert store.status == "stopped" and "converged" in store.stop_reason
    history = store.snapshots()
    assert [s["stable"] for s in history[-3:]] == [True] * 3 and history[-1]["converged"]
    estimate = np.array(history[-1]["transition_matrix"])
    ci = np.array(history[-1]["transition_matrix_ci"], dtype=float)
    inside = (ci[..., 0] <= K) & (K <= ci[..., 1])
    print(f"stopped after {dyn.nsteps} steps; truth inside the 95% interval for {inside.sum()}/9 entries; "
          f"largest |estimate - truth| {np.abs(estimate - K).max():.4f}")
    assert inside.sum() >= 8  # a 95% interval may miss one entry of nine by chance
    half_width = (ci[..., 1] - ci[..., 0]) / 2
    assert np.all(np.abs(estimate - K) <= 2 * half_width)


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_equals_uninterrupted(tiny_model_file, tmp_path):
    trajectory = shared_file(TRAJECTORIES / "Li6PS5Cl_AIMD_500K_50pct_run1_XDATCAR.gz")
    script = tmp_path / "writer.py"
    script.write_text(textwrap.dedent(f"""
        import sys, time
        from ase.io import read
        from getsei_live import StateModel, replay
        frames = read({str(trajectory)!r}, index=":80")
        slow = sys.argv[2] == "slow"
        def stream():
            for atoms in frames:
                if slow:
                    time.sleep(0.03)
                yield atoms
        replay(stream(), StateModel.load({str(tiny_model_file)!r}), sys.argv[1], timestep_fs=2.0, interval_steps=50,
               lags_ps=(0.1, 0.3, 1.0), check_every_frames=20, flush_frames=7)
    """))
    killed, full = tmp_path / "killed.zarr", tmp_path / "full.zarr"
    kill_after_committed(subprocess.Popen([sys.executable, str(script), str(killed), "slow"]), killed, 20)
    at_kill = RunStore.open(killed).committed_frames
    assert 20 <= at_kill < 80, f"the writer should die mid-run (committed {at_kill})"
    subprocess.run([sys.executable, str(script), str(killed), "fast"], check=True)  # resume: lock was freed
    run_here(script, full, "fast")
    resumed, straight = RunStore.open(killed), RunStore.open(full)
    assert resumed.committed_frames == straight.committed_frames == 80
    np.testing.assert_array_equal(resumed.steps(), straight.steps())
    np.testing.assert_array_equal(resumed.states(), straight.states())
    for ours, theirs in zip(resumed.counts(), straight.counts()):
        np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(resumed.counts()[0], recount(resumed.states().astype(int), (1, 3, 10), 4, 3))
    print(f"killed at {at_kill} committed frames; resumed to 80 with identical counts (cored over 3 frames)")


@pytest.fixture
def small_store(tiny_model, aimd_frames, tmp_path):
    path = tmp_path / "run.zarr"
    replay(aimd_frames["test"], tiny_model, path, timestep_fs=2.0, interval_steps=50, lags_ps=(0.1, 0.2), check_every_frames=2)
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"interval_steps": 100, "lags_ps": (0.2, 0.4)}, r"interval \(MD steps per frame\): stored 50, now 100"),
        ({"lags_ps": (0.1, 0.3)}, r"lags \(frames\): stored \(1, 2\), now \(1, 3\)"),
        ({"timestep_fs": 1.0, "interval_steps": 100}, r"time step \(fs\): stored 2.0, now 1.0"),
    ],
)
def test_resume_with_other_settings_is_refused(small_store, tiny_model, aimd_frames, change, message):
    settings = {"timestep_fs": 2.0, "interval_steps": 50, "lags_ps": (0.1, 0.2), **change}
    before = RunStore.open(small_store).counts()[0]
    with pytest.raises(StoreMismatchError, match=message):
        replay(aimd_frames["test"], tiny_model, small_store, **settings)
    np.testing.assert_array_equal(RunStore.open(small_store).counts()[0], before)


def test_resume_with_another_state_model_is_refused(small_store, tiny_model_file, aimd_frames):
    import torch

    from getsei_live import StateModel

    other = StateModel.load(tiny_model_file)
    with torch.no_grad():
        next(other.encoder.parameters()).add_(1e-3)
    with pytest.raises(StoreMismatchError, match=r"state model \(fingerprint\): stored \w+, now \w+"):
        replay(aimd_frames["test"], other, small_store, timestep_fs=2.0, interval_steps=50, lags_ps=(0.1, 0.2))


def test_lag_must_be_a_multiple_of_the_frame_interval(tiny_model, aimd_frames, tmp_path):
    with pytest.raises(ParameterError, match=r"positive multiple of the frame interval \(0.1 ps\). Got 0.25"):
        replay(aimd_frames["test"], tiny_model, tmp_path / "x.zarr", timestep_fs=2.0, interval_steps=50,
               lags_ps=(0.1, 0.25))
    assert not (tmp_path / "x.zarr").exists()


def test_states_outside_the_model_do_not_block_convergence():
    from getsei_live.analysis.verdict import ConvergenceMonitor

    monitor = ConvergenceMonitor(ConvergenceCriteria(patience=1, min_transitions=20))
    snap = {"transitions_out": [0, 50, 40], "active_set": [1, 2], "pathways": [{"states": [1, 2], "fraction": 1.0}],
            "timescales": [3.0, None], "lag_ps": 1.0, "n_blocks": 16, "pathway_fraction_ci": [[0.99, 1.0]],
            "top_route_resolved": 1.0, "timescales_ci": [[2.9, 3.1], None],
            "markov": {"lags_ps": [1.0, 2.0], "markovian": [True, False], "reasons": [[], ["no multiple"]],
                       "suggested_lag_ps": 1.0},
            "stationarity": {"populations": [[0, 0.5, 0.5]] * 2, "leaving": [[0, 0.1, 0.1]] * 2,
                             "population_drift_ci": [[-0.01, 0.01]] * 3, "leaving_drift_ci": [[-0.1, 0.1]] * 3,
                             "reasons": [], "n_blocks": 16}}
    assert monitor.judge(snap)["reasons"] == ["first check"]
    verdict = monitor.judge(snap)
    assert verdict["stable"] and verdict["converged"] and verdict["failed"] == []
    scarce = monitor.judge({**snap, "transitions_out": [0, 5, 40]})
    # a failed condition also restarts the count of checks in a row where everything held
    assert scarce["reasons"] == ["fewer than 20 transitions out of S1 (5)"]
    assert scarce["failed"] == ["min_transitions", "unchanged"]
    assert monitor.judge(snap)["converged"]
    wide = monitor.judge({**snap, "pathway_fraction_ci": [[0.8, 1.0]]})
    assert wide["failed"] == ["route_interval", "unchanged"] and not wide["converged"]
    not_markov = monitor.judge({**snap, "markov": {**snap["markov"], "markovian": [False, False],
                                                   "reasons": [["t1 moves"], ["no multiple"]],
                                                   "suggested_lag_ps": None}})
    assert not_markov["failed"] == ["markovian", "unchanged"]
    assert "no stored lag passes" in not_markov["reasons"][0]


def test_the_new_and_the_old_parameter_names_make_the_same_run(tiny_model, aimd_frames, tmp_path):
    frames = aimd_frames["test"]
    new = replay(frames, tiny_model, tmp_path / "new.zarr", timestep_fs=2.0, interval_steps=50, lags_ps=(0.1,),
                 check_every_frames=2, core_ps=0)
    with pytest.warns(GetseiDeprecationWarning) as caught:
        old = replay(frames, tiny_model, tmp_path / "old.zarr", timestep_fs=2.0, interval=50, lags_ps=(0.1,),
                     check_every=2, core_ps=0)
    assert sorted(str(w.message) for w in caught) == [
        "'check_every' is deprecated since getsei-live 0.2; use 'check_every_frames'.",
        "'interval' is deprecated since getsei-live 0.2; use 'interval_steps'."]
    assert all(w.filename == __file__ for w in caught)  # the warning points at the caller's line
    stored = [RunStore.open(m.store.path) for m in (new, old)]
    assert stored[0].spec == stored[1].spec and stored[0].spec.interval_steps == stored[0].spec.interval_steps == 50
    assert [s.to_dict() for s in stored[0].snapshots()] == [s.to_dict() for s in stored[1].snapshots()]
    assert [s.frame for s in stored[0].snapshots()] == [2, 4, 5]  # every 2 frames, and the last
    with pytest.raises(ParameterError, match="Give 'interval_steps' once"), pytest.warns(GetseiDeprecationWarning):
        replay(frames, tiny_model, tmp_path / "x.zarr", timestep_fs=2.0, interval_steps=50, interval=10,
               lags_ps=(0.1,))


def test_progress_bar_counts_the_steps_of_each_run_with_an_eta(tmp_path, capsys):
    """attach(progress=True) shows a tqdm bar on stderr over the steps of each dyn.run; without it nothing."""
    atoms = bulk("Li", "bcc", a=3.44, cubic=True).repeat(2)
    atoms.calc = PairLJ(sigma=2.7, epsilon=0.01, rc=5.0, smooth=True)
    K = np.array([[0.9, 0.1], [0.2, 0.8]])
    dyn = VelocityVerlet(atoms, timestep=1.0 * units.fs)
    with attach(dyn, SyntheticLabels(K, len(atoms), seed=1), store=tmp_path / "quiet.zarr", interval_steps=2,
                lags_ps=(0.002,), check_every_frames=10, core_ps=0, stop_when_stable=False):
        dyn.run(20)
    assert capsys.readouterr().err == ""
    dyn = VelocityVerlet(atoms, timestep=1.0 * units.fs)
    with attach(dyn, SyntheticLabels(K, len(atoms), seed=1), store=tmp_path / "bar.zarr", interval_steps=2,
                lags_ps=(0.002,), check_every_frames=10, core_ps=0, stop_when_stable=False, progress=True):
        dyn.run(20)
        dyn.run(10)
    err = capsys.readouterr().err
    assert "20/20" in err and "10/10" in err, err  # one bar per dyn.run, each to its end
    assert "ns/day" in err and "frames " in err and "<00:00" in err  # speed, frames, tqdm's time left


def test_eta_text_reads_as_a_person_would_say_it():
    from getsei_live.observers.progress import eta_text

    assert [eta_text(s) for s in (float("nan"), 12.4, 185, 3725)] == ["?", "12 s", "3 min 05 s", "1 h 02 min"]


def test_a_misspelt_option_is_refused_by_name_before_a_store_is_made(tmp_path):
    atoms = bulk("Li", "bcc", a=3.44, cubic=True).repeat(2)
    atoms.calc = PairLJ(sigma=2.7, epsilon=0.01, rc=5.0, smooth=True)
    dyn = VelocityVerlet(atoms, timestep=1.0 * units.fs)
    labels = SyntheticLabels(np.array([[0.9, 0.1], [0.2, 0.8]]), len(atoms), seed=1)
    with pytest.raises(ParameterError, match=r"Unknown option 'flush_frame' \(did you mean 'flush_frames'\?\)"):
        attach(dyn, labels, store=tmp_path / "run.zarr", interval_steps=2, lags_ps=(0.002,), flush_frame=8)
    assert not (tmp_path / "run.zarr").exists()


def test_settings_go_in_as_one_typed_record_and_keywords_replace_its_fields(tmp_path):
    from getsei_live.observers.settings import MonitorSettings

    atoms = bulk("Li", "bcc", a=3.44, cubic=True).repeat(2)
    atoms.calc = PairLJ(sigma=2.7, epsilon=0.01, rc=5.0, smooth=True)
    dyn = VelocityVerlet(atoms, timestep=1.0 * units.fs)
    labels = SyntheticLabels(np.array([[0.9, 0.1], [0.2, 0.8]]), len(atoms), seed=1)
    shared = MonitorSettings(interval_steps=2, lags_ps=(0.002, 0.004), seed=3, check_every_frames=7, source=1)
    with attach(dyn, labels, store=tmp_path / "run.zarr", settings=shared, check_every_frames=5,
                asynchronous=False) as monitor:
        dyn.run(20)
    assert monitor.settings.seed == 3 and monitor.check_every_frames == 5  # the keyword replaced the record's 7
    assert monitor.settings.source == (1,) and monitor.settings.lags_ps == (0.002, 0.004)
    assert monitor.stop_when_stable and not monitor.asynchronous  # attach's default, and the keyword given
    assert RunStore.open(tmp_path / "run.zarr", "r").committed_frames == 11
    assert shared.check_every_frames == 7  # the record itself is frozen and unchanged
    with pytest.raises(ParameterError, match="'check_every_frames' parameter must be a positive number of frames"):
        MonitorSettings(check_every_frames=0)


def test_what_to_compute_and_how_to_run_it_go_in_apart(tmp_path):
    """Issue 40: AnalysisSettings (what: the numbers a check computes) and ExecutionSettings (how: threads, queue,
    commits, stopping), apart or together, give the monitor the same settings as the flat keywords."""
    from getsei_live import AnalysisSettings, ExecutionSettings
    from getsei_live.observers.settings import MonitorSettings

    atoms = bulk("Li", "bcc", a=3.44, cubic=True).repeat(2)
    atoms.calc = PairLJ(sigma=2.7, epsilon=0.01, rc=5.0, smooth=True)
    labels = SyntheticLabels(np.array([[0.9, 0.1], [0.2, 0.8]]), len(atoms), seed=1)
    what = AnalysisSettings(interval_steps=2, lags_ps=(0.002, 0.004), seed=3, check_every_frames=5, source=1)
    how = ExecutionSettings(asynchronous=False, flush_frames=3, stop_when_stable=False)
    monitors = []
    for name, given in (("parts", dict(analysis=what, execution=how)),
                        ("flat", dict(interval_steps=2, lags_ps=(0.002, 0.004), seed=3, check_every_frames=5,
                                      source=1, asynchronous=False, flush_frames=3, stop_when_stable=False))):
        dyn = VelocityVerlet(atoms.copy(), timestep=1.0 * units.fs)
        dyn.atoms.calc = atoms.calc
        with attach(dyn, labels, store=tmp_path / f"{name}.zarr", **given) as monitor:
            dyn.run(20)
        monitors.append(monitor)
    parts, flat = (m.settings for m in monitors)
    assert parts == flat and parts.analysis == what and parts.execution == how
    assert {f for f in MonitorSettings.__dataclass_fields__} == {*AnalysisSettings.__dataclass_fields__,
                                                                  *ExecutionSettings.__dataclass_fields__}
    with pytest.raises(ParameterError, match="'execution' must be an ExecutionSettings"):
        MonitorSettings.of(None, {"execution": what})
