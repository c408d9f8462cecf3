"""The parts of a ``RunStore`` that each keep one thing: the frames waiting to be written, the snapshot history,
the checkpoint. ``RunStore`` holds the lock and decides the order in which they reach the disk."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import numpy as np
import zarr

from .analysis.records import Snapshot

__all__ = ["CHECKPOINT_FIELDS", "Checkpoint", "FrameBuffer", "SnapshotLog"]

#: What a checkpoint holds of the last committed frame (and its ``step``).
CHECKPOINT_FIELDS = ("positions", "momenta", "cell", "numbers", "pbc")


class FrameBuffer:
    """Labelled frames not yet written: steps, times, states and the state model's log-likelihoods."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.steps: list[int] = []
        self.times: list[float] = []
        self.states: list[np.ndarray] = []
        self.fit: list[np.ndarray | None] = []

    def __len__(self) -> int:
        return len(self.steps)

    def append(self, step: int, time_ps: float, labels: np.ndarray, log_likelihood: np.ndarray | None) -> None:
        self.steps.append(int(step))
        self.times.append(float(time_ps))
        self.states.append(np.asarray(labels, dtype=np.int8))
        self.fit.append(log_likelihood)

    def fit_rows(self, n_li: int) -> np.ndarray | None:
        """(frames, n_li) log-likelihoods, NaN where a frame had none; None when no frame had any."""
        if all(f is None for f in self.fit):
            return None
        return np.stack([np.full(n_li, np.nan) if f is None else f for f in self.fit])


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
        while n and not str(arr[n - 1]):  # an entry left empty by a killed writer is written over
            n -= 1
        if arr.shape[0] < n + 1:
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
    """Positions, momenta, cell, numbers and pbc of the last frame committed (``checkpoint/`` group), and its step:
    what the MD restarts from."""

    def __init__(self, group: zarr.Group, require_writer: Callable[[], None]) -> None:
        self._group, self._require_writer = group, require_writer

    def read(self) -> dict | None:
        if "checkpoint" not in self._group:
            return None
        g = self._group["checkpoint"]
        return {name: g[name][...] for name in CHECKPOINT_FIELDS} | {"step": int(g.attrs["step"])}

    def write(self, data: dict) -> None:
        self._require_writer()
        if "checkpoint" not in self._group:
            g = self._group.create_group("checkpoint")
            for name in CHECKPOINT_FIELDS:
                value = np.asarray(data[name])
                g.create_array(name, shape=value.shape, chunks=value.shape, dtype=value.dtype)
        g = self._group["checkpoint"]
        for name in CHECKPOINT_FIELDS:
            g[name][...] = np.asarray(data[name])
        g.attrs["step"] = int(data["step"])
