"""What defines a run (state model, time step, frame interval, lags, Li atoms, core length, equilibration): resuming
with anything else is refused."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

import numpy as np

from ..deprecation import renamed, warn_renamed
from ..errors import ParameterError
from ..units import steps_to_ps

__all__ = ["RunSpec"]


#: Keys of the store's records (the spec, the warm-up plan, the analysis settings) that 0.1 wrote, and their names
#: since 0.2, the names of the fields and parameters they hold (read, never written).
KEYS_BEFORE_0_2 = {"interval": "interval_steps", "lags": "lags_frames", "check_every": "check_every_frames"}


def with_current_keys(record: Mapping) -> dict:
    """A stored record with the keys that 0.1 wrote under their names now."""
    return {KEYS_BEFORE_0_2.get(key, key): value for key, value in record.items()}


@dataclass(frozen=True, slots=True, init=False)
class RunSpec:
    """What defines a run: resuming with anything different is refused.

    Attributes
    ----------
    fingerprint : str
        State-model fingerprint.
    n_states : int
    timestep_fs : float
        MD time step.
    interval_steps : int
        MD steps between observed frames (the store keeps it as ``interval``).
    lags_frames : tuple of int
        Lags in frames (the store keeps them as ``lags``).
    li_indices : tuple of int
        Atom indices of the Li atoms, in label order.
    core_frames : int, default 1
        Frames a Li must stay in a new state before it counts as there (core assignment; 1: the raw labels).
    equilibrate_frames : int, default 0
        Frames at the start that begin no counted transition (equilibration); they are stored all the same.
    """

    fingerprint: str
    n_states: int
    timestep_fs: float
    interval_steps: int
    lags_frames: tuple[int, ...]
    li_indices: tuple[int, ...]
    core_frames: int
    equilibrate_frames: int

    def __init__(self, fingerprint: str, n_states: int, timestep_fs: float, interval_steps: int | None = None,
                 lags_frames: Sequence[int] | None = None, li_indices: Sequence[int] = (), *,
                 core_frames: int = 1, equilibrate_frames: int = 0, **old_names) -> None:
        interval_steps = renamed(old_names, "interval", "interval_steps", interval_steps)
        lags_frames = renamed(old_names, "lags", "lags_frames", lags_frames)
        if old_names:
            raise TypeError(f"RunSpec() got an unexpected keyword argument {next(iter(old_names))!r}")
        if int(core_frames) < 1 or int(equilibrate_frames) < 0:
            raise ParameterError(f"'core_frames' must be >= 1 and 'equilibrate_frames' >= 0. Got {core_frames!r} "
                                 f"and {equilibrate_frames!r}.")
        for name, value in (("fingerprint", fingerprint), ("n_states", n_states), ("timestep_fs", timestep_fs),
                            ("interval_steps", interval_steps), ("lags_frames", tuple(int(v) for v in lags_frames)),
                            ("li_indices", tuple(int(v) for v in li_indices)), ("core_frames", int(core_frames)),
                            ("equilibrate_frames", int(equilibrate_frames))):
            object.__setattr__(self, name, value)

    @property
    def interval(self) -> int:
        """Deprecated: ``interval_steps``."""
        warn_renamed("RunSpec.interval", "RunSpec.interval_steps")
        return self.interval_steps

    @property
    def lags(self) -> tuple[int, ...]:
        """Deprecated: ``lags_frames``."""
        warn_renamed("RunSpec.lags", "RunSpec.lags_frames")
        return self.lags_frames

    @property
    def frame_dt_ps(self) -> float:
        return steps_to_ps(self.interval_steps, self.timestep_fs)

    @property
    def lags_ps(self) -> tuple[float, ...]:
        return tuple(lag * self.frame_dt_ps for lag in self.lags_frames)

    @property
    def n_li(self) -> int:
        return len(self.li_indices)

    @property
    def core_ps(self) -> float:
        """The core length in ps (0 for plain counting)."""
        return 0.0 if self.core_frames == 1 else self.core_frames * self.frame_dt_ps

    @property
    def equilibrate_ps(self) -> float:
        return self.equilibrate_frames * self.frame_dt_ps

    def to_dict(self) -> dict:
        """The store's record: the fields by name (a store of 0.1 says ``interval`` and ``lags``, and one without
        ``core_frames`` and ``equilibrate_frames`` counted raw labels from its first frame)."""
        return {"fingerprint": self.fingerprint, "n_states": self.n_states, "timestep_fs": self.timestep_fs,
                "interval_steps": self.interval_steps, "lags_frames": list(self.lags_frames),
                "li_indices": list(self.li_indices), "core_frames": self.core_frames,
                "equilibrate_frames": self.equilibrate_frames}

    @classmethod
    def from_dict(cls, data: Mapping) -> RunSpec:
        data = with_current_keys(data)
        return cls(data["fingerprint"], data["n_states"], data["timestep_fs"], data["interval_steps"],
                   data["lags_frames"], data["li_indices"], core_frames=data.get("core_frames", 1),
                   equilibrate_frames=data.get("equilibrate_frames", 0))

    def differences(self, other: RunSpec) -> list[str]:
        """Human-readable list of what differs from ``other`` (the stored spec)."""
        names = {"fingerprint": "state model (fingerprint)", "n_states": "number of states",
                 "timestep_fs": "time step (fs)", "interval_steps": "interval (MD steps per frame)",
                 "lags_frames": "lags (frames)", "li_indices": "Li atom indices",
                 "core_frames": "core length (frames)", "equilibrate_frames": "equilibration (frames)"}
        out = []
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if f.name == "timestep_fs" and np.isclose(mine, theirs, rtol=1e-9):
                continue
            if mine != theirs:
                if f.name == "li_indices":
                    out.append(f"{names[f.name]}: stored {len(theirs)} Li, now {len(mine)} Li"
                               + ("" if len(mine) != len(theirs) else " at other indices"))
                elif f.name == "fingerprint":
                    out.append(f"{names[f.name]}: stored {theirs[:12]}, now {mine[:12]}")
                else:
                    out.append(f"{names[f.name]}: stored {theirs}, now {mine}")
        return out
