"""What defines a run (state model, time step, frame interval, lags, Li atoms): resuming with anything else is refused."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

from .units import steps_to_ps

__all__ = ["RunSpec"]


@dataclass(frozen=True, slots=True)
class RunSpec:
    """What defines a run: resuming with anything different is refused.

    Attributes
    ----------
    fingerprint : str
        State-model fingerprint.
    n_states : int
    timestep_fs : float
        MD time step.
    interval : int
        MD steps between observed frames.
    lags : tuple of int
        Lags in frames.
    li_indices : tuple of int
        Atom indices of the Li atoms, in label order.
    """

    fingerprint: str
    n_states: int
    timestep_fs: float
    interval: int
    lags: tuple[int, ...]
    li_indices: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "lags", tuple(int(v) for v in self.lags))
        object.__setattr__(self, "li_indices", tuple(int(v) for v in self.li_indices))

    @property
    def frame_dt_ps(self) -> float:
        return steps_to_ps(self.interval, self.timestep_fs)

    @property
    def lags_ps(self) -> tuple[float, ...]:
        return tuple(lag * self.frame_dt_ps for lag in self.lags)

    @property
    def n_li(self) -> int:
        return len(self.li_indices)

    def to_dict(self) -> dict:
        d = asdict(self)
        return {**d, "lags": list(self.lags), "li_indices": list(self.li_indices)}

    @classmethod
    def from_dict(cls, data: dict) -> RunSpec:
        return cls(**{f.name: data[f.name] for f in fields(cls)})

    def differences(self, other: RunSpec) -> list[str]:
        """Human-readable list of what differs from ``other`` (the stored spec)."""
        names = {"fingerprint": "state model (fingerprint)", "n_states": "number of states",
                 "timestep_fs": "time step (fs)", "interval": "interval (MD steps per frame)",
                 "lags": "lags (frames)", "li_indices": "Li atom indices"}
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
