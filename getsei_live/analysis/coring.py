"""Core assignment: a Li keeps its state until it has stayed ``core_frames`` frames in a new one.

Per-frame labels of a Li environment flicker: on real AIMD of Li6PS5Cl they
change 4-6 times per Li per ps while the Li hop 0.2-0.25 times, and 43-45 % of
the changes revert within two frames. Counting them as transitions gives a
chain that is Markovian at no lag. Causal core assignment (milestoning;
PyEMMA's core sets, the last-visited-site rule of site-occupation analyses)
counts only changes that stick:

- a run of ``core_frames`` or more consecutive frames in one state is a *core*;
- the cored label of frame t is the state of the latest core that began at or
  before t, so a transition is dated when the Li entered the new state, and a
  Li stays unassigned (``UNASSIGNED``, never counted) until its first core.

Whether frame t starts or continues a core is known once frame
``t + core_frames - 1`` is seen: the cored labels run ``core_frames - 1``
frames behind the raw ones. The rule needs only the last ``2 core_frames - 2``
raw frames and the previous cored label, so it runs live, frame by frame, and
gives the same labels as on the whole trajectory at once.
``core_frames = 1`` is plain counting (the cored labels are the raw labels).
"""

from __future__ import annotations

import numpy as np

from ..errors import ParameterError
from ..units import frames_at_least

__all__ = ["CoreAssigner", "DEFAULT_CORE_PS", "UNASSIGNED", "core_frames_of", "core_labels"]

#: Default core length (ps): on the three Li6PS5Cl AIMD runs (500 K, frames 0.1 ps apart) 0.3 ps is the shortest
#: core that flattens the slowest implied timescale across lags 0.1-1.6 ps; 0.2 ps leaves it rising and 0.5 ps
#: already keeps fewer changes than the Li really hop (see the README, "Core assignment").
DEFAULT_CORE_PS = 0.3

#: The cored label of a Li before its first core; pairs with it are not counted.
UNASSIGNED = -1

_PAD = -2  # stands for "no frame" before the first one: equal to no label


def core_frames_of(core_ps: float, frame_dt_ps: float) -> int:
    """Frames a Li must stay in a new state, from ``core_ps``: rounded up to whole frames, at least 1
    (``core_ps=0`` is plain counting)."""
    return max(1, frames_at_least(core_ps, frame_dt_ps, "core_ps"))


class CoreAssigner:
    """Cored labels of a stream of raw label frames, ``core_frames - 1`` frames behind.

    Parameters
    ----------
    core_frames : int
        Consecutive frames in a new state before a Li is counted in it (1: the raw labels).
    n_li : int

    Attributes
    ----------
    n_seen : int
        Raw frames pushed so far.
    n_emitted : int
        Cored frames given out so far (``n_seen - core_frames + 1``, or 0).
    raw_changes, cored_changes : int
        Label changes between consecutive emitted frames (cored: between assigned labels), over all Li.
    """

    def __init__(self, core_frames: int, n_li: int) -> None:
        if isinstance(core_frames, bool) or not isinstance(core_frames, (int, np.integer)) or core_frames < 1:
            raise ParameterError.of("core_frames", f"must be a whole number of frames >= 1. "
                                 f"Got {core_frames!r} instead.")
        self.core_frames, self.n_li = int(core_frames), int(n_li)
        self.delay = self.core_frames - 1
        self._history = max(self.core_frames - 1, 1)  # emitted raw frames kept: ages and the last change
        self._raw = np.zeros((0, self.n_li), dtype=np.int8)
        self._previous = np.full(self.n_li, UNASSIGNED, dtype=np.int8)
        self.n_seen = 0
        self.raw_changes = 0
        self.cored_changes = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(core_frames={self.core_frames}, n_li={self.n_li}, n_seen={self.n_seen})"

    @property
    def n_emitted(self) -> int:
        return max(0, self.n_seen - self.delay)

    @property
    def removed_share(self) -> float | None:
        """Share of the raw label changes that the coring removed; None before any change."""
        return None if not self.raw_changes else 1.0 - self.cored_changes / self.raw_changes

    def raw_rows_needed(self, n_seen: int | None = None) -> int:
        """How many of the last raw frames ``restore`` needs after ``n_seen`` frames (default: those seen)."""
        return min(self.n_seen if n_seen is None else int(n_seen), self._history + self.delay)

    def push(self, frames: np.ndarray) -> np.ndarray:
        """Add raw frames (n_frames, n_li); returns the cored frames that became final, oldest first
        (UNASSIGNED for a Li before its first core)."""
        frames = np.asarray(frames, dtype=np.int8).reshape(-1, self.n_li)
        first = self.n_emitted  # absolute index of the first frame to emit
        joined = np.concatenate([self._raw, frames])
        offset = self.n_seen - self._raw.shape[0]  # absolute index of joined[0]
        self.n_seen += frames.shape[0]
        stop = self.n_emitted
        out = np.empty((stop - first, self.n_li), dtype=np.int8)
        if stop > first:
            c = self.core_frames
            padded = np.concatenate([np.full((c, self.n_li), _PAD, dtype=np.int8), joined])
            at = np.arange(first, stop) - offset + c  # rows of the frames to emit in ``padded``
            x = padded[at]
            behind = np.ones(x.shape, dtype=np.int32)  # frames of the run up to and including t (capped at c)
            same = np.ones(x.shape, dtype=bool)
            for j in range(1, c):
                same &= padded[at - j] == x
                behind += same
            ahead = np.zeros(x.shape, dtype=np.int32)  # frames of the run after t, up to the delay
            same[:] = True
            for j in range(1, self.delay + 1):
                same &= padded[at + j] == x
                ahead += same
            core = behind + ahead >= c
            rows = np.where(core, np.arange(out.shape[0])[:, None], -1)
            latest = np.maximum.accumulate(rows, axis=0)
            out[...] = np.where(latest >= 0, np.take_along_axis(x, np.maximum(latest, 0), axis=0),
                                self._previous[None, :])
            before_raw = padded[at - 1]
            self.raw_changes += int(np.sum((x != before_raw) & (before_raw != _PAD)))
            before = np.concatenate([self._previous[None, :], out[:-1]])
            self.cored_changes += int(np.sum((out != before) & (before != UNASSIGNED)))
            self._previous = out[-1].copy()
        self._raw = joined[max(0, joined.shape[0] - (self._history + self.delay)):]
        return out

    def restore(self, raw: np.ndarray, previous: np.ndarray, n_seen: int, raw_changes: int,
                cored_changes: int) -> None:
        """Continue after ``n_seen`` raw frames: their last ``raw_rows_needed()`` rows, oldest first, the last
        emitted cored frame (UNASSIGNED where none) and the change counts so far."""
        raw = np.asarray(raw, dtype=np.int8)
        need = self.raw_rows_needed(n_seen)
        if raw.shape != (need, self.n_li):
            raise ParameterError(f"Expected the last {need} raw frames of {self.n_li} labels. Got {raw.shape}.")
        self.n_seen = int(n_seen)
        self._raw = raw.copy()
        self._previous = np.asarray(previous, dtype=np.int8).reshape(self.n_li).copy()
        self.raw_changes, self.cored_changes = int(raw_changes), int(cored_changes)


def core_labels(raw: np.ndarray, core_frames: int) -> np.ndarray:
    """Cored labels of a whole trajectory of raw labels (n_frames, n_li): the first ``n_frames - core_frames + 1``
    frames (the later ones are not final yet), UNASSIGNED before each Li's first core.

    >>> core_labels(np.array([[0], [1], [0], [0], [1], [1], [1]]), 2).ravel().tolist()
    [-1, -1, 0, 0, 1, 1]
    """
    raw = np.asarray(raw)
    return CoreAssigner(core_frames, raw.shape[1]).push(raw)
