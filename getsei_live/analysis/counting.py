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
from .transport import TransportTally, TransportTracker

__all__ = ["ProbeTally", "RunCounter", "Tally", "TransitionCounter", "probe_core_frames"]



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
    detail : bool, default True
        Keep the counts of each Li atom, of each block of time and the events too; False keeps only the total
        counts (the core probe of ``RunCounter``, which is compared at the analysis lag alone).

    Besides the sliding-window pairs it counts *events*: changes of label between consecutive frames, each once
    (``block_events``, ``per_li_events``). The sliding pairs are the estimator's input; a threshold that speaks of
    transitions counts events, because each change of state appears in about lag / frame interval sliding pairs.

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
                 count_from: int = 0, detail: bool = True) -> None:
        lags = tuple(int(lag) for lag in lags_frames)
        if not lags or min(lags) < 1 or len(set(lags)) != len(lags):
            raise ParameterError.of("lags_frames", f"must be distinct whole numbers of frames >= 1. "
                                 f"Got {lags!r}.")
        if int(n_states) < 1 or int(n_li) < 1:
            raise ParameterError(f"'n_states' and 'n_li' must be positive. Got {n_states!r} and {n_li!r}.")
        self.n_states = int(n_states)
        self.lags_frames = lags
        self.n_li = int(n_li)
        if int(max_blocks) < 2 or int(max_blocks) % 2:
            raise ParameterError.of("max_blocks", f"must be an even number >= 2. Got {max_blocks!r}.")
        self.n_frames = 0
        self.count_from = int(count_from)
        self.max_blocks = int(max_blocks)
        self.block_frames = min(lags)
        self.detail = bool(detail)
        kept = self.max_blocks if detail else 0
        self._blocks = np.zeros((kept, len(lags), self.n_states, self.n_states), dtype=np.int64)
        self._block_events = np.zeros((kept, self.n_states, self.n_states), dtype=np.int64)
        self._history = np.zeros((max(lags), self.n_li), dtype=np.int8)
        self._counts = np.zeros((len(lags), self.n_states, self.n_states), dtype=np.int64)
        self._per_li = np.zeros((self.n_li if detail else 0, len(lags), self.n_states, self.n_states), dtype=np.int64)
        self._per_li_events = np.zeros(self.n_li if detail else 0, dtype=np.int64)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(n_states={self.n_states}, lags_frames={self.lags_frames}, "
                f"n_li={self.n_li}, n_frames={self.n_frames})")

    def counts(self) -> np.ndarray:
        """(n_lags, n_states, n_states) int64: counts summed over Li atoms (a copy)."""
        return self._counts.copy()

    def per_li_counts(self) -> np.ndarray:
        """(n_li, n_lags, n_states, n_states) int64: counts of each Li atom (a copy)."""
        return self._per_li.copy()

    def block_events(self) -> np.ndarray:
        """(n_blocks, n_states, n_states) int64: label changes i -> j between consecutive frames in each block of
        time (a change belongs to the block of its later frame), each change once (a copy)."""
        return self._block_events[:-(-self.n_frames // self.block_frames)].copy()

    def events(self) -> np.ndarray:
        """(n_states, n_states) int64: every label change i -> j between consecutive frames, each once."""
        return self._block_events.sum(axis=0)

    def per_li_events(self) -> np.ndarray:
        """(n_li,) int64: label changes of each Li atom (a copy)."""
        return self._per_li_events.copy()

    def recent_frames(self) -> np.ndarray:
        """(min(n_frames, max(lags)), n_li) int8: the buffered frames, oldest first."""
        return self._history[max(0, self._history.shape[0] - self.n_frames):].copy()

    def tally(self) -> Tally:
        """What a store keeps of these counts (a copy), with the frames counted as the frames covered."""
        return Tally(self.n_frames, self.counts(), self.per_li_counts(), self.block_counts(), self.block_frames,
                     self.recent_frames(), block_events=self.block_events(), per_li_events=self.per_li_events())

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
            for blocks in (self._blocks, self._block_events):
                blocks[:half] = blocks[0::2] + blocks[1::2]
                blocks[half:] = 0
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
            pairs = self._pairs(joined, known, lag)
            if pairs is None:
                continue
            pair, later, keep = pairs
            self._counts[k] += np.bincount(pair.ravel()[keep], minlength=n * n).reshape(n, n)
            if not self.detail:
                continue
            block = np.repeat(later // self.block_frames, self.n_li)
            self._blocks[:, k] += np.bincount((block * (n * n) + pair.ravel())[keep],
                                              minlength=self.max_blocks * n * n).reshape(self.max_blocks, n, n)
            per_li = np.bincount((li[None, :] * (n * n) + pair).ravel()[keep], minlength=self.n_li * n * n)
            self._per_li[:, k] += per_li.reshape(self.n_li, n, n)
        pairs = self._pairs(joined, known, 1) if self.detail else None
        if pairs is not None:  # events: consecutive frames whose labels differ
            pair, later, keep = pairs
            keep &= pair.ravel() % (n + 1) != 0  # i * n + i: no change
            block = np.repeat(later // self.block_frames, self.n_li)
            self._block_events += np.bincount((block * (n * n) + pair.ravel())[keep],
                                              minlength=self.max_blocks * n * n).reshape(self.max_blocks, n, n)
            self._per_li_events += np.bincount(np.tile(li, pair.shape[0])[keep], minlength=self.n_li)
        keep = self._history.shape[0]
        tail = joined[-keep:]
        self._history[keep - tail.shape[0]:] = tail
        self.n_frames += new

    def _pairs(self, joined: np.ndarray, known: int, lag: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The pairs at ``lag`` whose later frame is new, among ``joined`` (``known`` buffered frames, then the new
        ones): each pair as ``before * n + after`` (-1 where not counted), the frame index of each row's later
        frame, and which flat entries count; None when there is none."""
        first_end = joined.shape[0] - lag
        if first_end <= 0:
            return None
        start = max(0, known - lag)  # the first pair whose later frame is new
        before = joined[start:first_end].astype(np.int64)
        after = joined[start + lag:].astype(np.int64)
        later = self.n_frames - known + start + lag + np.arange(before.shape[0])  # frame index of each row
        counted = (before >= 0) & (after >= 0) & (later - lag >= self.count_from)[:, None]
        pair = np.where(counted, before * self.n_states + after, -1)
        return pair, later, pair.ravel() >= 0

    def restore(self, recent: np.ndarray, counts: np.ndarray, per_li_counts: np.ndarray, n_frames: int,
                block_counts: np.ndarray, block_frames: int, *, block_events: np.ndarray | None = None,
                per_li_events: np.ndarray | None = None) -> None:
        """Continue from saved state: the last frames (oldest first), the counts, the frame count and the
        counts per block of time with their block length (and the events per block of time and per Li)."""
        recent = np.asarray(recent)
        expected = min(n_frames, self._history.shape[0])
        if recent.shape != (expected, self.n_li):
            raise ParameterError(f"Expected the last {expected} frames of {self.n_li} labels. Got {recent.shape}.")
        blocks = np.asarray(block_counts)
        if blocks.shape[0] > self._blocks.shape[0] or blocks.shape[1:] != self._blocks.shape[1:]:
            raise ParameterError(f"Expected at most {self._blocks.shape[0]} blocks of counts of shape "
                                 f"{self._blocks.shape[1:]}. Got {blocks.shape}.")
        events = np.zeros((blocks.shape[0], *self._block_events.shape[1:]), dtype=np.int64) \
            if block_events is None else np.asarray(block_events)
        if events.shape[0] != blocks.shape[0] or events.shape[1:] != self._block_events.shape[1:]:
            raise ParameterError(f"Expected events of {blocks.shape[0]} blocks of time. Got {events.shape}.")
        self._counts[...] = counts
        self._per_li[...] = per_li_counts
        self._per_li_events[...] = 0 if per_li_events is None else per_li_events
        self.block_frames = int(block_frames)
        self._blocks[...] = 0
        self._blocks[:blocks.shape[0]] = blocks
        self._block_events[...] = 0
        self._block_events[:events.shape[0]] = events
        self._history[self._history.shape[0] - expected:] = recent
        self.n_frames = int(n_frames)


@dataclass(frozen=True, slots=True)
class ProbeTally:
    """What a store keeps of the core probe (``RunCounter.probe``): the counts of the raw labels cored with
    ``core_frames`` (twice the run's core), for the core test of ``analysis.metastability``.

    Attributes
    ----------
    core_frames : int
    counts : (n_lags, n, n) int64 ndarray
    recent : (k, n_li) int8 ndarray
        The probe's last cored frames, oldest first.
    raw_changes, cored_changes : int
        Label changes before and after this coring.
    """

    core_frames: int
    counts: np.ndarray
    recent: np.ndarray
    raw_changes: int = 0
    cored_changes: int = 0


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
    block_events : (n_blocks, n, n) int64 ndarray or None
        Changes of the cored labels i -> j in each block of time, each change once (None: not kept).
    per_li_events : (n_li,) int64 ndarray or None
        Changes of the cored labels of each Li.
    probe : ProbeTally or None
        The counts at twice the core length (None without core assignment).
    transport : TransportTally or None
        The Li hops and displacements from the positions (None where positions were not given).
    """

    frames: int
    counts: np.ndarray
    per_li_counts: np.ndarray
    block_counts: np.ndarray
    block_frames: int
    recent: np.ndarray
    raw_changes: int = 0
    cored_changes: int = 0
    block_events: np.ndarray | None = None
    per_li_events: np.ndarray | None = None
    probe: ProbeTally | None = None
    transport: TransportTally | None = None


def probe_core_frames(core_frames: int) -> int | None:
    """The core length (frames) of the core probe of a run cored with ``core_frames``: twice it, or None without
    core assignment (``core_frames`` 1), where no answer can depend on a core length."""
    return 2 * int(core_frames) if int(core_frames) > 1 else None


class RunCounter:
    """A run's counting: raw labels in, core assignment, then sliding-window counts of the cored labels.

    With core assignment the same raw labels are also cored with twice the core length and counted (totals
    only): the *core probe*, whose slow timescales must agree with the run's for its states to be metastable
    (``analysis.metastability``).

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
    probe : bool, default True
        Keep the core probe (``probe_core_frames``).
    transport : TransportTracker, optional
        Follows the Li positions given with the labels (``update_many(frames, positions)``); it is dropped, and
        the run reports no transport, once a frame comes without positions.

    Attributes
    ----------
    n_frames : int
        Raw frames seen (the cored ones run ``core_frames - 1`` behind).
    probe : tuple of (CoreAssigner, TransitionCounter) or None
    transport : TransportTracker or None
    """

    @renamed_parameters(lags="lags_frames")
    def __init__(self, n_states: int, lags_frames: Sequence[int], n_li: int, *, core_frames: int = 1,
                 count_from: int = 0, probe: bool = True, transport: TransportTracker | None = None) -> None:
        self.cores = CoreAssigner(core_frames, n_li)
        self.transitions = TransitionCounter(n_states, lags_frames, n_li, count_from=count_from)
        self.n_states, self.lags_frames = self.transitions.n_states, self.transitions.lags_frames
        self.n_li = int(n_li)
        doubled = probe_core_frames(core_frames) if probe else None
        self.probe = None if doubled is None else (
            CoreAssigner(doubled, n_li),
            TransitionCounter(n_states, lags_frames, n_li, count_from=count_from, detail=False))
        self.transport = transport

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

    def raw_rows_needed(self, n_seen: int | None = None) -> int:
        """How many of the last raw frames ``restore`` needs after ``n_seen`` frames (default: those seen)."""
        assigners = [self.cores] + ([self.probe[0]] if self.probe is not None else [])
        return max(a.raw_rows_needed(n_seen) for a in assigners)

    def update(self, labels: np.ndarray, positions: np.ndarray | None = None,
               cell: np.ndarray | None = None) -> np.ndarray | None:
        """Add one frame of raw labels, (n_li,), with the Li positions (n_li, 3) and the cell (3, 3)."""
        return self.update_many(np.asarray(labels)[None, :], None if positions is None else np.asarray(positions)[None],
                                None if cell is None else np.asarray(cell)[None])

    def update_many(self, frames: np.ndarray, positions: np.ndarray | None = None,
                    cells: np.ndarray | None = None) -> np.ndarray | None:
        """Add consecutive frames of raw labels, (n_frames, n_li), with the Li positions (n_frames, n_li, 3) in A
        and the cells (n_frames, 3, 3) for the minimum image (None: positions unwrapped already).

        Returns the unwrapped positions as float32, what a store keeps (None without positions, or once a frame
        came without them)."""
        frames = label_frames(frames, self.n_li, self.n_states, lowest=0)
        cored = self.cores.push(frames)  # the cored labels of checked raw labels need no second check
        self.transitions._count(cored)
        if self.probe is not None:
            cores, counter = self.probe
            counter._count(cores.push(frames))
        if self.transport is None or not frames.shape[0]:
            return None
        if positions is None or not np.isfinite(positions).all():
            self.transport = None  # a gap in the positions: no transport for this run from here on
            return None
        return self.transport.push(positions, cells, cored)

    def counts(self) -> np.ndarray:
        return self.transitions.counts()

    def per_li_counts(self) -> np.ndarray:
        return self.transitions.per_li_counts()

    def block_counts(self) -> np.ndarray:
        return self.transitions.block_counts()

    def events(self) -> np.ndarray:
        """(n, n) changes of the cored labels i -> j, each once."""
        return self.transitions.events()

    def probe_counts(self) -> np.ndarray | None:
        """(n_lags, n, n) counts of the labels cored with twice the core length; None without a probe."""
        return None if self.probe is None else self.probe[1].counts()

    def tally(self) -> Tally:
        """What the store keeps (a copy)."""
        probe = None
        if self.probe is not None:
            cores, counter = self.probe
            probe = ProbeTally(cores.core_frames, counter.counts(), counter.recent_frames(), cores.raw_changes,
                               cores.cored_changes)
        return dataclasses.replace(self.transitions.tally(), frames=self.n_frames, raw_changes=self.cores.raw_changes,
                                   cored_changes=self.cores.cored_changes, probe=probe,
                                   transport=None if self.transport is None else self.transport.tally())

    def restore(self, tally: Tally, raw: np.ndarray) -> None:
        """Continue from a stored ``tally`` and the last ``raw_rows_needed()`` raw frames it covers."""
        raw = np.asarray(raw)
        n_li = self.n_li
        restored = [(self.cores, self.transitions, tally.recent, tally.raw_changes, tally.cored_changes)]
        if self.probe is not None:
            probe = tally.probe
            if probe is None or probe.core_frames != self.probe[0].core_frames:
                raise ParameterError(f"The tally holds no core probe of {self.probe[0].core_frames} frames.")
            restored.append((*self.probe, probe.recent, probe.raw_changes, probe.cored_changes))
        for cores, counter, recent, raw_changes, cored_changes in restored:
            emitted = max(0, tally.frames - cores.delay)
            recent = np.asarray(recent)
            previous = recent[-1] if emitted else np.full(n_li, UNASSIGNED, dtype=np.int8)
            if counter is self.transitions:
                counter.restore(recent, tally.counts, tally.per_li_counts, emitted, tally.block_counts,
                                tally.block_frames, block_events=tally.block_events,
                                per_li_events=tally.per_li_events)
            else:
                counter.restore(recent, tally.probe.counts, np.zeros((0, *tally.counts.shape), dtype=np.int64),
                                emitted, np.zeros((0, *tally.counts.shape), dtype=np.int64), tally.block_frames)
            need = cores.raw_rows_needed(tally.frames)
            cores.restore(raw[raw.shape[0] - need:], previous, tally.frames, raw_changes, cored_changes)
        if self.transport is not None:
            if tally.transport is None or tally.transport.n_seen != tally.frames:
                self.transport = None  # the positions were not followed throughout
            else:
                self.transport.restore(tally.transport)
