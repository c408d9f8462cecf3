"""RunStore: the Zarr v3 layout of a live run; batched appends, a writer lock, resume and committed-row reads.

Layout (``run.zarr/``)::

    attrs            schema version, package version, the run's spec (state-model fingerprint, time step,
                     interval, lags, Li indices), state-model config, elements, temperature_K, committed_frames, status
    frames/step      (T,) int64 absolute MD step of each frame
    frames/time_ps   (T,) float64
    states           (T, n_li) int8, chunked by frames
    log_likelihood   (T, n_li) float16 the state model's fit of each Li environment (NaN: not recorded)
    li_positions     (T, n_li, 3) float32 unwrapped Li positions in A (NaN: not recorded)
    counts           (n_lags, n, n) int64 cumulative sliding counts; attr ``frames`` = frames they cover
    per_li_counts    (n_li, n_lags, n, n) int64
    block_counts     (n_blocks, n_lags, n, n) int64 counts per block of time; attr ``block_frames`` = block length
    recent_states    (k, n_li) int8 the last max(lags) core-assigned frames (where counting goes on); attrs
                     ``frames`` (raw frames covered), ``raw_changes``, ``cored_changes``
    block_events     (n_blocks, n, n) int64 changes of the core-assigned labels i -> j per block of time, each once
    per_li_events    (n_li,) int64 changes of the core-assigned labels of each Li
    probe_counts     (n_lags, n, n) int64 counts of the raw labels cored with twice the core length (the core
                     probe of the metastability test; only with core assignment); attrs ``core_frames``,
                     ``raw_changes``, ``cored_changes``
    probe_recent_states (k, n_li) int8 the probe's last cored frames
    transport/       the Li hops and displacements followed so far (``analysis.transport.TransportTally``);
                     attrs ``n_seen``, ``n_emitted``; only where every frame came with positions
    snapshots        (S,) JSON strings, one analysis snapshot each

    checkpoints/0, 1 two slots of positions, momenta, cell, numbers of a committed frame (for restarting MD)
    attrs.commit     the commit record: frames, the SHA-256 of the derived data (counts, per-Li and block counts,
                     recent_states), the checkpoint slot in use

Write order on every flush: rows of ``frames``/``states``, then the derived
data, then the checkpoint into the free slot, then the commit: one write of
the root metadata (``committed_frames`` and the commit record). Zarr writes
each file whole (a temporary file renamed), so a writer killed anywhere leaves
the last commit intact: readers trust only rows below ``committed_frames``,
derived data whose digest the commit holds (otherwise they rebuild it from
``states``), and the checkpoint slot it names. ``states`` holds the raw labels; the counts are of
the core-assigned labels (``spec.core_frames``), which run ``core_frames - 1``
frames behind.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import zarr

from .. import __version__
from ..analysis.coring import UNASSIGNED, core_labels
from ..analysis.counting import Tally
from ..analysis.records import Snapshot
from ..errors import (
    ParameterError,
    StoreError,
    StoreFullError,
    StoreMismatchError,
    StoreNotFoundError,
)
from .layout import (
    create_arrays,
    create_fit_array,
    create_frame_coordinate,
    create_positions_array,
    open_group,
    reading,
    rounded_temperature,
)
from .lock import WriterLock, holder
from .derived import read_tally, write_tally
from .parts import Checkpoint, FrameBuffer, MDCheckpoint, SnapshotLog, tally_digest
from .write_guard import FULL, remove_half_made, writing
from .spec import RunSpec, with_current_keys
from .warmup import WarmupFrames, run_arrays

__all__ = ["RunStore", "STORE_SCHEMA_VERSION", "StoredCounts"]

log = logging.getLogger(__name__)

STORE_SCHEMA_VERSION = 1

#: The largest magnitude of float16, the type of the stored log-likelihoods.
FLOAT16_MAX = float(np.finfo(np.float16).max)


def recorded_writer(path: Path) -> str | None:
    """Who the store at ``path`` says writes it (``lock.holder()`` of its last writer, recorded in its root
    metadata with that writer's first write)."""
    return json.loads((path / "zarr.json").read_text())["attributes"].get("writer")


def writer_lock(path: Path) -> WriterLock:
    """The writer lock of the store at ``path``, whose refusal names the writer the store records."""
    return WriterLock(path, lambda: recorded_writer(path))


class StoredCounts(NamedTuple):
    """A store's committed cumulative transition counts.

    Attributes
    ----------
    counts : (n_lags, n, n) ndarray
    per_li_counts : (n_li, n_lags, n, n) ndarray
    frames : int
        Frames the counts cover.
    """

    counts: np.ndarray
    per_li_counts: np.ndarray
    frames: int


class RunStore:
    """A run's Zarr store. Open with ``RunStore.open`` (read or append) or ``RunStore.create``.

    Parameters are not for direct use; see the class methods.
    """

    def __init__(self, path: Path, group: zarr.Group, mode: str, lock: WriterLock | None) -> None:
        self.path = path
        self.mode = mode
        self._group = group
        self._arrays: dict[str, zarr.Array] = {}  # the writer's arrays, opened once (a lookup reads metadata)
        self._lock = lock
        self._pending = FrameBuffer()
        self._staged: dict = {}
        self._full = False  # a write met a full disk: this handle writes nothing more
        self._reserved = False  # whether this writer has made its space reserve (store/reserve.py)
        #: Whether this handle has written anything (a store it created, or a write since it was opened).
        self.wrote = False
        attrs = self._meta = dict(group.attrs)
        if attrs.get("kind") != "getsei-live run":
            raise StoreError(f"{path} is a Zarr group but not a getsei-live store.")
        if int(attrs.get("schema_version", 0)) > STORE_SCHEMA_VERSION:
            raise StoreError(f"{path} uses store schema {attrs['schema_version']}, newer than this getsei-live "
                             f"({__version__}) reads; upgrade getsei-live.")
        self.spec: RunSpec | None = RunSpec.from_dict(attrs["spec"]) if attrs.get("spec") else None  # None: warming up
        self.state_model_config: dict = attrs.get("state_model", {})
        self.elements: list[str] = list(attrs.get("elements", []))

    # ---------------------------------------------------------------- opening
    @classmethod
    def create(cls, path: str | Path, spec: RunSpec | None, *, state_model_config: dict | None = None,
               elements: list[str] | None = None, temperature_K: float | None = None, warmup: dict | None = None,
               chunk_frames: int = 256) -> RunStore:
        """Create a new store (the path must not exist yet) and hold its writer lock.

        ``temperature_K`` is the thermostat's temperature, for ``getsei-live arrhenius`` (None when unknown).
        ``spec`` None with ``warmup`` settings: a store that keeps warm-up frames until a state model is trained
        in the run (status "warming up"); ``begin`` then makes it a run store.
        """
        path = Path(path)
        if path.exists():
            raise StoreError(f"{path} exists already; open it with mode 'a' to resume, or choose a new path.")
        try:
            path.mkdir(parents=True)
        except OSError as error:
            raise StoreError(f"Cannot create the store at {path}: {error.strerror}.") from None
        lock = writer_lock(path)
        lock.acquire()
        try:
            group = zarr.open_group(str(path), mode="a", zarr_format=3)  # new directory; "w" would remake the locked one
            if spec is not None:
                create_arrays(group, spec, chunk_frames)
            group.update_attributes({
                "kind": "getsei-live run",
                "schema_version": STORE_SCHEMA_VERSION,
                "package_version": __version__,
                "spec": None if spec is None else spec.to_dict(),
                "frame_dt_ps": None if spec is None else spec.frame_dt_ps,
                "lags_ps": None if spec is None else list(spec.lags_ps),
                "warmup": warmup,
                "state_model": state_model_config or {},
                "elements": list(elements or []),
                "temperature_K": rounded_temperature(temperature_K),
                "committed_frames": 0,
                "status": "running" if spec is not None else "warming up",
                "stop_reason": None,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "writer": holder(),
            })
        except BaseException as error:
            lock.release()
            remove_half_made(path)  # a half-made store is no store: leave nothing behind
            if isinstance(error, OSError):
                raise StoreFullError(f"Cannot create the store at {path}: {error.strerror}; nothing was left "
                                     f"behind.") if error.errno in FULL else StoreError(
                    f"Cannot create the store at {path}: {error.strerror}; nothing was left behind.") from None
            raise
        log.info("Created store %s%s.", path, f" ({spec.n_li} Li, lags {spec.lags_frames} frames)" if spec else " (warm-up)")
        store = cls(path, group, "a", lock)
        store.wrote = True
        return store

    @classmethod
    def open(cls, path: str | Path, mode: str = "r", *, spec: RunSpec | None = None) -> RunStore:
        """Open an existing store for reading ("r") or appending ("a", takes the writer lock).

        With ``spec`` (append mode), the store's spec must match it; otherwise
        StoreMismatchError names every difference.
        """
        if mode not in ("r", "a"):
            raise ParameterError.of("mode", f"must be 'r' or 'a'. Got {mode!r} instead.")
        path = Path(path)
        try:
            exists = path.exists()
        except OSError as error:  # a name longer than the file system takes, a path through a file
            raise StoreError(f"Cannot open the store {str(path)[:80]}{'...' if len(str(path)) > 80 else ''}: "
                             f"{error.strerror}.") from None
        if not exists:
            raise StoreNotFoundError(f"{path} does not exist.")
        if not (path / "zarr.json").is_file():
            raise StoreError(f"{path} is not a getsei-live store (no zarr.json there).")
        lock = None
        if mode == "a":
            if not os.access(path, os.W_OK):
                raise StoreError(f"Cannot write to {path}: permission denied. Open it read-only, or copy it.")
            lock = writer_lock(path)
            lock.acquire()  # who holds it is recorded with the first write
        try:
            store = cls(path, open_group(path, "r+" if mode == "a" else "r"), mode, lock)
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        if spec is not None and store.spec is not None:
            problems = spec.differences(store.spec)
            if problems:
                store.close()
                raise StoreMismatchError(
                    f"{path} belongs to a different run: " + "; ".join(problems)
                    + ". Resume with the original settings, or write to a new store."
                )
        if mode == "a":
            try:
                store._check_rows()
            except BaseException:
                store.close()
                raise
        return store

    def _check_rows(self) -> None:
        """Refuse to write to a store whose committed frames are not all there (edited or damaged metadata)."""
        n = self.committed_frames
        if self.spec is None or not n:
            return
        rows = {name: self._group[name].shape[0] for name in ("frames/step", "frames/time_ps", "states")}
        short = {name: have for name, have in rows.items() if have < n}
        if short:
            raise StoreError(f"{self.path} is damaged: {n} frames are committed but "
                             + ", ".join(f"{name} holds {have} rows" for name, have in short.items())
                             + f". Run 'getsei-live check {self.path}'; it is not resumed.")

    def close(self) -> None:
        """Flush nothing (call ``flush`` first) and release the writer lock."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"RunStore({str(self.path)!r}, mode={self.mode!r}, committed_frames={self.committed_frames}, "
                f"status={self.status!r})")

    # ---------------------------------------------------------------- reading
    def _attrs(self) -> dict[str, Any]:
        """The root metadata: the writer's own, live; a reader's as it was at ``open`` (or the last ``refresh``),
        so that everything a reader reads is judged against one ``committed_frames``."""
        return dict(self._group.attrs) if self.mode == "a" else self._meta

    def refresh(self) -> RunStore:
        """A reader: read the metadata afresh (what a writer has committed since); returns the store."""
        if self.mode == "r":
            self._group = open_group(self.path, "r")
            self._meta = dict(self._group.attrs)
            if self.spec is None and self._meta.get("spec"):
                self.spec = RunSpec.from_dict(self._meta["spec"])
                self.state_model_config = self._meta.get("state_model", {})
        return self

    def _committed_on_disk(self) -> int:
        """``committed_frames`` as the disk holds it (what a failed write left the writer with)."""
        try:
            return int(open_group(self.path, "r").attrs.get("committed_frames", 0))
        except Exception:
            return 0

    @property
    def _commit(self) -> dict:
        """The commit record: what the last commit made true (frames, the digest of the derived data, the
        checkpoint's slot); empty for a store from before it was kept."""
        return dict(self._attrs().get("commit") or {})

    @property
    def committed_frames(self) -> int:
        return int(self._attrs()["committed_frames"])

    @property
    def status(self) -> str:
        return str(self._attrs()["status"])

    @property
    def stop_reason(self) -> str | None:
        return self._attrs()["stop_reason"]

    @property
    def temperature_K(self) -> float | None:
        """The run's thermostat temperature in K; None when it was not recorded."""
        value = self._attrs().get("temperature_K")
        return None if value is None else float(value)

    @reading
    def steps(self) -> np.ndarray:
        """(committed_frames,) int64 absolute MD steps."""
        n = self.committed_frames
        return self._group["frames/step"][:n]

    @reading
    def times_ps(self) -> np.ndarray:
        n = self.committed_frames
        return self._group["frames/time_ps"][:n]

    @reading
    def states(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """(frames, n_li) int8 labels of committed frames ``start:stop``."""
        n = self.committed_frames
        stop = n if stop is None else min(stop, n)
        return self._group["states"][start:stop]

    @reading
    def log_likelihood(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """(frames, n_li) float32 log-likelihood of every Li environment under the state model, committed frames
        ``start:stop``; NaN where it was not recorded."""
        n = self.committed_frames
        stop = n if stop is None else min(stop, n)
        out = np.full((max(stop - start, 0), self.spec.n_li), np.nan, dtype=np.float32)
        have = min(stop, self._group["log_likelihood"].shape[0]) if "log_likelihood" in self._group else 0
        if have > start:
            out[: have - start] = self._group["log_likelihood"][start:have]
        return out

    def dtrajs(self) -> list[np.ndarray]:
        """The core-assigned labels of each Li as deeptime's discrete trajectories: one int array per Li, its
        frames from the end of the equilibration and its first core on, the last ``core_frames - 1`` (not final
        yet) left out. Counted with deeptime's ``TransitionCountEstimator(lag, "sliding")`` at ``lags_frames[k]``
        they give ``counts[k]`` exactly; lags in ps are ``lags_frames`` times ``spec.frame_dt_ps``."""
        cored = core_labels(self.states(), self.spec.core_frames)[self.spec.equilibrate_frames:]
        out = []
        for labels in cored.T:
            first = int(np.argmax(labels != UNASSIGNED)) if np.any(labels != UNASSIGNED) else labels.size
            out.append(np.ascontiguousarray(labels[first:], dtype=np.int64))
        return out

    @reading
    def li_positions(self, start: int = 0, stop: int | None = None) -> np.ndarray | None:
        """(frames, n_li, 3) float32 unwrapped Li positions (A) of committed frames ``start:stop``; NaN where not
        recorded; None for a store that recorded none."""
        if "li_positions" not in self._group:
            return None
        n = self.committed_frames
        stop = n if stop is None else min(stop, n)
        out = np.full((max(stop - start, 0), self.spec.n_li, 3), np.nan, dtype=np.float32)
        have = min(stop, self._group["li_positions"].shape[0])
        if have > start:
            out[: have - start] = self._group["li_positions"][start:have]
        return out

    @reading
    def counts(self) -> StoredCounts:
        """Stored cumulative counts: ``StoredCounts(counts, per_li_counts, frames)`` (a named tuple, so
        ``counts, per_li, frames = store.counts()`` works as well)."""
        arr = self._group["counts"]
        return StoredCounts(arr[...], self._group["per_li_counts"][...], int(arr.attrs["frames"]))

    @reading
    def tally(self) -> Tally | None:
        """Everything stored of the counter (counts, per Li, per block of time, the recent cored frames, events,
        the core probe, the Li transport); None for a store from before one of them was kept, or where it is not
        what the last commit wrote (``store.derived``)."""
        blocks = self.block_counts()  # (read first, each named in the error of a damaged chunk)
        return None if blocks is None else read_tally(self._group, self.spec, self._commit, self.committed_frames,
                                                      self.counts(), blocks)

    @reading
    def recent_states(self) -> np.ndarray | None:
        """The stored last core-assigned frames (where counting goes on); None for a store from before them."""
        return self._group["recent_states"][...] if "recent_states" in self._group else None

    @reading
    def derived_array(self, name: str) -> np.ndarray | None:
        """A derived array of the counter as stored (``block_events``, ``per_li_events``, ``probe_counts``,
        ``probe_recent_states``); None where the store lacks it."""
        return self._group[name][...] if name in self._group else None

    @reading
    def block_counts(self) -> tuple[np.ndarray, int] | None:
        """Stored counts per block of time and the block length in frames; None for a store made before
        they were kept (they are then rebuilt from ``states``)."""
        if "block_counts" not in self._group:
            return None
        arr = self._group["block_counts"]
        return arr[...], int(arr.attrs["block_frames"])

    @property
    def history(self) -> SnapshotLog:
        """The analysis snapshots (``snapshots`` reads them, ``add_snapshot`` appends one)."""
        return SnapshotLog(self._group, self._require_writer)

    @reading
    def snapshots(self) -> list[Snapshot]:
        """All analysis snapshots, oldest first."""
        return self.history.read()

    @reading
    def checkpoint(self) -> MDCheckpoint | None:
        """Positions, momenta, cell, numbers, pbc and step of the last committed frame, when stored."""
        return Checkpoint(self._group, self._require_writer, self._commit.get("checkpoint")).read()

    # ---------------------------------------------------------------- writing
    @property
    def writable(self) -> bool:
        """True while this handle holds the writer lock on the directory its path names, and no write of it has met
        a full disk (after which it writes nothing more: what fitted is committed, and the status says why)."""
        return (self.mode == "a" and not self._full and self._lock is not None and self._lock.still_names_it())

    def _require_writer(self) -> None:
        if not self.writable:
            raise StoreError(f"{self.path} is open read-only (or closed); open it with mode 'a' to write.")

    @property
    def pending_frames(self) -> int:
        return len(self._pending)

    def append(self, step: int, time_ps: float, labels: np.ndarray, log_likelihood: np.ndarray | None = None,
               positions: np.ndarray | None = None) -> None:
        """Buffer one frame (with the state model's log-likelihood of each Li environment and the unwrapped Li
        positions, when known); nothing is on disk until ``flush``."""
        self._pending.append(step, time_ps, labels, log_likelihood, positions)

    @writing
    def flush(self, tally: Tally, *, checkpoint: MDCheckpoint | None = None) -> int:
        """Write the buffered frames, then the counter's ``tally`` (covering them), then the checkpoint, then commit.

        Returns the new number of committed frames.
        """
        self._require_writer()
        n = int(self._group.attrs["committed_frames"])
        k = len(self._pending)
        if tally.frames != n + k:
            raise StoreError(f"The counts cover {tally.frames} frames, not the {n + k} being committed.")
        if k:
            self._write_rows(n)
        self._write_counts(tally)
        record = self._commit.get("checkpoint")
        if checkpoint is not None:
            record = Checkpoint(self._group, self._require_writer, record).write(checkpoint)
        self._write_commit(n + k, tally, record)
        self._pending.clear()
        return n + k

    def _write_commit(self, frames: int, tally: Tally | None, checkpoint: dict | None) -> None:
        """The commit: one write of the root metadata (atomic: zarr writes a file whole or not at all) that makes
        the rows below ``frames``, the derived data with this digest and this checkpoint slot what the store
        holds. Everything written before it and not named by it is ignored by readers and by a resume."""
        commit = {"frames": int(frames), "checkpoint": checkpoint}
        if tally is not None:
            commit["derived"] = tally_digest(tally)
        self._update_attrs({"committed_frames": int(frames), "commit": commit})

    def _update_attrs(self, values: dict) -> None:
        """One write of the root metadata. zarr changes its copy in memory before the write, so a write that fails
        (a full disk) is followed by a read of what the disk holds: the writer goes on from the last commit."""
        try:
            self._group.update_attributes(values)  # attrs.update would write once per key
        except BaseException:
            try:
                self._group = open_group(self.path, "r+")
                self._arrays.clear()
            except Exception:
                pass
            raise

    def _write_rows(self, n: int) -> None:
        """The buffered frames as rows ``n:n + k`` of ``frames``, ``states`` and ``log_likelihood``."""
        buffer, n_li = self._pending, self.spec.n_li
        k = len(buffer)
        rows = slice(n, n + k)
        for name, values in (("frames/step", buffer.steps), ("frames/time_ps", buffer.times)):
            arr = self._array(name)
            arr.resize((n + k,))
            arr[rows] = np.asarray(values)
        for name, values in (("step", buffer.steps), ("time_ps", buffer.times)):  # xarray's coordinates of a frame
            arr = self._array(name, lambda: create_frame_coordinate(self._group, name, n))
            arr.resize((n + k,))
            arr[rows] = np.asarray(values)
        states = self._array("states")
        states.resize((n + k, n_li))
        states[rows] = np.stack(buffer.states)
        position_rows = buffer.position_rows(n_li)
        if position_rows is not None:
            xyz = self._array("li_positions", lambda: create_positions_array(self._group, n_li, n))
            xyz.resize((n + k, n_li, 3))
            xyz[rows] = position_rows
        fit_rows = buffer.fit_rows(n_li)
        if fit_rows is not None:  # float16 ends at +-65504: a far-out environment is stored as that, not as -inf
            fit_rows = np.clip(fit_rows, -FLOAT16_MAX, FLOAT16_MAX)
            fit = self._array("log_likelihood", lambda: create_fit_array(self._group, n_li, n))
            # (made for a store from before the fit was kept: NaN before)
            fit.resize((n + k, n_li))
            fit[rows] = fit_rows

    @writing
    def save_checkpoint(self, data: MDCheckpoint) -> dict:
        """Write a checkpoint (positions, momenta, cell, numbers, pbc, step) into the free slot; returns the record
        that a commit (``commit_warmup``) makes it the checkpoint with."""
        return Checkpoint(self._group, self._require_writer, self._commit.get("checkpoint")).write(data)

    @writing
    def commit_warmup(self, frames: int, checkpoint: dict | None) -> None:
        """Commit ``frames`` warm-up frames and the checkpoint ``save_checkpoint`` wrote, in one metadata write."""
        self._require_writer()
        self._update_attrs({"warmup_frames": int(frames), "commit": {"frames": 0, "checkpoint": checkpoint}})

    @writing
    def add_snapshot(self, snapshot: Snapshot) -> None:
        """Append one analysis snapshot."""
        self.history.add(snapshot)

    @property
    def analysis(self) -> dict:
        """The analysis settings of the last writer (lag_ps, source, target, check_every_frames, criteria,
        stop_when_stable)."""
        return with_current_keys(self._attrs().get("analysis") or {})

    @writing
    def replace_snapshots(self, snapshots: list[Snapshot]) -> None:
        """Rewrite the whole snapshot history (repair only)."""
        self.history.replace(snapshots)

    @property
    def warmup(self) -> WarmupFrames:
        """The frames kept while a state model is trained in the run (see ``attach(state_model=None)``)."""
        return WarmupFrames(self._group, self._require_writer)

    @writing
    def begin(self, spec: RunSpec, state_model_config: dict, trained: dict, chunk_frames: int = 256) -> None:
        """Make a warm-up store a run store: the state model is trained, its spec known (``warmup.run_arrays``)."""
        self._require_writer()
        self._update_attrs(run_arrays(self._group, spec, state_model_config, trained, chunk_frames))
        self.spec, self.state_model_config = spec, state_model_config

    def stage_resume(self, temperature_K: float | None) -> None:
        """A writer resuming the store: refuse a temperature other than the recorded one now, and record the status
        "running" (and a temperature not recorded yet) with the first write, so that a resume refused before it
        writes anything leaves the store as it was."""
        self._require_writer()
        value, stored = rounded_temperature(temperature_K), self.temperature_K
        if value is not None and stored is not None and not np.isclose(value, stored, rtol=1e-9):
            raise StoreMismatchError(f"{self.path} holds a run at {stored:g} K; it cannot go on at {value:g} K. "
                                     f"Write the new temperature to a new store.")
        self.stage({"status": "running", "stop_reason": None}
                   | ({"temperature_K": value} if value is not None and stored is None else {}))

    def stage(self, values: dict) -> None:
        """Root metadata to write with this handle's next write (at once when it has written already)."""
        self._require_writer()
        if self.wrote:
            self._update_attrs(values)
        else:
            self._staged.update(values)

    @writing
    def set_status(self, status: str, stop_reason: str | None = None) -> None:
        self._require_writer()
        self._update_attrs({"status": status, "stop_reason": stop_reason})

    @writing
    def rewrite_counts(self, tally: Tally) -> None:
        """Replace the derived counts (after a rebuild from ``states`` of the committed frames) and commit them."""
        self._require_writer()
        if tally.frames != self.committed_frames:
            raise StoreError(f"The counts cover {tally.frames} frames, not the {self.committed_frames} committed.")
        self._write_counts(tally)
        self._write_commit(tally.frames, tally, self._commit.get("checkpoint"))

    def _write_counts(self, tally: Tally) -> None:
        write_tally(self._group, self.spec, tally, self._array)

    def _array(self, name: str, create: Callable[[], zarr.Array] | None = None) -> zarr.Array:
        """The writer's array ``name``, opened once (``create()`` makes it where a store from an older version
        lacks it)."""
        if name not in self._arrays:
            self._arrays[name] = self._group[name] if create is None or name in self._group else create()
        return self._arrays[name]
