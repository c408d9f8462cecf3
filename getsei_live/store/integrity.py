"""Integrity check of a run store, and repair of its derived data (counts, snapshots) from the committed states."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import GetseiError, failure_text
from ..units import steps_to_ps
from .counts import recount
from .run_store import RunStore

__all__ = ["StoreReport", "check_store", "repair_store"]


@dataclass(slots=True)
class StoreReport:
    """What ``check_store`` found.

    Attributes
    ----------
    path : Path
    committed_frames : int
    problems : list of str
        Damage to primary data (frames, states, metadata): repair cannot fix it.
    derived : list of str
        Damage to derived data (counts, snapshots): ``repair_store`` rebuilds it.
    notes : list of str
        Harmless findings.
    """

    path: Path
    committed_frames: int = 0
    problems: list[str] = field(default_factory=list)
    derived: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.derived

    def to_dict(self) -> dict:
        return {"path": str(self.path), "committed_frames": self.committed_frames, "ok": self.ok,
                "problems": self.problems, "derived": self.derived, "notes": self.notes}


def check_store(path: str | Path, *, attempts: int = 5) -> StoreReport:
    """Read everything a store holds and compare the derived data with a recount; changes nothing.

    A store being written holds, for the milliseconds of each flush, derived data ahead of its commit (which every
    reader ignores): when only derived data disagrees and the run is running, the check is taken again on the next
    commit, up to ``attempts`` times, before it is reported.
    """
    import time

    for attempt in range(attempts):
        report = _check_once(path)
        if report.ok or report.problems or attempt == attempts - 1 or RunStore.open(path, "r").status != "running":
            return report
        time.sleep(0.1)
    return report


def _check_once(path: str | Path) -> StoreReport:
    store = RunStore.open(path, "r")
    report = StoreReport(Path(path))
    n = report.committed_frames = store.committed_frames
    if store.spec is None:  # warming up: frames kept for training a state model in the run, nothing labelled yet
        steps = store.warmup.steps()
        if np.any(np.diff(steps) != store.warmup.settings.get("interval_steps")):
            report.problems.append("warmup/step is not evenly spaced by the interval")
        report.notes.append(f"warming up: {steps.size} of {store.warmup.settings.get('n_frames')} warm-up frames "
                            f"kept; the state model is trained once they are all there")
        return report
    if not _check_frames(store, n, report):
        return report
    if _check_states(store, n, report):
        _check_counts(store, n, report)
    _check_history(store, n, report)
    partial = sorted(p.relative_to(store.path) for p in store.path.rglob("*.partial"))
    if partial:
        report.notes.append(f"{len(partial)} unfinished temporary files from an interrupted write "
                            f"(harmless): {', '.join(map(str, partial[:3]))}")
    report.notes.append(f"status {store.status}" + (f" ({store.stop_reason})" if store.stop_reason else ""))
    return report


def _check_frames(store: RunStore, n: int, report: StoreReport) -> bool:
    """Steps and times of the committed frames; False when they cannot be read at all."""
    spec = store.spec
    try:
        steps, times = store.steps(), store.times_ps()
    except Exception as error:  # a damaged chunk raises from deep inside zarr's codecs
        report.problems.append(f"frames/step or frames/time_ps is unreadable ({failure_text(error)})")
        return False
    if steps.size != n or times.size != n:
        report.problems.append(f"the frame arrays hold {steps.size} rows where {n} are committed")
    elif n:
        if np.any(steps < 0):
            report.problems.append(f"frames/step has missing rows (a deleted chunk?) at frames "
                                   f"{np.flatnonzero(steps < 0)[:5].tolist()}")
        elif np.any(np.diff(steps) <= 0):
            first = int(np.flatnonzero(np.diff(steps) <= 0)[0]) + 1
            report.problems.append(f"frames/step repeats or goes back at frame {first} (step {steps[first]} after "
                                   f"{steps[first - 1]}): two writers, or rows written out of order")
        elif np.any(np.diff(steps) != spec.interval_steps):
            report.problems.append(f"frames/step is not evenly spaced by the interval ({spec.interval_steps} steps)")
        if not np.allclose(times, steps_to_ps(steps, spec.timestep_fs)):
            report.problems.append("frames/time_ps does not match step x time step")
    return True


def _check_states(store: RunStore, n: int, report: StoreReport) -> bool:
    """The committed labels; True when all are there and valid (so that the counts can be checked)."""
    try:
        states = store.states()
    except Exception as error:
        report.problems.append(f"states is unreadable ({failure_text(error)}); its data is lost")
        return False
    bad = np.flatnonzero(np.any((states < 0) | (states >= store.spec.n_states), axis=1))
    if states.shape[0] != n:
        report.problems.append(f"states holds {states.shape[0]} rows where {n} are committed")
        return False
    if bad.size:
        report.problems.append(f"states has missing or invalid labels in {bad.size} committed frames "
                               f"(first {bad[0]}): a chunk was lost; those frames cannot be recovered")
        return False
    return True


def _check_counts(store: RunStore, n: int, report: StoreReport) -> None:
    """The stored counts against a recount of the committed states."""
    counter = recount(store, n)
    try:
        counts, per_li, covered = store.counts()
    except Exception as error:
        report.derived.append(f"counts are unreadable ({type(error).__name__})")
        return
    if covered != n and _moved_on(store, n):
        report.notes.append(f"the writer committed frames beyond the {n} read while this check ran; the counts "
                            f"were not compared (run check again once it has finished)")
        return
    if covered != n:
        report.derived.append(f"counts cover {covered} frames, not the {n} committed")
    if not np.array_equal(counts, counter.counts()):
        report.derived.append("counts differ from a recount of the committed states")
    if not np.array_equal(per_li, counter.per_li_counts()):
        report.derived.append("per-Li counts differ from a recount of the committed states")
    try:
        recent = store.recent_states()
    except Exception as error:
        report.derived.append(f"the recent core-assigned frames are unreadable ({type(error).__name__})")
        recent = None
    if recent is not None and not np.array_equal(recent, counter.tally().recent):
        report.derived.append("the recent core-assigned frames differ from a recount of the committed states")
    blocks = store.block_counts()
    if blocks is None:
        report.derived.append("no counts per block of time (a store from an older getsei-live)")
    elif blocks[1] != counter.block_frames or not np.array_equal(blocks[0], counter.block_counts()):
        report.derived.append("counts per block of time differ from a recount of the committed states")
    expected = counter.tally()
    derived = {"block_events": ("state changes per block of time", expected.block_events),
               "per_li_events": ("state changes per Li", expected.per_li_events)}
    if expected.probe is not None:
        derived["probe_counts"] = ("counts at twice the core length", expected.probe.counts)
    for name, (what, values) in derived.items():
        stored = store.derived_array(name)
        if stored is None:
            report.derived.append(f"no {what} (a store from an older getsei-live)")
        elif not np.array_equal(stored, values):
            report.derived.append(f"{what} differ from a recount of the committed states")


def _check_history(store: RunStore, n: int, report: StoreReport) -> None:
    try:
        snapshots = store.snapshots()
    except Exception as error:  # undecodable chunk or JSON
        report.derived.append(f"the snapshot history is unreadable ({type(error).__name__})")
        return
    frames = [s.frame or 0 for s in snapshots]
    late = [f for f in frames if f > n]
    if late and _moved_on(store, n):  # written since this check read the metadata: a store being written
        late = [f for f in late if f > RunStore.open(store.path, "r").committed_frames]
    if any(b <= a for a, b in zip(frames, frames[1:])):
        first = next(k for k, (a, b) in enumerate(zip(frames, frames[1:]), 1) if b <= a)
        report.derived.append(f"the snapshots repeat or go back at entry {first} (frame {frames[first]} after "
                              f"{frames[first - 1]}): two writers?")
    if late:
        report.derived.append(f"{len(late)} snapshots refer to frames beyond the committed {n}")
    report.notes.append(f"{len(snapshots)} analysis snapshots")


def _moved_on(store: RunStore, n: int) -> bool:
    """Whether a writer has committed past the ``n`` frames a check read (then what changed since is no damage)."""
    try:
        return RunStore.open(store.path, "r").committed_frames != n
    except Exception:
        return False


def repair_store(path: str | Path) -> StoreReport:
    """Rebuild counts and drop snapshots beyond the committed frames; never touches frames or states.

    Refuses (raises) when the primary data itself is damaged. Returns the report after the repair.
    """
    before = check_store(path)
    if before.problems:
        raise GetseiError(f"{path}: cannot repair damaged primary data: {'; '.join(before.problems)}.")
    with RunStore.open(path, "a") as store:
        n = store.committed_frames
        store.rewrite_counts(recount(store, n).tally())
        snapshots = store.snapshots()
        kept = []
        for snap in snapshots:  # in order, within the committed frames, each after the one before
            if (snap.frame or 0) <= n and (not kept or (snap.frame or 0) > (kept[-1].frame or 0)):
                kept.append(snap)
        if len(kept) != len(snapshots):
            store.replace_snapshots(kept)
    return check_store(path)
