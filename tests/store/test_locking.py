"""The writer lock: exclusive between handles, and gone with the process that held it, however it ended."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from getsei_live.errors import StoreLockedError
from getsei_live.store.lock import LOCK_NAME, WriterLock


def test_a_second_handle_is_refused_and_names_the_holder(tmp_path):
    first = WriterLock(tmp_path)
    first.acquire()
    with pytest.raises(StoreLockedError, match=rf"being written by pid {os.getpid()} on "):
        WriterLock(tmp_path).acquire()
    first.release()
    again = WriterLock(tmp_path)
    again.acquire()
    again.release()


def test_a_killed_holder_leaves_no_lock(tmp_path):
    code = (f"import sys, time; sys.path.insert(0, {os.getcwd()!r}); from pathlib import Path; "
            f"from getsei_live.store.lock import WriterLock; WriterLock(Path({str(tmp_path)!r})).acquire(); "
            f"print('locked', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(StoreLockedError, match=rf"pid {holder.pid}"):
        WriterLock(tmp_path).acquire()
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    time.sleep(0.05)
    lock = WriterLock(tmp_path)
    lock.acquire()  # the operating system dropped the dead process's lock
    assert (tmp_path / LOCK_NAME).read_text().startswith(f"pid {os.getpid()}")
    lock.release()


@pytest.mark.parametrize("tamper", ["deleted", "replaced"])
def test_a_deleted_or_replaced_lock_file_lets_no_second_writer_in(tmp_path, tamper):
    code = (f"import sys, time; sys.path.insert(0, {os.getcwd()!r}); from pathlib import Path; "
            f"from getsei_live.store.lock import WriterLock; WriterLock(Path({str(tmp_path)!r})).acquire(); "
            f"print('locked', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        (tmp_path / LOCK_NAME).unlink()
        if tamper == "replaced":
            (tmp_path / LOCK_NAME).write_text("stale")
        with pytest.raises(StoreLockedError, match="only one writer at a time"):
            WriterLock(tmp_path).acquire()
    finally:
        holder.kill()
        holder.wait()
