"""Do the Li move? Hops and displacements from the Li positions, beside the state changes the kinetics counts.

A state model labels Li *environments*. Whether a change of label is a Li
moving to another site, or the environment changing around a Li that stays
put, only the positions can say. On three real Li6PS5Cl AIMD runs the
core-assigned transitions of 2- and 6-state models did not follow the Li that
hop (per-Li Spearman correlation between hops and transitions -0.19 to 0.38),
although coring can match the hop *rate*. So every check reports, from the
positions of the frames it labelled:

- the Li's own mobility, as ``shared/tools/li_hops.py`` counts it: positions
  unwrapped frame to frame (minimum image), smoothed with a running mean over
  ``smooth_frames``, and a hop counted each time a Li's smoothed position ends
  more than ``hop_distance_A`` from where its last hop ended; with the mean
  squared displacement over the run;
- how far a Li moved over each state change of the core-assigned labels: the
  distance between where it sat when it entered the old state and when it
  entered the new one (each the mean position over the core that put it
  there), and the share of changes that moved it more than a site spacing.

``TransportTracker`` does it frame by frame in bounded memory (a few frames of
positions and a histogram of displacements), so that a live run and a replay of
its stored positions give the same numbers; ``Transport`` is what a check keeps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import spearmanr

from ..errors import ParameterError
from ._result import Result, strict_json
from .coring import UNASSIGNED

__all__ = ["HOP_DISTANCE_A", "SITE_SPACING_A", "SMOOTH_PS", "Transport", "TransportTally", "TransportTracker",
           "smooth_frames_of", "summarise", "transport_notes"]

#: Hop distance (A): ``li_hops.py``'s reference threshold (0.20-0.25 hops per Li per ps on the 500 K AIMD runs).
HOP_DISTANCE_A = 2.0

#: A state change that moved its Li further than this (A) moved it to another site: Li-Li and Li-vacancy distances
#: in thiophosphates and garnets are 1.6-2.6 A, vibrations at 300-700 K about 0.3 A.
SITE_SPACING_A = 1.5

#: Running-mean window (ps) that removes vibration before hops are counted (``li_hops.py``'s default).
SMOOTH_PS = 0.3

#: Below this share of state changes that move their Li a site spacing, the states describe environments.
MOVED_SHARE_NOTE = 0.5

#: Below this many hops per Li per ps the Li hardly move (an Arrhenius-active conductor at its temperature hops
#: 0.1-1 times per Li per ps).
HOPS_NOTE_PER_LI_PS = 0.05

_BIN_A = 0.01
_BINS = 2000  # displacements binned up to 20 A; one more bin holds everything further


@dataclass(frozen=True, slots=True)
class TransportTally:
    """The tracker's state, as a store keeps it (``TransportTracker.tally``/``restore``).

    Attributes
    ----------
    n_seen, n_emitted : int
        Frames of positions, and of core-assigned labels, taken so far.
    ring : (r, n_li, 3) ndarray
        The last unwrapped positions (A), oldest first.
    first, anchor, entry : (n_li, 3) ndarray
        The first unwrapped position, where each Li's last hop ended (NaN before the first smoothed frame), and
        where it sat when it entered its current state (NaN before its first core).
    hops, far : (n_li,) int64 ndarray
        Hops, and state changes that moved the Li more than the site spacing.
    previous : (n_li,) int8 ndarray
        The last core-assigned label (UNASSIGNED before the first core).
    histogram : (bins + 1,) int64 ndarray
        State changes by the distance their Li moved (0.01 A bins; the last holds all beyond 20 A).
    """

    n_seen: int
    n_emitted: int
    ring: np.ndarray
    first: np.ndarray
    anchor: np.ndarray
    entry: np.ndarray
    hops: np.ndarray
    far: np.ndarray
    previous: np.ndarray
    histogram: np.ndarray


@dataclass(frozen=True, slots=True)
class Transport(Result):
    """How the Li moved, from their positions, and how far they moved over the state changes.

    Attributes
    ----------
    span_ps : float
        Time the positions cover.
    hops_per_li_ps : float
        Hops per Li per ps (``li_hops.py``'s definition).
    never_hopped : float
        Share of the Li that never hopped.
    msd_A2 : float
        Mean squared displacement of the Li over ``span_ps`` (A^2).
    state_changes : int
        Changes of the core-assigned labels whose displacement was measured.
    median_displacement_A : float
        Median distance a Li moved over a state change (NaN without changes).
    moved_share : float
        Share of the state changes that moved their Li more than ``site_spacing_A``.
    hop_change_correlation : float
        Spearman correlation, over the Li, between each Li's hops and its state changes (NaN when either is
        the same for every Li): near 1 when the Li that hop are the Li that change state.
    hop_distance_A, site_spacing_A, smooth_ps : float
        The thresholds used.
    """

    span_ps: float
    hops_per_li_ps: float
    never_hopped: float
    msd_A2: float
    state_changes: int
    median_displacement_A: float
    moved_share: float
    hop_change_correlation: float
    hop_distance_A: float
    site_spacing_A: float
    smooth_ps: float

    def to_dict(self) -> dict:
        return strict_json({name: getattr(self, name) for name in self.__dataclass_fields__})

    @classmethod
    def from_dict(cls, data: dict) -> Transport:
        values = {name: data.get(name) for name in cls.__dataclass_fields__}
        return cls(**{k: (int(v) if k == "state_changes" else float("nan") if v is None else float(v))
                      for k, v in values.items()})


def smooth_frames_of(frame_dt_ps: float) -> int:
    """Frames of the ``SMOOTH_PS`` running mean at this frame spacing (at least 1), as ``li_hops.py`` rounds it."""
    return max(1, round(SMOOTH_PS / frame_dt_ps))


def transport_notes(transport: Transport | None) -> tuple[str, ...]:
    """What the positions say that the kinetics cannot, in words (empty when the states follow moving Li)."""
    if transport is None:
        return ()
    notes = []
    if transport.hops_per_li_ps < HOPS_NOTE_PER_LI_PS:
        notes.append(f"Li hardly move ({transport.hops_per_li_ps:.2g} hops per Li per ps, "
                     f"{100 * transport.never_hopped:.0f}% of the Li never moved {transport.hop_distance_A:g} A): "
                     f"nothing to resolve at this temperature")
    if transport.state_changes and transport.moved_share < MOVED_SHARE_NOTE:
        notes.append(f"state changes rarely move Li ({100 * transport.moved_share:.0f}% move it more than "
                     f"{transport.site_spacing_A:g} A): the states describe environments around Li that stay put")
    return tuple(notes)


def _minimum_image(steps: np.ndarray, cells: np.ndarray | None) -> np.ndarray:
    """(k, n, 3) displacements between consecutive frames, brought into the minimum image of each frame's cell."""
    if cells is None:
        return steps
    cells = np.asarray(cells, dtype=float)
    fractional = np.einsum("kij,kjl->kil", steps, np.linalg.inv(cells))
    return steps - np.einsum("kij,kjl->kil", np.round(fractional), cells)


class TransportTracker:
    """Li hops, squared displacement and the displacement over each state change, frame by frame.

    Parameters
    ----------
    n_li : int
    core_frames : int
        The core length of the labels it is given (their entry positions are means over the core).
    smooth_frames : int
        Running-mean window for the hops.
    frame_dt_ps : float
    count_from : int, default 0
        State changes dated before this frame (equilibration) are not measured, as they are not counted.
    hop_distance_A, site_spacing_A : float
    """

    def __init__(self, n_li: int, core_frames: int, smooth_frames: int, frame_dt_ps: float, *, count_from: int = 0,
                 hop_distance_A: float = HOP_DISTANCE_A, site_spacing_A: float = SITE_SPACING_A) -> None:
        if int(smooth_frames) < 1 or int(core_frames) < 1:
            raise ParameterError(f"'smooth_frames' and 'core_frames' must be >= 1. Got {smooth_frames!r} and "
                                 f"{core_frames!r}.")
        self.n_li, self.core_frames, self.smooth_frames = int(n_li), int(core_frames), int(smooth_frames)
        self.frame_dt_ps, self.count_from = float(frame_dt_ps), int(count_from)
        self.hop_distance_A, self.site_spacing_A = float(hop_distance_A), float(site_spacing_A)
        self._keep = max(self.core_frames, self.smooth_frames)
        nan = np.full((self.n_li, 3), np.nan)
        self.n_seen = self.n_emitted = 0
        self._ring = np.zeros((0, self.n_li, 3))
        self._first, self._anchor, self._entry = nan.copy(), nan.copy(), nan.copy()
        self._hops = np.zeros(self.n_li, dtype=np.int64)
        self._far = np.zeros(self.n_li, dtype=np.int64)
        self._previous = np.full(self.n_li, UNASSIGNED, dtype=np.int8)
        self._histogram = np.zeros(_BINS + 1, dtype=np.int64)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_li={self.n_li}, core_frames={self.core_frames}, n_seen={self.n_seen})"

    @property
    def hops(self) -> np.ndarray:
        """(n_li,) hops of each Li so far (a copy)."""
        return self._hops.copy()

    def push(self, positions: np.ndarray, cells: np.ndarray | None, cored: np.ndarray) -> np.ndarray:
        """Take the positions of new frames and the core-assigned labels that became final with them.

        Parameters
        ----------
        positions : (k, n_li, 3) ndarray
            Li positions (A), wrapped or not.
        cells : (k, 3, 3) ndarray or None
            Each frame's cell, for the minimum image; None for positions that are unwrapped already.
        cored : (m, n_li) ndarray
            The next core-assigned frames (``CoreAssigner.push`` of the same frames' labels).

        Returns
        -------
        (k, n_li, 3) float32 ndarray
            The unwrapped positions, rounded to float32 (what a store keeps: pushed again, they give the same
            numbers).
        """
        positions = np.asarray(positions, dtype=float).reshape(-1, self.n_li, 3)
        k = positions.shape[0]
        if k:
            start = positions[:1] if not self._ring.shape[0] else self._ring[-1:]
            steps = _minimum_image(np.diff(np.concatenate([start, positions]), axis=0),
                                   None if cells is None else np.asarray(cells).reshape(k, 3, 3))
            unwrapped = (start + np.cumsum(steps, axis=0)).astype(np.float32).astype(float)
        else:
            unwrapped = np.zeros((0, self.n_li, 3))
        joined = np.concatenate([self._ring, unwrapped])
        offset = self.n_seen - self._ring.shape[0]  # absolute frame of joined[0]
        if self.n_seen == 0 and k:
            self._first = unwrapped[0].copy()
        self._hop(joined, offset, self.n_seen + k)
        self.n_seen += k
        self._states(np.asarray(cored), joined, offset)
        self._ring = joined[max(0, joined.shape[0] - self._keep):]
        return unwrapped.astype(np.float32)

    def _hop(self, joined: np.ndarray, offset: int, seen: int) -> None:
        """Count hops on the smoothed positions that became complete (``li_hops.count_hops``, frame by frame)."""
        w = self.smooth_frames
        done = max(0, self.n_seen - w + 1)  # smoothed frames complete before these positions
        total = max(0, seen - w + 1)
        if total <= done:
            return
        sums = np.cumsum(np.concatenate([np.zeros((1, self.n_li, 3)), joined]), axis=0)
        for t in range(done, total):
            smooth = (sums[t - offset + w] - sums[t - offset]) / w
            if t == 0:
                self._anchor = smooth
                continue
            moved = np.linalg.norm(smooth - self._anchor, axis=1) > self.hop_distance_A
            self._hops += moved
            self._anchor[moved] = smooth[moved]

    def _states(self, cored: np.ndarray, joined: np.ndarray, offset: int) -> None:
        """Where each Li entered its state (the mean over its core), and how far each change moved it."""
        m, c = cored.shape[0], self.core_frames
        if not m:
            return
        sums = np.cumsum(np.concatenate([np.zeros((1, self.n_li, 3)), joined]), axis=0)
        for row in range(m):
            t = self.n_emitted + row
            labels = cored[row]
            entered = (labels != self._previous) & (labels != UNASSIGNED)
            if entered.any():
                at = (sums[t - offset + c] - sums[t - offset]) / c
                changed = entered & (self._previous != UNASSIGNED) & (t - 1 >= self.count_from)
                if changed.any():
                    d = np.linalg.norm(at[changed] - self._entry[changed], axis=1)
                    self._histogram += np.bincount(np.minimum((d / _BIN_A).astype(int), _BINS),
                                                   minlength=_BINS + 1)
                    self._far[changed] += d > self.site_spacing_A
                self._entry[entered] = at[entered]
            self._previous = labels.astype(np.int8)
        self.n_emitted += m

    def summary(self, per_li_changes: np.ndarray | None = None) -> Transport | None:
        """What a check reports (None before two frames); ``per_li_changes`` (n_li,): each Li's state changes,
        for the correlation with its hops."""
        return summarise([self.tally()], None if per_li_changes is None else [per_li_changes],
                         frame_dt_ps=self.frame_dt_ps, smooth_frames=self.smooth_frames,
                         hop_distance_A=self.hop_distance_A, site_spacing_A=self.site_spacing_A)

    def tally(self) -> TransportTally:
        """The state a store keeps (a copy)."""
        return TransportTally(self.n_seen, self.n_emitted, self._ring.copy(), self._first.copy(),
                              self._anchor.copy(), self._entry.copy(), self._hops.copy(), self._far.copy(),
                              self._previous.copy(), self._histogram.copy())

    def restore(self, tally: TransportTally) -> None:
        """Continue from a stored state."""
        if tally.first.shape != (self.n_li, 3) or tally.histogram.shape != self._histogram.shape:
            raise ParameterError(f"Expected the state of {self.n_li} Li. Got positions of shape {tally.first.shape}.")
        self.n_seen, self.n_emitted = int(tally.n_seen), int(tally.n_emitted)
        self._ring = np.asarray(tally.ring, dtype=float).reshape(-1, self.n_li, 3).copy()
        self._first, self._anchor, self._entry = (np.asarray(a, dtype=float).copy()
                                                  for a in (tally.first, tally.anchor, tally.entry))
        self._hops, self._far = (np.asarray(a, dtype=np.int64).copy() for a in (tally.hops, tally.far))
        self._previous = np.asarray(tally.previous, dtype=np.int8).copy()
        self._histogram = np.asarray(tally.histogram, dtype=np.int64).copy()


def summarise(tallies: Sequence[TransportTally], per_li_changes: Sequence[np.ndarray] | None, *, frame_dt_ps: float,
              smooth_frames: int, hop_distance_A: float = HOP_DISTANCE_A,
              site_spacing_A: float = SITE_SPACING_A) -> Transport | None:
    """The ``Transport`` of one run's tracker state, or of several runs pooled (their Li together: hops per Li per
    ps over every Li's own time, displacements from the summed histograms); None before two frames of each."""
    if not tallies or any(t.n_seen < 2 for t in tallies):
        return None
    spans = np.array([(t.n_seen - 1) * frame_dt_ps for t in tallies])
    hops = np.concatenate([t.hops for t in tallies])
    li_ps = sum(t.hops.size * span for t, span in zip(tallies, spans))
    histogram = np.sum([t.histogram for t in tallies], axis=0)
    changes = int(histogram.sum())
    far = int(sum(t.far.sum() for t in tallies))
    squared = np.concatenate([np.sum((t.ring[-1] - t.first) ** 2, axis=1) for t in tallies])
    correlation = float("nan")
    if per_li_changes is not None:
        per_li = np.concatenate(per_li_changes)
        if np.ptp(per_li) > 0 and np.ptp(hops) > 0:
            correlation = float(spearmanr(hops, per_li).statistic)
    return Transport(span_ps=float(spans.max()), hops_per_li_ps=float(hops.sum() / li_ps),
                     never_hopped=float(np.mean(hops == 0)), msd_A2=float(squared.mean()), state_changes=changes,
                     median_displacement_A=_median(histogram),
                     moved_share=far / changes if changes else float("nan"), hop_change_correlation=correlation,
                     hop_distance_A=hop_distance_A, site_spacing_A=site_spacing_A,
                     smooth_ps=smooth_frames * frame_dt_ps)


def _median(histogram: np.ndarray) -> float:
    """The median distance (A) of a histogram of 0.01 A bins (the middle of the bin that holds it)."""
    total = histogram.sum()
    if not total:
        return float("nan")
    k = int(np.searchsorted(np.cumsum(histogram), total / 2))
    return (k + 0.5) * _BIN_A
