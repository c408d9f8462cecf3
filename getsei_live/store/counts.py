"""The counts of a store's committed frames: restored from what the last commit wrote, or recounted from ``states``."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from ..analysis.counting import RunCounter
from ..analysis.transport import TransportTracker, smooth_frames_of
from ..errors import StoreError

if TYPE_CHECKING:
    from .run_store import RunStore
    from .spec import RunSpec

__all__ = ["committed_counter", "counter_for", "recount"]

log = logging.getLogger(__name__)


def counter_for(spec: RunSpec) -> RunCounter:
    """An empty counter that counts as ``spec`` says (states, lags, Li atoms, core length, equilibration), and
    follows the Li positions given with the labels."""
    tracker = TransportTracker(spec.n_li, spec.core_frames, smooth_frames_of(spec.frame_dt_ps), spec.frame_dt_ps,
                               count_from=spec.equilibrate_frames)
    return RunCounter(spec.n_states, spec.lags_frames, spec.n_li, core_frames=spec.core_frames,
                      count_from=spec.equilibrate_frames, transport=tracker)


def recount(store: RunStore, n: int, spec: RunSpec | None = None) -> RunCounter:
    """A counter fed the first ``n`` committed frames of ``states`` and ``li_positions``, in blocks (counted as
    ``spec`` says: default the store's; another core length re-cores the raw labels)."""
    counter = counter_for(spec or store.spec)
    for start in range(0, n, 4096):
        stop = min(n, start + 4096)
        counter.update_many(store.states(start, stop), store.li_positions(start, stop))
    return counter


def committed_counter(store: RunStore) -> tuple[RunCounter, bool]:
    """A counter holding the counts of the store's committed frames, and whether they had to be rebuilt from
    ``states`` because the stored ones are not what the last commit wrote (a writer killed between its writes, one
    writing now, or an older store); a writer's next flush writes the rebuilt ones (``check --repair`` does it
    at once)."""
    spec = store.spec
    n = store.committed_frames
    counter = counter_for(spec)
    if n == 0:
        return counter, False
    tally = store.tally()
    fits = tally is not None and tally.block_counts.shape[0] <= counter.transitions.max_blocks
    if fits and tally.frames == n:
        raw = store.states(n - counter.raw_rows_needed(n), n)
        if np.any((raw < 0) | (raw >= spec.n_states)):
            raise StoreError(f"{store.path} is damaged: the last committed frames hold missing labels. "
                             f"Run 'getsei-live check {store.path}'.")
        counter.restore(tally, raw)
        return counter, False
    if tally is None or tally.frames != n:  # what a commit did not name: never trusted
        log.info("%s: the stored counts are not those of its %d committed frames (a writer stopped during a commit, "
                 "one writing now, or an older store); recounting from states.", store.path, n)
    else:
        log.info("%s: more blocks of time stored than this version keeps; recounting from states.", store.path)
    return recount(store, n), True
