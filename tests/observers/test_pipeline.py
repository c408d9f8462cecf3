"""The replay pipeline: labelling on a thread ahead of the recording changes nothing in the store."""

from __future__ import annotations

import numpy as np
from conftest import AIMD_REPLAY, aimd_run

from getsei_live.observers.live import replay
from getsei_live.observers.pipeline import StageTimes
from getsei_live.store.run_store import RunStore


def assert_same_store(a_path, b_path) -> None:
    a, b = RunStore.open(a_path, "r"), RunStore.open(b_path, "r")
    assert a.committed_frames == b.committed_frames
    assert a.states().tobytes() == b.states().tobytes()
    np.testing.assert_array_equal(a.log_likelihood(), b.log_likelihood())
    for x, y in zip(a.counts(), b.counts()):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a.block_counts()[0], b.block_counts()[0])
    np.testing.assert_array_equal(a.steps(), b.steps())
    assert a.snapshots() == b.snapshots()  # the analyses, intervals and Li environments of every check


def test_a_pipelined_replay_writes_the_store_one_thread_writes(aimd_stores, tiny_model, tmp_path):
    """The aimd_stores fixture replays on one thread (the default); the same run through the pipeline, the labeller
    8 frames ahead, gives the same store."""
    piped = tmp_path / "piped.zarr"
    times = StageTimes()
    replay(aimd_run("0pct"), tiny_model, piped, temperature_K=500.0, pipeline_depth=8, times=times, **AIMD_REPLAY)
    assert times.frames == 140
    assert_same_store(aimd_stores[0], piped)
    assert len(RunStore.open(piped, "r").snapshots()) == 4


def test_a_pipelined_replay_resumes_where_the_store_ends_and_times_its_stages(tiny_model, tmp_path):
    """Replayed in two goes (the first 61 frames, then the whole trajectory again): the second go labels only the
    frames the store lacks, and the store is the one the same two goes on one thread write."""
    frames = aimd_run("0pct")
    path, serial = tmp_path / "resumed.zarr", tmp_path / "serial.zarr"
    first = StageTimes()
    replay(frames[:61], tiny_model, path, temperature_K=500.0, times=first, pipeline_depth=8, **AIMD_REPLAY)
    assert first.frames == 61 and first.label_s > 0 and first.record_s > 0 and first.wall_s > 0
    rest = StageTimes()
    replay(frames, tiny_model, path, temperature_K=500.0, times=rest, pipeline_depth=8, **AIMD_REPLAY)
    assert rest.frames == 140 - 61  # the 61 committed frames were skipped without labelling
    assert "frames/s" in str(rest)
    for part in (frames[:61], frames):
        replay(part, tiny_model, serial, temperature_K=500.0, pipeline_depth=0, **AIMD_REPLAY)
    assert_same_store(serial, path)
