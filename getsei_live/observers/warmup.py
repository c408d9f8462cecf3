"""A run without a state model: keep the warm-up frames, train a state model on them in the run, then go live.

The warm-up frames are kept in the store (``run.zarr/warmup/``, positions
only), so a crash during the warm-up loses at most one unflushed batch; the
model is trained by the same ``StateModel.train`` as ``getsei-live train``, on
the monitor's worker (not the MD thread), saved next to the store
(``run.states.pt``), and the warm-up frames are then labelled and counted as
the run's first frames.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ParameterError, StoreMismatchError, StructureError
from ..store.run_store import RunStore
from ..store.spec import RunSpec
from ..units import LI, steps_to_ps
from .frames import Frame

if TYPE_CHECKING:
    from ..states.encoder import TrainingConfig

__all__ = ["WarmupPlan", "WarmupRecorder", "model_path", "train_on_warmup"]

log = logging.getLogger(__name__)


def model_path(store: str | Path) -> Path:
    """Where a state model trained in the run is saved: ``run.zarr`` -> ``run.states.pt`` beside it."""
    store = Path(store)
    return store.with_name(store.name.removesuffix(".zarr") + ".states.pt")


@dataclass(frozen=True, slots=True)
class WarmupPlan:
    """How the warm-up goes: ``n_frames`` frames ``interval_steps`` MD steps apart, then a model of ``n_states``.

    Attributes
    ----------
    n_frames : int
    n_states : int or "auto"
    timestep_fs : float
    interval_steps : int
    lags_frames : tuple of int
        The run's lags in frames.
    li_indices : tuple of int
    training : dict
        ``TrainingConfig`` fields.
    core_frames, equilibrate_frames : int
        The run's core length and equilibration, in frames (see ``RunSpec``).
    """

    n_frames: int
    n_states: int | str
    timestep_fs: float
    interval_steps: int
    lags_frames: tuple[int, ...]
    li_indices: tuple[int, ...]
    training: dict
    core_frames: int = 1
    equilibrate_frames: int = 0

    @classmethod
    def of(cls, warmup_ps: float, *, n_states: int | str, timestep_fs: float, interval_steps: int,
           lags_frames: tuple[int, ...], li_indices, training: TrainingConfig | None, core_frames: int = 1,
           equilibrate_frames: int = 0) -> WarmupPlan:
        frame_ps = steps_to_ps(interval_steps, timestep_fs)
        if isinstance(warmup_ps, bool) or not isinstance(warmup_ps, (int, float)) or not warmup_ps > 0:
            raise ParameterError.of("warmup_ps", f"must be a positive time in ps. Got {warmup_ps!r}.")
        n_frames = max(2, math.ceil(warmup_ps / frame_ps - 1e-9) + 1)
        if n_states != "auto" and (isinstance(n_states, bool) or not isinstance(n_states, int) or n_states < 2):
            raise ParameterError.of("n_states", f"must be an integer >= 2 or 'auto'. Got {n_states!r}.")
        return cls(n_frames, n_states, float(timestep_fs), int(interval_steps), tuple(lags_frames),
                   tuple(int(i) for i in li_indices), (training or _training_config()()).to_dict(), int(core_frames),
                   int(equilibrate_frames))

    def to_dict(self) -> dict:
        """As the store keeps it: the fields by name (a store of 0.1 says ``interval`` and ``lags``, read as
        ``interval_steps`` and ``lags_frames`` by ``WarmupFrames.settings``)."""
        return {**asdict(self), "lags_frames": list(self.lags_frames), "li_indices": list(self.li_indices)}

    def check_resumable(self, store: RunStore) -> None:
        """Refuse to go on with a warm-up begun with other settings."""
        stored = store.warmup.settings
        mine = self.to_dict()
        defaults = {"core_frames": 1, "equilibrate_frames": 0}  # a warm-up begun before they were kept
        different = [k for k in ("timestep_fs", "interval_steps", "lags_frames", "li_indices", "n_frames", "n_states",
                                 "core_frames", "equilibrate_frames") if stored.get(k, defaults.get(k)) != mine[k]]
        if different:
            raise StoreMismatchError(f"{store.path} holds a warm-up begun with other settings ("
                                     + ", ".join(f"{k}: stored {stored.get(k)}, now {mine[k]}" for k in different)
                                     + "). Resume with the original settings, or write to a new store.")


def train_on_warmup(store: RunStore, plan: WarmupPlan):
    """Train a state model on the store's warm-up frames, save it beside the store, make the store a run store."""
    from ..states.model import StateModel

    frames = store.warmup.atoms()
    steps = [step for step, _ in frames]
    log.info("getsei-live: warm-up done (%d frames, steps %d-%d); training the state model.", len(frames), steps[0],
             steps[-1])
    model = StateModel.train([[atoms for _, atoms in frames]], n_states=plan.n_states, frame_fraction=1.0,
                             config=_training_config()(**plan.training))
    path = model.save(model_path(store.path))
    spec = RunSpec(fingerprint=model.fingerprint, n_states=model.n_states, timestep_fs=plan.timestep_fs,
                   interval_steps=plan.interval_steps, lags_frames=plan.lags_frames, li_indices=plan.li_indices,
                   core_frames=plan.core_frames,
                   equilibrate_frames=plan.equilibrate_frames)
    store.begin(spec, model.describe(), {"file": path.name, "frames": len(frames), "first_step": steps[0],
                                         "last_step": steps[-1], "n_states": model.n_states,
                                         "silhouette": model.silhouette})
    log.info("getsei-live: state model of %d states trained in the run (silhouette %.3f), saved to %s.",
             model.n_states, model.silhouette, path)
    return model


class WarmupRecorder:
    """Keeps the frames of a warm-up in the store until there are ``plan.n_frames``.

    Parameters
    ----------
    store : RunStore
        A store warming up (``store.spec`` is None).
    plan : WarmupPlan
    """

    def __init__(self, store: RunStore, plan: WarmupPlan) -> None:
        self.store, self.plan = store, plan
        steps = store.warmup.steps()
        self.last_step: int | None = int(steps[-1]) if steps.size else None
        self.committed = int(steps.size)
        self._pending: list[Frame] = []

    @property
    def n_frames(self) -> int:
        """Frames kept, written or not."""
        return self.committed + len(self._pending)

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def done(self) -> bool:
        return self.n_frames >= self.plan.n_frames

    def keep(self, frame: Frame) -> bool:
        """Keep one frame; False for a frame seen already."""
        if self.last_step is not None and frame.step <= self.last_step:
            return False
        if self.last_step is not None and frame.step - self.last_step != self.plan.interval_steps:
            raise ParameterError(f"Frames must be {self.plan.interval_steps} MD steps apart; got step {frame.step} after "
                                 f"{self.last_step}.")
        if not np.array_equal(np.flatnonzero(frame.numbers == LI), self.plan.li_indices):
            raise StructureError(f"The frame at step {frame.step} has other Li atoms than the run's first frame; "
                                 f"the atoms of a run must not change.")
        self._pending.append(frame)
        self.last_step = frame.step
        return True

    def flush(self) -> None:
        """Write the frames kept: rows, then the checkpoint of the last, then the count of committed rows."""
        if self._pending:
            last = self._pending[-1]
            store = self.store
            self.committed = store.warmup.write(
                self._pending, lambda frames: store.commit_warmup(frames, store.save_checkpoint(last.checkpoint())))
            self._pending = []


def _training_config():
    """``TrainingConfig``, imported when a warm-up needs it (it brings torch)."""
    from ..states.encoder import TrainingConfig

    return TrainingConfig
