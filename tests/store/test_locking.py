"""The writer lock: exclusive between handles, gone with the process that held it however it ended, and nothing in
the store's directory that zarr (and so xarray) would take for a stray object."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings

import pytest

from getsei_live.errors import StoreLockedError
from getsei_live.store.lock import LEGACY_HOLDER_FILE, WriterLock
from getsei_live.store.run_store import RunStore
from getsei_live.store.spec import RunSpec

SPEC = RunSpec(fingerprint="f" * 64, n_states=3, timestep_fs=2.0, interval_steps=10, lags_frames=(1, 2),
               li_indices=(0, 1, 2))


def test_a_second_handle_is_refused_and_names_the_holder(tmp_path):
    first = WriterLock(tmp_path, lambda: "the first")
    first.acquire()
    with pytest.raises(StoreLockedError, match="is being written by the first; only one writer at a time"):
        WriterLock(tmp_path, lambda: "the first").acquire()
    with pytest.raises(StoreLockedError, match="is being written by another process"):
        WriterLock(tmp_path).acquire()  # nobody said who
    first.release()
    again = WriterLock(tmp_path)
    again.acquire()
    again.release()


def _holding(path) -> subprocess.Popen:
    """Another process that creates a store at ``path`` and holds it until killed."""
    code = (f"import sys, time; sys.path.insert(0, {os.getcwd()!r}); from pathlib import Path; "
            f"from getsei_live.store.run_store import RunStore; from getsei_live.store.spec import RunSpec; "
            f"store = RunStore.create(Path({str(path)!r}), RunSpec(**{SPEC.to_dict()!r})); "
            f"print('locked', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_a_killed_holder_leaves_no_lock(tmp_path):
    path = tmp_path / "run.zarr"
    holder = _holding(path)
    with pytest.raises(StoreLockedError, match=rf"being written by pid {holder.pid} on "):
        RunStore.open(path, "a")
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    time.sleep(0.05)
    with RunStore.open(path, "a") as store:  # the operating system dropped the dead process's lock
        store.set_status("running", None)
    assert json.loads((path / "zarr.json").read_text())["attributes"]["writer"].startswith(f"pid {os.getpid()} on ")


def test_editing_who_holds_it_lets_no_second_writer_in(tmp_path):
    path = tmp_path / "run.zarr"
    holder = _holding(path)
    try:
        metadata = json.loads((path / "zarr.json").read_text())
        del metadata["attributes"]["writer"]
        (path / "zarr.json").write_text(json.dumps(metadata))
        with pytest.raises(StoreLockedError, match="being written by another process; only one writer at a time"):
            RunStore.open(path, "a")
    finally:
        holder.kill()
        holder.wait()


def test_a_store_lists_as_zarr_alone_and_the_old_holder_file_goes_with_the_next_write(tmp_path):
    """xarray.open_datatree lists every member of the store; the holder file of 0.1 made zarr warn of a stray
    object there. A store 0.1 wrote loses the file with its next writer's first write (not before)."""
    import xarray as xr

    path = tmp_path / "run.zarr"
    RunStore.create(path, SPEC).close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tree = xr.open_datatree(path, engine="zarr", consolidated=False)
    assert "states" in tree.data_vars and "frames" in tree.children
    (path / LEGACY_HOLDER_FILE).write_text("pid 1 on an old machine")
    with RunStore.open(path, "a") as store:
        assert (path / LEGACY_HOLDER_FILE).exists()  # a writer that has written nothing changes nothing
        store.set_status("running", None)
        assert not (path / LEGACY_HOLDER_FILE).exists()


def test_a_writer_whose_directory_is_replaced_under_it_stops_and_writes_nothing_there(tiny_model, tmp_path):
    """``mv run.zarr old.zarr && cp -r old.zarr run.zarr`` while a replay writes: the writer notices at its next
    write that its path no longer names the directory it locked, and stops; the copy is never written by it, and a
    new writer may take it."""
    import shutil

    from conftest import AIMD_REPLAY, aimd_run

    from getsei_live.errors import StoreMovedError
    from getsei_live.observers.live import replay

    path, moved = tmp_path / "run.zarr", tmp_path / "old.zarr"
    frames = aimd_run("0pct", "0:80")

    def frames_then_moved():
        for k, atoms in enumerate(frames):
            if k == 50:  # after the check (and commit) at frame 35
                os.rename(path, moved)
                shutil.copytree(moved, path)
            yield atoms

    with pytest.raises(StoreMovedError, match="no longer the directory this run locked: it was moved or replaced"):
        replay(frames_then_moved(), tiny_model, path, **AIMD_REPLAY)
    copy = RunStore.open(path)
    assert copy.committed_frames == 35 and copy.status == "running"  # as it was copied: nothing written since
    with RunStore.open(path, "a") as resumed:  # the copy's lock is free
        assert resumed.writable
