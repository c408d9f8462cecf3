"""The command line: tables, JSON checked against deeptime, and one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from deeptime.markov import reactive_flux as deeptime_reactive_flux
from deeptime.markov.msm import MarkovStateModel
from reference import core_loop

from getsei_live import __version__
from getsei_live.cli import main


@pytest.fixture
def counts_file(tmp_path, fixed_seed):
    counts = fixed_seed.integers(5, 60, size=(5, 5)) + np.diag([400, 300, 500, 200, 350])
    path = tmp_path / "counts.npy"
    np.save(path, counts)
    return path, counts


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_analyze_counts_json_matches_deeptime(counts_file):
    path, counts = counts_file
    result = CliRunner().invoke(main, ["analyze-counts", str(path), "--lag-ps", "80", "--source", "S1",
                                       "--target", "3,4", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    K = counts / counts.sum(axis=1, keepdims=True)
    msm = MarkovStateModel(K, lagtime=80.0)
    np.testing.assert_allclose(out["transition"]["stationary_distribution"], msm.stationary_distribution, atol=1e-12)
    np.testing.assert_allclose(out["timescales"]["timescales"], msm.timescales(), rtol=1e-10)
    reference = deeptime_reactive_flux(K, [1], [3, 4])
    np.testing.assert_allclose(out["flux"]["net_flux"], reference.net_flux, atol=1e-12)
    np.testing.assert_allclose(out["flux"]["rate"], reference.rate / 80.0, rtol=1e-10)
    _, capacities = reference.pathways(fraction=1.0)
    np.testing.assert_allclose([p["flux"] for p in out["pathways"]], capacities[:5], rtol=1e-9)
    assert out["source"] == [1] and out["target"] == [3, 4]


def test_analyze_counts_tables(counts_file):
    path, _ = counts_file
    result = CliRunner().invoke(main, ["analyze-counts", str(path), "--lag-ps", "80"])
    assert result.exit_code == 0, result.output
    for heading in ("population", "Implied timescales (ps)", "Rate matrix", "Mobility ranking", "pathways"):
        assert heading in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "1", "--target", "1"], "overlap in states [1]"),
        (["--source", "x"], "'--source' option takes state numbers"),
        (["--source", "9"], "between 0 and 4"),
    ],
)
def test_errors_are_one_line(counts_file, args, message):
    path, _ = counts_file
    result = CliRunner().invoke(main, ["analyze-counts", str(path), "--lag-ps", "80", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_unreadable_counts_file(tmp_path):
    bad = tmp_path / "counts.npy"
    bad.write_text("not numpy")
    result = CliRunner().invoke(main, ["analyze-counts", str(bad), "--lag-ps", "80"])
    assert result.exit_code == 2 and "Cannot read a count matrix" in result.output


def test_train_and_inspect_on_a_real_trajectory(tmp_path):
    from conftest import SHARED_DATA, shared_file

    trajectory = shared_file(SHARED_DATA / "trajectories" / "Li6PS5Cl_AIMD_500K_0pct_run1_XDATCAR.gz")
    out = tmp_path / "states.pt"
    result = CliRunner().invoke(main, ["train", str(trajectory), "-o", str(out), "--n-states", "auto",
                                       "--k-range", "2", "3", "--frame-fraction", "0.05", "--epochs", "2",
                                       "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "epoch   2/2" in result.output and "<- chosen" in result.output and out.exists()
    assert "Cross-seed agreement of the 5 encoders" in result.output  # --seeds 5 by default
    shown = CliRunner().invoke(main, ["inspect", str(out), "--json"])
    card = json.loads(shown.output)
    assert card["n_states"] in (2, 3) and set(card["silhouette_by_k"]) == {"2", "3"}
    assert card["silhouette"] == max(card["silhouette_by_k"].values())
    assert abs(sum(s["population"] for s in card["states"]) - 1) < 1e-9


def test_inspect_refuses_a_file_that_is_not_a_model(tmp_path):
    bad = tmp_path / "model.pt"
    bad.write_text("not a model")
    result = CliRunner().invoke(main, ["inspect", str(bad)])
    assert result.exit_code == 2 and "not a getsei-live state model" in result.output


def test_train_bad_n_states(tmp_path):
    result = CliRunner().invoke(main, ["train", __file__, "-o", str(tmp_path / "x.pt"), "--n-states", "many"])
    assert result.exit_code == 2 and "'--n-states' option takes a whole number or 'auto'" in result.output


def test_replay_analyze_and_watch(tiny_model_file, tmp_path):
    from conftest import TRAJECTORIES, shared_file

    trajectory = shared_file(TRAJECTORIES / "Li6PS5Cl_AIMD_500K_50pct_run1_XDATCAR.gz")
    store = tmp_path / "run.zarr"
    args = ["replay", str(trajectory), "--states", str(tiny_model_file), "--store", str(store), "--timestep-fs", "2",
            "--interval-steps", "50", "--lags-ps", "0.1,0.5", "--lag-ps", "0.5", "--check-every-frames", "35"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "140 frames in" in result.output and "Top pathways" in result.output
    again = CliRunner().invoke(main, args)  # nothing left to add: the store's frames are skipped
    assert again.exit_code == 0 and "140 frames in" in again.output
    out = json.loads(CliRunner().invoke(main, ["analyze", str(store), "--json"]).output)
    assert out["committed_frames"] == 140 and out["model"]["lag_ps"] == 0.5 and out["status"] == "finished"
    from getsei_live import RunStore

    states = core_loop(RunStore.open(store).states().astype(int), 3)  # the default core, 0.3 ps = 3 frames
    counts = np.zeros((4, 4))
    for t in range(5, states.shape[0]):  # lag 0.5 ps = 5 frames, counted by hand
        for i in range(states.shape[1]):
            if states[t - 5, i] >= 0 and states[t, i] >= 0:
                counts[states[t - 5, i], states[t, i]] += 1
    K = counts / counts.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(out["model"]["transition"]["transition_matrix"], K, atol=1e-12)
    text = CliRunner().invoke(main, ["analyze", str(store)])
    assert text.exit_code == 0, text.output
    assert "140 frames" in text.output and "Implied timescales (ps) at every counted lag" in text.output
    shown = CliRunner().invoke(main, ["watch", str(store), "--once"])
    assert shown.exit_code == 0 and "Frame 140" in shown.output and "run finished" in shown.output


def test_old_option_names_warn_and_make_the_same_run(tiny_model_file, tmp_path):
    from conftest import TRAJECTORIES, shared_file

    from getsei_live import RunStore

    trajectory = shared_file(TRAJECTORIES / "Li6PS5Cl_AIMD_500K_50pct_run1_XDATCAR.gz")
    common = ["replay", str(trajectory), "--states", str(tiny_model_file), "--timestep-fs", "2", "--lags-ps", "0.1,0.5"]
    new = CliRunner().invoke(main, [*common, "--store", str(tmp_path / "new.zarr"), "--interval-steps", "50",
                                    "--check-every-frames", "35"])
    old = CliRunner().invoke(main, [*common, "--store", str(tmp_path / "old.zarr"), "--interval", "50",
                                    "--check-every", "35"])
    assert new.exit_code == old.exit_code == 0, old.output
    assert "Warning" not in new.output
    assert "Warning: --interval is deprecated since getsei-live 0.2; use --interval-steps." in old.output
    assert "Warning: --check-every is deprecated since getsei-live 0.2; use --check-every-frames." in old.output
    runs = [RunStore.open(tmp_path / name) for name in ("new.zarr", "old.zarr")]
    assert runs[0].spec == runs[1].spec
    assert [s.to_dict() for s in runs[0].snapshots()] == [s.to_dict() for s in runs[1].snapshots()]
    both = CliRunner().invoke(main, [*common, "--store", str(tmp_path / "x.zarr"), "--interval-steps", "50",
                                     "--interval", "25"])
    assert both.exit_code == 2 and "Give --interval-steps once (--interval is its old name)" in both.output
    assert not (tmp_path / "x.zarr").exists()
    missing = CliRunner().invoke(main, [*common, "--store", str(tmp_path / "y.zarr")])
    assert missing.exit_code == 2 and "Missing option '--interval-steps'" in missing.output


def test_store_errors_are_one_line(tmp_path):
    result = CliRunner().invoke(main, ["analyze", str(tmp_path)])
    assert result.exit_code == 2 and "is not a getsei-live store" in result.output


def test_unknown_mace_model_name(tiny_model_file, tmp_path):
    from conftest import LPSCL_416, shared_file

    result = CliRunner().invoke(main, ["run", str(shared_file(LPSCL_416)), "--model", "no-such-model", "--states",
                                       str(tiny_model_file), "--store", str(tmp_path / "r.zarr"), "--steps", "2"])
    assert result.exit_code == 2 and "Unknown MACE model 'no-such-model'" in result.output


@pytest.mark.slow
def test_run_with_a_real_mace_model_and_resume(tiny_model_file, tmp_path):
    """``--steps`` is the run's total; the trajectory and the log continue on resume with no frame or line twice,
    though the interrupted run had written past its last commit."""
    from ase.io import Trajectory, write
    from conftest import SHARED_DATA, shared_file
    from helpers import lpscl_unit_cell

    mace_file = shared_file(SHARED_DATA / "models" / "mace_spice_small" / "MACE_SPICE_mace-torch-0.3.16.model")
    structure = tmp_path / "lpscl.extxyz"
    write(structure, lpscl_unit_cell())
    store, traj, log = tmp_path / "run.zarr", tmp_path / "md.traj", tmp_path / "md.log"
    args = ["run", str(structure), "--model", str(mace_file), "--states", str(tiny_model_file), "--store",
            str(store), "--temperature-K", "500", "--timestep-fs", "1", "--interval-steps", "4", "--lags-ps", "0.004,0.008",
            "--check-every-frames", "2", "--device", "cpu", "--trajectory", str(traj), "--trajectory-every", "2",
            "--log", str(log)]
    first = CliRunner().invoke(main, [*args, "--steps", "8"])
    assert first.exit_code == 0, first.output
    assert "Done: 8 steps" in first.output and "ns/day" in first.output
    with Trajectory(traj) as frames:
        assert [f.info["step"] for f in frames] == [0, 2, 4, 6, 8]
    stale = lpscl_unit_cell()  # what a run killed after its last commit leaves behind: a frame and a line past it
    stale.info["step"] = 10
    with Trajectory(traj, "a") as out:
        out.write(stale)
    with log.open("a") as out:
        out.write("0.0100 1.0 1.0 1.0 1.0\n")
    second = CliRunner().invoke(main, [*args, "--steps", "12", "--progress"])  # --steps is the run's total
    assert second.exit_code == 0, second.output
    assert "4/4 [" in second.output and "ns/day  frames" not in second.output  # a bar instead of the lines
    assert "Resuming from the checkpoint at step 8" in second.output
    assert "8 of the run's 12 steps are done; 4 to go" in second.output and "Done: 4 steps" in second.output
    from getsei_live import RunStore

    opened = RunStore.open(store)
    np.testing.assert_array_equal(opened.steps(), [0, 4, 8, 12])
    assert opened.status == "finished"
    with Trajectory(traj) as frames:
        assert [f.info["step"] for f in frames] == [0, 2, 4, 6, 8, 10, 12]
        np.testing.assert_allclose(frames[-1].positions, opened.checkpoint().positions)
        assert not np.allclose(frames[5].positions, stale.positions)  # the stale frame was replaced
        assert frames[-1].get_forces().shape == (len(stale), 3)
    lines = log.read_text().splitlines()
    assert lines[0].split()[0] == "Time[ps]" and sum(line.startswith("Time") for line in lines) == 1
    np.testing.assert_allclose([float(line.split()[0]) for line in lines[1:]], [0, 0.004, 0.008, 0.012])
    before = sorted((p.relative_to(store), p.stat().st_mtime_ns) for p in store.rglob("*") if p.is_file())
    third = CliRunner().invoke(main, [*args, "--steps", "12"])  # the same command again: nothing left to run
    assert third.exit_code == 0, third.output
    assert "Nothing to run" in third.output
    assert sorted((p.relative_to(store), p.stat().st_mtime_ns) for p in store.rglob("*") if p.is_file()) == before
    with Trajectory(traj) as frames:
        assert len(frames) == 7


def test_build_relaxes_the_interface_it_writes(tmp_path):
    from ase.io import read

    from getsei_live.md.calculators import mace_calculator

    out = tmp_path / "interface.extxyz"
    result = CliRunner().invoke(main, ["build", "lpscl-li", "--size", "small", "--relax-steps", "30", "--device",
                                       "cpu", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "Relaxing with the bundled MACE potential: relaxed in 30 FIRE steps" in result.output
    atoms = read(out)
    atoms.calc = mace_calculator("bundled", device="cpu", dtype="float32")
    before = float(result.output.split("largest force ")[1].split(" ->")[0])
    assert np.linalg.norm(atoms.get_forces(), axis=1).max() < 0.6 * before  # recomputed on the written file


def test_watch_waits_for_a_store_that_a_run_has_not_created_yet(aimd_stores, tmp_path):
    """Started before the run, ``watch`` says it waits, then shows the store once it exists (here a finished one,
    copied in place, so watch ends by itself); a path that does not exist gets those words everywhere else."""
    import shutil
    import subprocess
    import sys
    import time
    from pathlib import Path

    path = tmp_path / "later.zarr"
    executable = str(Path(sys.executable).parent / "getsei-live")
    watcher = subprocess.Popen([executable, "watch", str(path), "--refresh-s", "0.2"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    first = watcher.stdout.readline()
    assert first.strip() == f"{path} does not exist yet; waiting for a run to create it (Ctrl-C to leave)."
    time.sleep(0.5)
    assert watcher.poll() is None
    shutil.copytree(aimd_stores[0], path)
    rest = watcher.communicate(timeout=120)[0]
    assert watcher.returncode == 0 and "Frame 140" in rest and "run finished" in rest
    for command in (["watch", "--once"], ["analyze"], ["report", "-o", str(tmp_path / "r")], ["check"]):
        result = CliRunner().invoke(main, [command[0], str(tmp_path / "none.zarr"), *command[1:]])
        assert result.exit_code == 2 and result.output.strip() == f"Error: {tmp_path / 'none.zarr'} does not exist.", (
            command, result.output)
