"""Several stores as one model: counts add, intervals resample Li atoms, blocks of time and whole runs."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import AIMD_REPLAY, TRAJECTORIES, aimd_run
from reference import chain_labels

from getsei_live.analysis.convergence import snapshot
from getsei_live.analysis.counting import TransitionCounter
from getsei_live.analysis.criteria import ConvergenceCriteria
from getsei_live.cli import main
from getsei_live.errors import ParameterError
from getsei_live.observers.live import replay
from getsei_live.offline.summary import analyze_store
from getsei_live.store.run_store import RunStore


def widths(ci) -> np.ndarray:
    ci = np.array(ci, dtype=float)
    return ci[..., 1] - ci[..., 0]


def test_three_aimd_runs_as_one_model(aimd_stores):
    """The three real AIMD runs (different compositions: here only the mechanics): counts are the sums, per-Li
    counts are all Li of all runs, and the intervals are narrower than any single run's. (Not entry by entry:
    where the runs differ, the ensemble's probability can sit where a binomial interval is wider.)"""
    together = analyze_store(aimd_stores, lag_ps=0.1)
    alone = [analyze_store(path, lag_ps=0.1) for path in aimd_stores]
    stored = [RunStore.open(path, "r").counts() for path in aimd_stores]
    np.testing.assert_array_equal(together.counts, sum(c for c, _, _ in stored))
    np.testing.assert_array_equal(together.per_li_counts, np.concatenate([p for _, p, _ in stored]))
    assert together.info.committed_frames == 3 * 140 and together.info.n_runs == 3
    assert [r.temperature_K for r in together.info.runs] == [500.0] * 3
    joint = widths(together.snapshot["transition_matrix_ci"])
    for single in alone:
        own = widths(single.snapshot["transition_matrix_ci"])
        both = np.isfinite(joint) & np.isfinite(own) & (own > 0)
        assert both.sum() >= 4
        assert np.median(joint[both] / own[both]) < 0.8, single.info.store
        assert np.mean(joint[both]) < 0.8 * np.mean(own[both]), single.info.store
    def relative(result) -> np.ndarray:  # the runs' timescales differ: compare widths relative to the estimate
        return widths(result.snapshot["timescales_ci"])[:2] / np.array(result.snapshot["timescales"][:2])

    assert np.all(relative(together) < np.min([relative(a) for a in alone], axis=0))


def test_analyze_cli_takes_several_stores(aimd_stores):
    result = CliRunner().invoke(main, ["analyze", *map(str, aimd_stores), "--lag-ps", "0.1"])
    assert result.exit_code == 0, result.output
    assert "3 runs as one model" in result.output and "together: 420 frames" in result.output
    data = json.loads(CliRunner().invoke(main, ["analyze", *map(str, aimd_stores), "--json"]).output)
    assert [r["store"] for r in data["runs"]] == [str(p) for p in aimd_stores]


def test_report_of_several_stores(aimd_stores, tmp_path):
    out = tmp_path / "report"
    result = CliRunner().invoke(main, ["report", *map(str, aimd_stores), "-o", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_runs"] == 3 and summary["committed_frames"] == 420 and not summary["partial"]
    assert " + ".join(map(str, aimd_stores)) in (out / "index.html").read_text()


def test_runs_that_do_not_belong_together_are_refused(aimd_stores, tiny_model, tmp_path):
    other_lags = tmp_path / "lags.zarr"
    replay(aimd_run("0pct", "0:20"), tiny_model, other_lags, **{**AIMD_REPLAY, "lags_ps": (0.1, 0.2)})
    with pytest.raises(ParameterError, match=r"lags \[1, 2\] frames, not \[1, 2, 5\]"):
        analyze_store([aimd_stores[0], other_lags])
    other_spacing = tmp_path / "spacing.zarr"
    replay(aimd_run("0pct", "0:20"), tiny_model, other_spacing, **{**AIMD_REPLAY, "interval_steps": 100,
                                                                       "lags_ps": (0.2, 0.4, 1.0)})
    with pytest.raises(ParameterError, match="frame spacing 0.2 ps, not 0.1 ps"):
        analyze_store([aimd_stores[0], other_spacing])
    with pytest.raises(ParameterError, match="named twice"):
        analyze_store([aimd_stores[0], aimd_stores[0]])


# ---------------------------------------------------------------- replicas with a known answer
P = np.array([[0.90, 0.08, 0.02],
              [0.10, 0.80, 0.10],
              [0.03, 0.12, 0.85]])
LAGS_PS = (1.0, 2.0, 4.0)
CRITERIA = ConvergenceCriteria(n_bootstrap=100, min_blocks=8, min_replicas=4)


def true_t1(K: np.ndarray, lag: float = 1.0) -> float:
    return -lag / np.log(np.sort(np.abs(np.linalg.eigvals(K)))[-2])


def replica_snapshot(replicas: list[np.ndarray], rng: np.random.Generator) -> dict:
    counters = []
    for labels in replicas:
        counter = TransitionCounter(3, (1, 2, 4), labels.shape[1])
        counter.update_many(labels)
        counters.append(counter)
    counts = np.stack([c.counts() for c in counters])
    return snapshot(counts.sum(axis=0), np.concatenate([c.per_li_counts() for c in counters]),
                    [c.block_counts() for c in counters], lags_ps=LAGS_PS, lag_index=0, source=(0,), target=(2,),
                    criteria=CRITERIA, rng=rng, replica_counts=counts if len(counters) > 1 else None,
                    n_li=[labels.shape[1] for labels in replicas])


def test_replica_intervals_cover_the_truth_and_shrink():
    """Independent ensembles of 8 replicas (12 Li x 150 frames each) of a chain with a known matrix: the ensemble
    intervals of K and of the slowest timescale hold the truth about as often as their nominal 90%, and are
    narrower than one replica's."""
    rng = np.random.default_rng(7)
    truth_t1 = true_t1(P)
    hits_K, hits_t1, ratio = [], [], []
    for _ in range(30):
        replicas = [chain_labels(P, 150, 12, rng) for _ in range(8)]
        snap = replica_snapshot(replicas, rng)
        assert snap["n_replicas"] == 8 and "whole replicas" in snap["interval_method"]
        ci = np.array(snap["transition_matrix_ci"], dtype=float)
        hits_K.append((ci[..., 0] <= P) & (P <= ci[..., 1]))
        lo, hi = snap["timescales_ci"][0]
        hits_t1.append(lo <= truth_t1 <= hi)
        single = replica_snapshot(replicas[:1], rng)
        ratio.append(np.median(widths(snap["transition_matrix_ci"]) / widths(single["transition_matrix_ci"])))
    coverage_K, coverage_t1 = np.mean(hits_K), np.mean(hits_t1)
    print(f"coverage over 30 ensembles (nominal 90%): K {100 * coverage_K:.0f}%, t1 {100 * coverage_t1:.0f}%; "
          f"median width ratio ensemble/one replica {np.median(ratio):.2f} (1/sqrt(8) = 0.35)")
    assert coverage_K >= 0.85 and coverage_t1 >= 0.8
    assert np.median(ratio) < 0.6


def test_whole_replica_resampling_sees_replicas_that_differ():
    """Replicas of two kinds (half of them with other rates): resampling only Li atoms and time would claim a
    precision the ensemble does not have; whole replicas widen the interval to cover both kinds' average."""
    rng = np.random.default_rng(11)
    Q = np.array([[0.80, 0.15, 0.05], [0.20, 0.70, 0.10], [0.05, 0.15, 0.80]])
    replicas = [chain_labels(P if k % 2 else Q, 150, 12, rng) for k in range(8)]
    with_replicas = replica_snapshot(replicas, rng)
    assert "whole replicas" in with_replicas["interval_method"]
    few = replica_snapshot(replicas[:3], rng)
    assert few["n_replicas"] == 3 and "whole replicas" not in few["interval_method"]
    counters = []
    for labels in replicas:
        counter = TransitionCounter(3, (1, 2, 4), 12)
        counter.update_many(labels)
        counters.append(counter)
    counts = np.stack([c.counts() for c in counters])
    within = snapshot(counts.sum(axis=0), np.concatenate([c.per_li_counts() for c in counters]),
                      [c.block_counts() for c in counters], lags_ps=LAGS_PS, lag_index=0, source=(0,), target=(2,),
                      criteria=ConvergenceCriteria(n_bootstrap=100, min_replicas=9), rng=rng, replica_counts=counts,
                      n_li=[12] * 8)
    assert "whole replicas" not in within["interval_method"]
    assert np.mean(widths(with_replicas["transition_matrix_ci"])) > 1.2 * np.mean(
        widths(within["transition_matrix_ci"]))


# ---------------------------------------------------------------- replay on a Dask cluster
def test_dask_replay_equals_the_serial_replay(aimd_stores, tiny_model_file, tmp_path):
    """`replay --workers 2 --one-store-each`: the three AIMD runs labelled by a local Dask cluster of 2 worker
    processes, one store each. States, counts and the analysis snapshots equal the serial replay's byte for byte."""
    folder = tmp_path / "dask"
    files = [TRAJECTORIES / f"Li6PS5Cl_AIMD_500K_{path.stem}_run1_XDATCAR.gz" for path in aimd_stores]
    settings = ["--timestep-fs", "2", "--interval-steps", "50", "--lags-ps", "0.1,0.2,0.5", "--check-every-frames", "35",
                "--temperature-K", "500"]
    assert AIMD_REPLAY == dict(timestep_fs=2.0, interval_steps=50, lags_ps=(0.1, 0.2, 0.5), check_every_frames=35)
    result = CliRunner().invoke(main, ["replay", *map(str, files), "--states", str(tiny_model_file), "--store",
                                       str(folder), "--one-store-each", "--workers", "2", "--chunk-frames", "24",
                                       *settings])
    assert result.exit_code == 0, result.output
    assert "on 2 local Dask workers" in result.output
    for serial, file in zip(aimd_stores, files):
        a, b = RunStore.open(serial, "r"), RunStore.open(folder / (file.name.removesuffix(".gz") + ".zarr"), "r")
        assert a.committed_frames == b.committed_frames == 140
        assert a.states().tobytes() == b.states().tobytes()
        for x, y in zip(a.counts(), b.counts()):
            np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(a.block_counts()[0], b.block_counts()[0])
        np.testing.assert_array_equal(a.steps(), b.steps())
        assert a.snapshots() == b.snapshots() and len(a.snapshots()) == 4
        assert b.temperature_K == 500.0 and b.status == "finished"


def analysis_of(snapshot) -> dict:
    """A snapshot's fields but the verdict, the forecast and the state-model fit (which depend on the checks before
    it)."""
    return dataclasses.replace(snapshot, verdict=None, forecast=None, fit=None).to_dict()


def test_a_dask_replay_resumes_a_store_after_its_committed_frames_and_refuses_another_runs_store(
        aimd_stores, tiny_model, tiny_model_file, tmp_path):
    """A store with the first 50 frames goes on from frame 50 and ends as the serial replay of all 140 ends, with one
    task per file (``chunk_frames=None``: the worker reads its file itself) and with chunks read here; a store of
    another run (other lags) is refused with what differs, before anything is written to it."""
    from dask.distributed import Client

    from getsei_live.errors import StoreMismatchError
    from getsei_live.observers.distributed import local_cluster, replay_distributed

    file = TRAJECTORIES / "Li6PS5Cl_AIMD_500K_0pct_run1_XDATCAR.gz"
    whole = RunStore.open(aimd_stores[0], "r")
    other = tmp_path / "other_lags.zarr"
    replay(aimd_run("0pct", "0:20"), tiny_model, other, **{**AIMD_REPLAY, "lags_ps": (0.1, 0.2)})
    before = (other / "zarr.json").read_bytes()
    with Client(local_cluster(1)) as client:
        for chunk_frames in (None, 30):
            path = tmp_path / f"resumed_{chunk_frames}.zarr"
            replay(aimd_run("0pct", "0:50"), tiny_model, path, temperature_K=500.0, **AIMD_REPLAY)
            replay_distributed({path: [file]}, tiny_model_file, client=client, chunk_frames=chunk_frames,
                               temperature_K=500.0, **AIMD_REPLAY)
            resumed = RunStore.open(path, "r")
            assert resumed.committed_frames == 140 and resumed.status == "finished"
            assert resumed.states().tobytes() == whole.states().tobytes()
            for x, y in zip(resumed.counts(), whole.counts()):
                np.testing.assert_array_equal(x, y)
            # the history also holds the check the first replay made at its end (frame 50), which the verdicts after
            # it count and which starts the state-model fit's window anew; the analysis itself is the same
            assert [analysis_of(snap) for snap in resumed.snapshots() if snap.frame != 50] == [
                analysis_of(snap) for snap in whole.snapshots()]
        with pytest.raises(StoreMismatchError, match=r"lags \(frames\): stored \(1, 2\), now \(1, 2, 5\)"):
            replay_distributed({other: [file]}, tiny_model_file, client=client, chunk_frames=30, **AIMD_REPLAY)
    assert (other / "zarr.json").read_bytes() == before


#: Criteria that a few dozen frames of the AIMD runs meet: for the mechanics of an early stop, not for physics.
LAX = ConvergenceCriteria(patience=1, min_transitions=1, share_ci_width=0.99, top_route_confidence=0.01,
                          timescale_ci_rwidth=100.0, fraction_tol=0.99, timescale_rtol=100.0, ck_tolerance=0.99,
                          ck_leave_rtol=100.0, plateau_rtol=100.0, min_slow_events=0.01, max_population_drift=0.99,
                          max_leave_drift=100.0, min_blocks=2, max_ood_fraction=0.99, n_bootstrap=20,
                          n_timescales=1)  # the tiny model's t2 is not resolved at twice the core: not metastable


@pytest.mark.slow
def test_a_dask_replay_that_stops_early_stops_where_the_serial_replay_stops(tiny_model, tiny_model_file, tmp_path):
    """Each store stops at its own converged check; its chunks still queued or labelling are dropped and the store
    holds what the serial replay's early stop holds, no frame more."""
    from getsei_live.observers.distributed import replay_distributed

    settings = dict(AIMD_REPLAY, check_every_frames=10, criteria=LAX, stop_when_stable=True, temperature_K=500.0)
    files = {name: TRAJECTORIES / f"Li6PS5Cl_AIMD_500K_{name}_run1_XDATCAR.gz" for name in ("0pct", "100pct")}
    monitors = replay_distributed({tmp_path / f"dask_{name}.zarr": [path] for name, path in files.items()},
                                  tiny_model_file, workers=2, chunk_frames=10, **settings)
    for name in files:
        serial = replay(aimd_run(name), tiny_model, tmp_path / f"serial_{name}.zarr", **settings)
        a, b = RunStore.open(tmp_path / f"serial_{name}.zarr", "r"), RunStore.open(tmp_path / f"dask_{name}.zarr", "r")
        assert serial.stop_reason == "converged" and a.committed_frames < 140
        assert monitors[str(tmp_path / f"dask_{name}.zarr")].stop_reason == "converged"
        assert a.committed_frames == b.committed_frames and a.states().tobytes() == b.states().tobytes()
        assert a.snapshots() == b.snapshots() and a.status == b.status == "stopped"
