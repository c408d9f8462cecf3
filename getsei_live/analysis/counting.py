"""Sliding-window transition counts at several lags at once, per Li atom and per block of time, from a ring buffer,
of core-assigned labels (the counts of a store's committed frames are read in ``getsei_live.store.counts``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..deprecation import renamed_parameters
from ..errors import ParameterError
from .coring import UNASSIGNED, CoreAssigner

__all__ = ["RunCounter", "Tally", "TransitionCounter"]



def label_frames(frames: np.ndarray, n_li: int, n_states: int, *, lowest: int) -> np.ndarray:
    """``frames`` as an (n_frames, n_li) array of labels in ``lowest..n_states - 1``, or a ParameterError."""
    frames = np.asarray(frames)
    if frames.ndim != 2 or frames.shape[1] != n_li:
        raise ParameterError(f"Expected labels of shape (n_frames, {n_li}). Got {frames.shape}.")
    if frames.size and (frames.min() < lowest or frames.max() >= n_states):
        unassigned = f" (or be {UNASSIGNED}: not assigned)" if lowest == UNASSIGNED else ""
        raise ParameterError(f"Labels must lie in 0..{n_states - 1}{unassigned}. Got values from {frames.min()} "
                             f"to {frames.max()}.")
    return frames


class TransitionCounter:
    """Count state transitions of every Li atom at several lags while frames arrive.

    Each Li atom is its own state trajectory. When frame t arrives, the pair
    (s_i(t - tau), s_i(t)) is counted for every Li atom i and every lag tau
    (in frames) that the history allows: sliding-window counts, as deeptime's
    ``TransitionCountEstimator(count_mode="sliding")`` makes them. Only the
    last ``max(lags_frames)`` frames are kept, so memory does not grow with the run.

    Counts are also kept per block of time (summed over Li; a transition
    belongs to the block of its later frame), so that intervals can resample
    blocks of time as well as Li atoms. Blocks start ``max(lags_frames)`` frames long;
    whenever ``max_blocks`` are full, neighbouring blocks merge in pairs and
    the block length doubles, so there are between ``max_blocks / 2`` and
    ``max_blocks`` blocks once the run is long enough, and memory stays bounded.

    Parameters
    ----------
    n_states : int
        Number of states; labels must lie in ``range(n_states)``.
    lags_frames : sequence of int
        Lags in frames, each >= 1.
    n_li : int
        Number of Li atoms (labels per frame).
    max_blocks : int, default 16
        Most blocks of time kept (even).
    count_from : int, default 0
        Frames before this one start no pair (equilibration): a pair is counted only when its earlier frame is at
        least ``count_from``.

    Labels may be ``UNASSIGNED`` (-1: a Li before its first core, see ``analysis.coring``); pairs with one are
    not counted.

    Attributes
    ----------
    n_frames : int
        Frames seen so far.
    block_frames : int
        Current length of a block of time, in frames.
    """

    @renamed_parameters(lags="lags_frames")
    def __init__(self, n_states: int, lags_frames: Sequence[int], n_li: int, max_blocks: int = 16, *,
                 count_from: int = 0) -> None:
        lags = tuple(int(lag) for lag in lags_frames)
        if not lags or min(lags) < 1 or len(set(lags)) != len(lags):
            raise ParameterError(f"The 'lags_frames' parameter must be distinct whole numbers of frames >= 1. "
                                 f"Got {lags!r}.")
        if int(n_states) < 1 or int(n_li) < 1:
            raise ParameterError(f"'n_states' and 'n_li' must be positive. Got {n_states!r} and {n_li!r}.")
        self.n_states = int(n_states)
        self.lags_frames = lags
        self.n_li = int(n_li)
        if int(max_blocks) < 2 or int(max_blocks) % 2:
            raise ParameterError(f"The 'max_blocks' parameter must be an even number >= 2. Got {max_blocks!r}.")
        self.n_frames = 0
        self.count_from = int(count_from)
        self.max_blocks = int(max_blocks)
        self.block_frames = min(lags)
        self._blocks = np.zeros((self.max_blocks, len(lags), self.n_states, self.n_states), dtype=np.int64)
        self._history = np.zeros((max(lags), self.n_li), dtype=np.int8)
        self._counts = np.zeros((len(lags), self.n_states, self.n_states), dtype=np.int64)
        self._per_li = np.zeros((self.n_li, len(lags), self.n_states, self.n_states), dtype=np.int64)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(n_states={self.n_states}, lags_frames={self.lags_frames}, "
                f"n_li={self.n_li}, n_frames={self.n_frames})")

    def counts(self) -> np.ndarray:
        """(n_lags, n_states, n_states) int64: counts summed over Li atoms (a copy)."""
        return self._counts.copy()

    def per_li_counts(self) -> np.ndarray:
        """(n_li, n_lags, n_states, n_states) int64: counts of each Li atom (a copy)."""
        return self._per_li.copy()

    def recent_frames(self) -> np.ndarray:
        """(min(n_frames, max(lags)), n_li) int8: the buffered frames, oldest first."""
        return self._history[max(0, self._history.shape[0] - self.n_frames):].copy()

    def tally(self) -> Tally:
        """What a store keeps of these counts (a copy), with the frames counted as the frames covered."""
        return Tally(self.n_frames, self.counts(), self.per_li_counts(), self.block_counts(), self.block_frames,
                     self.recent_frames())

    def block_counts(self) -> np.ndarray:
        """(n_blocks, n_lags, n_states, n_states) int64: counts of each block of time so far (a copy).

        The last block may be partly filled; blocks before the longest lag has
        passed hold fewer lags' counts.
        """
        return self._blocks[:-(-self.n_frames // self.block_frames)].copy()

    def _make_room(self, n_frames: int) -> None:
        """Merge neighbouring blocks in pairs until ``n_frames`` frames fit into ``max_blocks`` blocks."""
        while n_frames > self.max_blocks * self.block_frames:
            half = self.max_blocks // 2
            self._blocks[:half] = self._blocks[0::2] + self._blocks[1::2]
            self._blocks[half:] = 0
            self.block_frames *= 2

    def update(self, labels: np.ndarray) -> None:
        """Add one frame of labels, (n_li,) ints in ``range(n_states)``."""
        self.update_many(np.asarray(labels)[None, :])

    def update_many(self, frames: np.ndarray) -> None:
        """Add consecutive frames, (n_frames, n_li); the same as calling ``update`` on each row."""
        self._count(label_frames(frames, self.n_li, self.n_states, lowest=UNASSIGNED))

    def _count(self, frames: np.ndarray) -> None:
        """``update_many`` of frames already checked."""
        if frames.shape[0] == 0:
            return
        known = min(self.n_frames, self._history.shape[0])
        self._make_room(self.n_frames + frames.shape[0])
        joined = np.concatenate([self._history[self._history.shape[0] - known:], frames.astype(np.int8)])
        n, new = self.n_states, frames.shape[0]
        li = np.arange(self.n_li)
        for k, lag in enumerate(self.lags_frames):
            first_end = joined.shape[0] - lag
            if first_end <= 0:
                continue
            start = max(0, known - lag)  # the first pair whose later frame is new
            before = joined[start:first_end].astype(np.int64)
            after = joined[start + lag:].astype(np.int64)
            later = self.n_frames - known + start + lag + np.arange(before.shape[0])  # frame index of each row
            counted = (before >= 0) & (after >= 0) & (later - lag >= self.count_from)[:, None]
            pair = np.where(counted, before * n + after, -1)
            keep = pair.ravel() >= 0
            self._counts[k] += np.bincount(pair.ravel()[keep], minlength=n * n).reshape(n, n)
            block = np.repeat(later // self.block_frames, self.n_li)
            self._blocks[:, k] += np.bincount((block * (n * n) + pair.ravel())[keep],
                                              minlength=self.max_blocks * n * n).reshape(self.max_blocks, n, n)
            per_li = np.bincount((li[None, :] * (n * n) + pair).ravel()[keep], minlength=self.n_li * n * n)
            self._per_li[:, k] += per_li.reshape(self.n_li, n, n)
        keep = self._history.shape[0]
        tail = joined[-keep:]
        self._history[keep - tail.shape[0]:] = tail
        self.n_frames += new

    def restore(self, recent: np.ndarray, counts: np.ndarray, per_li_counts: np.ndarray, n_frames: int,
                block_counts: np.ndarray, block_frames: int) -> None:
        """Continue from saved state: the last frames (oldest first), the counts, the frame count and the
        counts per block of time with their block length."""
        recent = np.asarray(recent)
        expected = min(n_frames, self._history.shape[0])
        if recent.shape != (expected, self.n_li):
            raise ParameterError(f"Expected the last {expected} frames of {self.n_li} labels. Got {recent.shape}.")
        blocks = np.asarray(block_counts)
        if blocks.shape[0] > self.max_blocks or blocks.shape[1:] != self._blocks.shape[1:]:
            raise ParameterError(f"Expected at most {self.max_blocks} blocks of counts of shape "
                                 f"{self._blocks.shape[1:]}. Got {blocks.shape}.")
        self._counts[...] = counts
        self._per_li[...] = per_li_counts
        self.block_frames = int(block_frames)
        self._blocks[...] = 0
        self._blocks[:blocks.shape[0]] = blocks
        self._history[self._history.shape[0] - expected:] = recent
        self.n_frames = int(n_frames)


@dataclass(frozen=True, slots=True)
class Tally:
    """What a store keeps of its counter, derived from the raw labels of the ``frames`` it covers.

    Attributes
    ----------
    frames : int
        Raw frames covered.
    counts : (n_lags, n, n) int64 ndarray
    per_li_counts : (n_li, n_lags, n, n) int64 ndarray
    block_counts : (n_blocks, n_lags, n, n) int64 ndarray
    block_frames : int
    recent : (k, n_li) int8 ndarray
        The last cored frames (k = min(emitted, max(lags))), oldest first: where counting and coring go on.
    raw_changes, cored_changes : int
        Label changes between consecutive frames of all Li, before and after the coring.
    """

    frames: int
    counts: np.ndarray
    per_li_counts: np.ndarray
    block_counts: np.ndarray
    block_frames: int
    recent: np.ndarray
    raw_changes: int = 0
    cored_changes: int = 0


class RunCounter:
    """A run's counting: raw labels in, core assignment, then sliding-window counts of the cored labels.

    Parameters
    ----------
    n_states : int
    lags : sequence of int
        Lags in frames.
    n_li : int
    core_frames : int, default 1
        Frames a Li must stay in a new state before it counts as there (1: the raw labels).
    count_from : int, default 0
        Equilibration: frames before this one start no pair.

    Attributes
    ----------
    n_frames : int
        Raw frames seen (the cored ones run ``core_frames - 1`` behind).
    """

    @renamed_parameters(lags="lags_frames")
    def __init__(self, n_states: int, lags_frames: Sequence[int], n_li: int, *, core_frames: int = 1,
                 count_from: int = 0) -> None:
        self.cores = CoreAssigner(core_frames, n_li)
        self.transitions = TransitionCounter(n_states, lags_frames, n_li, count_from=count_from)
        self.n_states, self.lags_frames = self.transitions.n_states, self.transitions.lags_frames
        self.n_li = int(n_li)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(n_states={self.n_states}, lags_frames={self.lags_frames}, "
                f"n_li={self.n_li}, core_frames={self.cores.core_frames}, n_frames={self.n_frames})")

    @property
    def n_frames(self) -> int:
        return self.cores.n_seen

    @property
    def block_frames(self) -> int:
        return self.transitions.block_frames

    @property
    def removed_share(self) -> float | None:
        """Share of the raw label changes that the coring removed (None before any change)."""
        return self.cores.removed_share

    def update(self, labels: np.ndarray) -> None:
        """Add one frame of raw labels, (n_li,)."""
        self.update_many(np.asarray(labels)[None, :])

    def update_many(self, frames: np.ndarray) -> None:
        """Add consecutive frames of raw labels, (n_frames, n_li)."""
        # the cored labels of checked raw labels need no second check
        self.transitions._count(self.cores.push(label_frames(frames, self.n_li, self.n_states, lowest=0)))

    def counts(self) -> np.ndarray:
        return self.transitions.counts()

    def per_li_counts(self) -> np.ndarray:
        return self.transitions.per_li_counts()

    def block_counts(self) -> np.ndarray:
        return self.transitions.block_counts()

    def tally(self) -> Tally:
        """What the store keeps (a copy)."""
        return dataclasses.replace(self.transitions.tally(), frames=self.n_frames, raw_changes=self.cores.raw_changes,
                                   cored_changes=self.cores.cored_changes)

    def restore(self, tally: Tally, raw: np.ndarray) -> None:
        """Continue from a stored ``tally`` and the last ``cores.raw_rows_needed()`` raw frames it covers."""
        n_li = self.n_li
        emitted = max(0, tally.frames - self.cores.delay)
        recent = np.asarray(tally.recent)
        previous = recent[-1] if emitted else np.full(n_li, UNASSIGNED, dtype=np.int8)
        self.transitions.restore(recent, tally.counts, tally.per_li_counts, emitted, tally.block_counts,
                                 tally.block_frames)
        self.cores.restore(raw, previous, tally.frames, tally.raw_changes, tally.cored_changes)
