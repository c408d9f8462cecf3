"""The run store's writer lock: held from creation, refused to a second writer, released when creation fails."""

from __future__ import annotations

import pytest

from getsei_live.errors import StoreFullError, StoreLockedError
from getsei_live.store.run_store import RunStore
from getsei_live.store.spec import RunSpec

SPEC = RunSpec(fingerprint="f" * 64, n_states=3, timestep_fs=2.0, interval_steps=10, lags_frames=(1, 2), li_indices=(0, 1, 2))


def test_the_creating_writer_holds_the_lock(tmp_path):
    """Creating the Zarr group must not replace the lock file the creator holds (zarr's mode 'w' empties the
    directory, which once let a second writer in while the first was still writing)."""
    path = tmp_path / "run.zarr"
    with RunStore.create(path, SPEC) as created:
        assert created.writable
        with pytest.raises(StoreLockedError, match=r"being written by pid \d+"):
            RunStore.open(path, "a")
        assert RunStore.open(path, "r").committed_frames == 0  # readers are welcome
    RunStore.open(path, "a").close()  # released on close


def test_a_creation_that_meets_a_full_disk_leaves_nothing_behind(tmp_path, monkeypatch):
    import zarr.storage._local as zarr_local

    put, writes = zarr_local._put, []

    def full_after_two(path, value, exclusive=False):  # the disk fills up while the store is being made
        writes.append(path)
        if len(writes) > 2:
            raise OSError(28, "No space left on device")
        return put(path, value, exclusive)

    monkeypatch.setattr(zarr_local, "_put", full_after_two)
    path = tmp_path / "run.zarr"
    with pytest.raises(StoreFullError, match=r"Cannot create the store at .*: No space left on device; nothing was "
                                             r"left behind"):
        RunStore.create(path, SPEC)
    assert not path.exists()
    monkeypatch.setattr(zarr_local, "_put", put)
    RunStore.create(path, SPEC).close()  # once there is space, the same path makes a store


def test_a_snapshot_entry_left_empty_by_a_killed_writer_is_no_snapshot(tmp_path):
    """A writer killed after growing the snapshot array and before writing the entry leaves the fill value "": the
    store still reads, and the next snapshot takes that place."""
    import json

    import zarr

    from getsei_live.analysis.records import Snapshot
    from getsei_live.store.parts import SnapshotLog

    group = zarr.open_group(str(tmp_path / "g.zarr"), mode="w")
    group.create_array("snapshots", shape=(0,), chunks=(64,), dtype=str)
    log = SnapshotLog(group, lambda: None)
    first, second = Snapshot(lag_ps=0.1, frame=5), Snapshot(lag_ps=0.2, frame=10)
    log.add(first)
    group["snapshots"].resize((2,))  # the kill: grown, never written
    assert [s.frame for s in log.read()] == [5]
    log.add(second)
    assert [s.frame for s in log.read()] == [5, 10] and group["snapshots"].shape == (2,)
    assert json.loads(str(group["snapshots"][1]))["lag_ps"] == 0.2


def test_a_store_keeps_each_setting_under_its_name_and_reads_the_keys_0_1_wrote(tmp_path):
    """Issue 40: the spec, the warm-up plan and the analysis settings are stored under the names of the fields they
    hold (``interval_steps``, ``lags_frames``, ``check_every_frames``); a store of 0.1 (``interval``, ``lags``,
    ``check_every``) still reads as the same run and resumes."""
    import json

    path = tmp_path / "run.zarr"
    RunStore.create(path, SPEC, warmup={"n_frames": 4, "interval_steps": 10, "lags_frames": [1, 2]}).close()
    metadata = json.loads((path / "zarr.json").read_text())
    attributes = metadata["attributes"]
    assert attributes["spec"]["interval_steps"] == 10 and attributes["spec"]["lags_frames"] == [1, 2]
    assert "interval" not in attributes["spec"] and "lags" not in attributes["spec"]
    attributes["spec"] = {("interval" if k == "interval_steps" else "lags" if k == "lags_frames" else k): v
                          for k, v in attributes["spec"].items()}  # as 0.1 wrote it
    attributes["warmup"] = {"n_frames": 4, "interval": 10, "lags": [1, 2]}
    attributes["analysis"] = {"lag_ps": 0.2, "check_every": 7}
    (path / "zarr.json").write_text(json.dumps(metadata))
    with RunStore.open(path, "a", spec=SPEC) as store:  # the same run: resumed
        assert store.spec == SPEC
        assert store.warmup.settings == {"n_frames": 4, "interval_steps": 10, "lags_frames": [1, 2]}
        assert store.analysis == {"lag_ps": 0.2, "check_every_frames": 7}


def test_ctrl_c_during_a_store_write_waits_for_the_write():
    """A signal's handler raises wherever the main thread is, also while it waits on zarr's I/O thread, whose write
    then lands after the exception (a commit on disk the writer believed had failed: its last flush then counted
    those frames twice). Every store write holds Ctrl-C and SIGTERM back and delivers them once it is done."""
    import signal

    from getsei_live.store.write_guard import signals_held

    done = []
    with pytest.raises(KeyboardInterrupt):
        with signals_held():
            signal.raise_signal(signal.SIGINT)  # to this thread, handled before it returns (os.kill may be later)
            done.append("the write went on")  # no KeyboardInterrupt in here
    assert done == ["the write went on"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler as it was
