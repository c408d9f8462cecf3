"""The parts of a ``RunStore`` that each keep one thing: the frames waiting to be written, the snapshot history,
the checkpoint. ``RunStore`` holds the lock and decides the order in which they reach the disk."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import zarr

from ..analysis.records import Snapshot
from .layout import DIMENSIONS

__all__ = ["CHECKPOINT_FIELDS", "Checkpoint", "FrameBuffer", "MDCheckpoint", "SnapshotLog", "tally_digest",
           "transport_arrays", "transport_tally"]

#: The per-Li arrays of a ``TransportTally``, stored side by side as the columns of one array (fewer writes).
_PER_LI = (("first", 3), ("anchor", 3), ("entry", 3), ("hops", 1), ("far", 1), ("previous", 1))


def transport_arrays(tally) -> dict[str, np.ndarray]:
    """A ``TransportTally`` as the three arrays a store keeps: ``ring``, ``li`` (n_li, 12) and ``histogram``."""
    li = np.concatenate([np.asarray(getattr(tally, name), dtype=float).reshape(-1, width)
                         for name, width in _PER_LI], axis=1)
    return {"ring": np.asarray(tally.ring, dtype=float), "li": li,
            "histogram": np.asarray(tally.histogram, dtype=np.int64)}


def transport_tally(arrays: dict[str, np.ndarray], n_seen: int, n_emitted: int):
    """The ``TransportTally`` of the arrays ``transport_arrays`` made."""
    from ..analysis.transport import TransportTally

    li, columns, start = arrays["li"], {}, 0
    for name, width in _PER_LI:
        block = li[:, start:start + width]
        columns[name] = block if width == 3 else block[:, 0].astype(np.int8 if name == "previous" else np.int64)
        start += width
    return TransportTally(int(n_seen), int(n_emitted), arrays["ring"], histogram=arrays["histogram"], **columns)

#: What a checkpoint holds of the last committed frame (and its ``step``).
CHECKPOINT_FIELDS = ("positions", "momenta", "cell", "numbers", "pbc")


@dataclass(frozen=True, eq=False)
class MDCheckpoint:
    """A committed frame the MD restarts from: what ``RunStore.checkpoint`` returns and ``flush`` writes.

    Attributes
    ----------
    positions, momenta : (n_atoms, 3) ndarray
        In A and ASE's momentum unit.
    cell : (3, 3) ndarray
    numbers : (n_atoms,) ndarray of int
    pbc : (3,) ndarray of bool
    step : int
        The absolute MD step of the frame.
    """

    positions: np.ndarray
    momenta: np.ndarray
    cell: np.ndarray
    numbers: np.ndarray
    pbc: np.ndarray
    step: int


class FrameBuffer:
    """Labelled frames not yet written: steps, times, states, the state model's log-likelihoods and the unwrapped
    Li positions."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.steps: list[int] = []
        self.times: list[float] = []
        self.states: list[np.ndarray] = []
        self.fit: list[np.ndarray | None] = []
        self.positions: list[np.ndarray | None] = []

    def __len__(self) -> int:
        return len(self.steps)

    def append(self, step: int, time_ps: float, labels: np.ndarray, log_likelihood: np.ndarray | None,
               positions: np.ndarray | None = None) -> None:
        self.steps.append(int(step))
        self.times.append(float(time_ps))
        self.states.append(np.asarray(labels, dtype=np.int8))
        self.fit.append(log_likelihood)
        self.positions.append(positions)

    def fit_rows(self, n_li: int) -> np.ndarray | None:
        """(frames, n_li) log-likelihoods, NaN where a frame had none; None when no frame had any."""
        return _rows(self.fit, (n_li,))

    def position_rows(self, n_li: int) -> np.ndarray | None:
        """(frames, n_li, 3) unwrapped Li positions, NaN where a frame had none; None when no frame had any."""
        return _rows(self.positions, (n_li, 3))


def _rows(values: list[np.ndarray | None], shape: tuple[int, ...]) -> np.ndarray | None:
    if all(v is None for v in values):
        return None
    return np.stack([np.full(shape, np.nan) if v is None else v for v in values])


class SnapshotLog:
    """The analysis snapshots of a run, oldest first, one JSON string each (``snapshots`` array)."""

    def __init__(self, group: zarr.Group, require_writer: Callable[[], None]) -> None:
        self._group, self._require_writer = group, require_writer

    def _written(self) -> list[str]:
        """The stored strings without the empty ones at the end: a writer killed between growing the array and
        writing the new entry leaves the fill value "" there, which is no snapshot."""
        arr = self._group["snapshots"]
        values = [str(s) for s in arr[:]] if arr.shape[0] else []
        while values and not values[-1]:
            values.pop()
        return values

    def read(self) -> list[Snapshot]:
        return [Snapshot.from_dict(json.loads(s)) for s in self._written()]

    def add(self, snapshot: Snapshot) -> None:
        self._require_writer()
        arr = self._group["snapshots"]
        n = arr.shape[0]
        frame = snapshot.frame or 0
        # written over: an entry left empty by a killed writer, and entries of frames not before this one (checks
        # of frames that were not committed after all, e.g. a store whose committed frames were set back)
        while n and (not (last := str(arr[n - 1])) or (json.loads(last).get("frame") or 0) >= frame):
            n -= 1
        if arr.shape[0] != n + 1:
            arr.resize((n + 1,))
        arr[n] = _encoded(snapshot)

    def replace(self, snapshots: Sequence[Snapshot]) -> None:
        """Rewrite the whole history (repair only)."""
        self._require_writer()
        arr = self._group["snapshots"]
        arr.resize((len(snapshots),))
        for k, snap in enumerate(snapshots):
            arr[k] = _encoded(snap)


def _encoded(snapshot: Snapshot) -> str:
    return json.dumps(Snapshot.from_dict(snapshot).to_dict(), allow_nan=False)


class Checkpoint:
    """Positions, momenta, cell, numbers and pbc of the last frame committed, and its step: what the MD restarts
    from.

    Two slots (``checkpoints/0``, ``checkpoints/1``): a new checkpoint goes into the slot the commit record does not
    name, and becomes the checkpoint only when the commit that names it is written, so a writer killed while
    writing one leaves the committed checkpoint whole. (Stores from before the slots keep one ``checkpoint/``.)
    """

    def __init__(self, group: zarr.Group, require_writer: Callable[[], None], record: dict | None) -> None:
        self._group, self._require_writer, self._record = group, require_writer, record

    def read(self) -> MDCheckpoint | None:
        if self._record is not None:
            g = self._group[f"checkpoints/{self._record['slot']}"]
        elif "checkpoint" in self._group:  # a store from before the slots
            g = self._group["checkpoint"]
        else:
            return None
        return MDCheckpoint(**{name: g[name][...] for name in CHECKPOINT_FIELDS}, step=int(g.attrs["step"]))

    def write(self, data: MDCheckpoint) -> dict:
        """Write ``data`` into the free slot; returns the record that the commit makes it the checkpoint with."""
        self._require_writer()
        slot = "1" if self._record is not None and self._record["slot"] == "0" else "0"
        name = f"checkpoints/{slot}"
        values = {field: np.asarray(getattr(data, field)) for field in CHECKPOINT_FIELDS}
        if name in self._group and any(self._group[f"{name}/{f}"].shape != v.shape for f, v in values.items()):
            del self._group[name]  # another structure (a warm-up frame of other size cannot be, but be sure)
        if name not in self._group:
            g = self._group.require_group("checkpoints").create_group(slot)
            for field, value in values.items():
                g.create_array(field, shape=value.shape, chunks=value.shape, dtype=value.dtype,
                               dimension_names=DIMENSIONS[f"checkpoint/{field}"])
        g = self._group[name]
        for field, value in values.items():
            g[field][...] = value
        g.attrs["step"] = int(data.step)
        return {"slot": slot, "step": int(data.step)}


def tally_digest(tally) -> str:
    """SHA-256 of everything a store keeps of its counter (``counting.Tally``): the commit record holds the digest
    of the tally it commits, so that counts half rewritten by a killed writer are never trusted."""
    h = hashlib.sha256()
    probe = tally.probe
    arrays = [(tally.counts, np.int64), (tally.per_li_counts, np.int64), (tally.block_counts, np.int64),
              (tally.recent, np.int8), (tally.block_events, np.int64), (tally.per_li_events, np.int64)]
    if probe is not None:
        arrays += [(probe.counts, np.int64), (probe.recent, np.int8)]
    moved = tally.transport
    if moved is not None:
        arrays += [(values, values.dtype) for values in transport_arrays(moved).values()]
    for values, dtype in arrays:
        values = np.ascontiguousarray(np.zeros(0) if values is None else values, dtype=dtype)
        h.update(repr(values.shape).encode())
        h.update(values.tobytes())
    scalars = [int(tally.frames), int(tally.block_frames), int(tally.raw_changes), int(tally.cored_changes)]
    if probe is not None:
        scalars += [int(probe.core_frames), int(probe.raw_changes), int(probe.cored_changes)]
    if moved is not None:
        scalars += [int(moved.n_seen), int(moved.n_emitted)]
    h.update(json.dumps(scalars).encode())
    return h.hexdigest()
