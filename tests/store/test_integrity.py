"""check_store and repair_store on real Zarr stores written frame by frame, against a recount done by a plain loop."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from getsei_live.analysis.counting import TransitionCounter
from getsei_live.analysis.records import Snapshot
from getsei_live.errors import GetseiError
from getsei_live.store.integrity import check_store, repair_store
from getsei_live.store.run_store import RunStore
from getsei_live.store.spec import RunSpec

N_STATES, LAGS, N_LI, N_FRAMES = 3, (1, 3), 4, 120
SPEC = RunSpec(fingerprint="f" * 64, n_states=N_STATES, timestep_fs=2.0, interval_steps=10, lags_frames=LAGS,
               li_indices=tuple(range(N_LI)))


def loop_counts(states: np.ndarray) -> np.ndarray:
    """Sliding-window transition counts, one transition at a time."""
    out = np.zeros((len(LAGS), N_STATES, N_STATES), dtype=np.int64)
    for k, lag in enumerate(LAGS):
        for t in range(states.shape[0] - lag):
            for li in range(N_LI):
                out[k, states[t, li], states[t + lag, li]] += 1
    return out


@pytest.fixture
def written(tmp_path, fixed_seed):
    """A store of N_FRAMES random labelled frames, flushed in batches of 32, with a checkpoint and two snapshots."""
    states = fixed_seed.integers(0, N_STATES, size=(N_FRAMES, N_LI))
    path = tmp_path / "run.zarr"
    counter = TransitionCounter(N_STATES, LAGS, N_LI)
    with RunStore.create(path, SPEC) as store:
        for t, labels in enumerate(states):
            counter.update(labels)
            store.append(t * 10, t * 0.02, labels)
            if store.pending_frames == 32 or t == N_FRAMES - 1:
                store.flush(counter.tally())
        for frame in (60, N_FRAMES):
            store.add_snapshot(Snapshot(lag_ps=0.02, lags_ps=(0.02, 0.06), frame=frame, step=frame * 10))
    return path, states


def test_a_sound_store_passes_and_its_counts_are_a_recount(written):
    path, states = written
    report = check_store(path)
    assert report.ok and report.committed_frames == N_FRAMES, report.to_dict()
    assert "2 analysis snapshots" in report.notes
    counts, _, covered = RunStore.open(path).counts()
    assert covered == N_FRAMES and np.array_equal(counts, loop_counts(states))


def test_damaged_counts_and_a_snapshot_from_the_future_are_repaired(written):
    path, states = written
    import zarr

    # derived data written without its commit: what a writer killed before the commit leaves (written with zarr
    # itself, as that writer would have)
    derived = zarr.open_group(str(path), mode="r+")["counts"]
    derived[...] = derived[...] * 2
    derived.attrs["frames"] = N_FRAMES - 5
    with RunStore.open(path, "a") as store:
        store.add_snapshot(Snapshot(lag_ps=0.02, lags_ps=(0.02, 0.06), frame=N_FRAMES + 40, step=0))
    report = check_store(path)
    assert not report.problems
    assert any("cover 115 frames" in d for d in report.derived)
    assert any("differ from a recount" in d for d in report.derived)
    assert any("1 snapshots refer to frames beyond" in d for d in report.derived)
    after = repair_store(path)
    assert after.ok, after.to_dict()
    store = RunStore.open(path)
    assert np.array_equal(store.counts()[0], loop_counts(states))
    assert [s.frame for s in store.snapshots()] == [60, N_FRAMES]
    assert np.array_equal(store.states(), states)  # primary data untouched


def test_lost_labels_are_reported_and_not_repaired(written):
    path, _ = written
    chunks = sorted((path / "states" / "c").rglob("*"))
    shutil.rmtree(path / "states" / "c")  # every chunk of the labels gone
    report = check_store(path)
    assert report.problems and not report.ok, report.to_dict()
    assert "cannot be recovered" in report.problems[0] or "unreadable" in report.problems[0]
    with pytest.raises(GetseiError, match="cannot repair damaged primary data"):
        repair_store(path)
    assert chunks  # the store did have label chunks to lose


def test_wrong_recent_core_assigned_frames_are_found_and_repaired(written):
    import zarr

    path, states = written
    recent = zarr.open_group(str(path), mode="r+")["recent_states"]
    recent[...] = (recent[...] + 1) % N_STATES
    report = check_store(path)
    assert any("recent core-assigned frames differ" in d for d in report.derived), report.to_dict()
    assert repair_store(path).ok
    np.testing.assert_array_equal(RunStore.open(path).tally().recent, states[-max(LAGS):])
