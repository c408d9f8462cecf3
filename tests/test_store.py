"""The run store's writer lock: held from creation, refused to a second writer, released when creation fails."""

from __future__ import annotations

import pytest

from getsei_live import store as store_module
from getsei_live.errors import StoreLockedError
from getsei_live.locking import WriterLock
from getsei_live.store import RunSpec, RunStore

SPEC = RunSpec(fingerprint="f" * 64, n_states=3, timestep_fs=2.0, interval=10, lags=(1, 2), li_indices=(0, 1, 2))


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


def test_a_failed_creation_releases_the_lock(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store_module.zarr, "open_group", broken)
    path = tmp_path / "run.zarr"
    with pytest.raises(OSError, match="No space left"):
        RunStore.create(path, SPEC)
    lock = WriterLock(path)
    lock.acquire()  # would raise StoreLockedError had create kept it
    lock.release()
