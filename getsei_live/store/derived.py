"""The counter's state as a store keeps it beside the rows: the cumulative counts, per Li and per block of time,
the last core-assigned frames, the events, the core probe and the Li transport (the store's "derived data").

Each flush writes all of it, then the commit names its digest (``parts.tally_digest``); a reader takes it only when
the digest is the commit's, and otherwise recounts from ``states`` (``store.counts``). Arrays a store from an older
version lacks are made at its first write.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import zarr

from ..analysis.counting import ProbeTally, Tally, probe_core_frames
from ..analysis.transport import smooth_frames_of
from .layout import create_block_counts, create_derived, create_recent_states
from .parts import tally_digest, transport_arrays, transport_tally
from .spec import RunSpec

__all__ = ["read_tally", "write_tally"]

#: The writer's way to an array: ``array(name, create)`` opens it once, and ``create()`` makes it where it is missing.
ArrayOf = Callable[[str, Callable[[], zarr.Array] | None], zarr.Array]


def read_tally(group: zarr.Group, spec: RunSpec, commit: dict, committed_frames: int,
               stored: tuple[np.ndarray, np.ndarray, int], blocks: tuple[np.ndarray, int]) -> Tally | None:
    """The stored counter of the store ``group``, given its ``stored`` counts (``RunStore.counts``) and ``blocks``
    (``RunStore.block_counts``); None where part of it is missing (a store from before it was kept) or it is not
    what the commit (``commit``, for ``committed_frames`` frames) wrote."""
    counts, per_li, covered = stored
    if "recent_states" in group:
        arr = group["recent_states"]
        if int(arr.attrs.get("frames", -1)) != covered:
            return None
        tally = Tally(covered, counts, per_li, *blocks, arr[...], int(arr.attrs["raw_changes"]),
                      int(arr.attrs["cored_changes"]))
    elif spec.core_frames != 1:
        return None
    else:
        keep = min(covered, max(spec.lags_frames))  # without coring the cored frames are the raw ones
        tally = Tally(covered, counts, per_li, *blocks, group["states"][covered - keep:covered])
    if "block_events" not in group or "per_li_events" not in group:
        return None  # a store from before events were counted: recounted from states
    tally = dataclasses.replace(tally, block_events=group["block_events"][...],
                                per_li_events=group["per_li_events"][...])
    if "transport" in group and int(group["transport"].attrs.get("n_seen", -1)) == covered:
        g = group["transport"]
        tally = dataclasses.replace(tally, transport=transport_tally(
            {name: g[name][...] for name in ("ring", "li", "histogram")}, covered, int(g.attrs["n_emitted"])))
    if probe_core_frames(spec.core_frames) is not None:
        if "probe_counts" not in group or "probe_recent_states" not in group:
            return None
        arr = group["probe_counts"]
        tally = dataclasses.replace(tally, probe=ProbeTally(
            int(arr.attrs["core_frames"]), arr[...], group["probe_recent_states"][...],
            int(arr.attrs["raw_changes"]), int(arr.attrs["cored_changes"])))
    if commit and (commit.get("frames") != committed_frames or commit.get("derived") != tally_digest(tally)):
        return None  # not what the last commit wrote: a writer killed mid-commit, or one writing now
    return tally


def write_tally(group: zarr.Group, spec: RunSpec, tally: Tally, array: ArrayOf) -> None:
    """Write the counter's ``tally`` into the store ``group`` (the commit that names it comes after)."""
    counts, block_counts, block_frames = tally.counts, tally.block_counts, tally.block_frames
    recent = array("recent_states", lambda: create_recent_states(  # (made for a store from before
        group, tally.recent.shape, max(spec.lags_frames)))          # core assignment)
    if recent.shape != tally.recent.shape:
        recent.resize(tally.recent.shape)
    recent[...] = tally.recent
    recent.update_attributes({"frames": int(tally.frames), "raw_changes": int(tally.raw_changes),
                              "cored_changes": int(tally.cored_changes)})  # attrs.update writes once a key
    arr = array("block_counts", lambda: create_block_counts(group, counts.shape))
    if arr.shape != block_counts.shape:  # a new block has started, or blocks merged
        arr.resize(block_counts.shape)
    if block_counts.size:
        arr[...] = block_counts
    if arr.attrs.get("block_frames") != int(block_frames):
        arr.attrs["block_frames"] = int(block_frames)
    array("counts", None)[...] = counts
    array("per_li_counts", None)[...] = tally.per_li_counts
    array("counts", None).attrs["frames"] = int(tally.frames)
    n, lags = counts.shape[-1], max(spec.lags_frames)
    derived = {"block_events": (tally.block_events, (64, n, n)), "per_li_events": (tally.per_li_events, None)}
    if tally.probe is not None:
        derived |= {"probe_counts": (tally.probe.counts, None),
                    "probe_recent_states": (tally.probe.recent, (lags, spec.n_li))}
    for name, (values, chunks) in derived.items():
        _write_whole(array(name, lambda: create_derived(group, name, values.shape, chunks or values.shape)), values)
    moved = tally.transport
    if moved is not None:
        keep = max(spec.core_frames, smooth_frames_of(spec.frame_dt_ps))  # the ring: one chunk
        for name, values in transport_arrays(moved).items():
            _write_whole(array(f"transport/{name}", lambda: create_derived(
                group, f"transport/{name}", values.shape,
                (keep, *values.shape[1:]) if name == "ring" else values.shape)), values)
        group["transport"].update_attributes({"n_seen": int(moved.n_seen), "n_emitted": int(moved.n_emitted)})
    if tally.probe is not None:
        array("probe_counts", None).update_attributes({
            "core_frames": int(tally.probe.core_frames), "raw_changes": int(tally.probe.raw_changes),
            "cored_changes": int(tally.probe.cored_changes)})


def _write_whole(arr: zarr.Array, values: np.ndarray) -> None:
    """``values`` as the whole of ``arr``, resized to their shape."""
    if arr.shape != values.shape:
        arr.resize(values.shape)
    if values.size:
        arr[...] = values
