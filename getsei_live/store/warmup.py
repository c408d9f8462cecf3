"""The warm-up of a run without a state model: its frames, kept in the store until a model is trained on them.

Layout (``run.zarr/warmup/``)::

    step        (W,) int64 absolute MD step
    positions   (W, n_atoms, 3) float64
    cell        (W, 3, 3) float64
    attrs       numbers, pbc

Rows are written before the store's ``warmup_frames`` (root metadata, written
in one commit with the checkpoint) grows, as the run's frames are; a writer
killed during the warm-up loses at most the frames it had not committed. Once the state model is trained,
``run_arrays`` makes the store a run store (``RunStore.begin``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import zarr
from ase import Atoms

from .layout import DIMENSIONS, create_arrays
from .spec import RunSpec, with_current_keys

__all__ = ["WarmupFrames", "run_arrays"]


def run_arrays(group: zarr.Group, spec: RunSpec, state_model_config: dict, trained: dict,
               chunk_frames: int = 256) -> dict:
    """Make the arrays of a run in the warm-up store ``group`` (its state model trained, its spec known) and return
    the root metadata that, written in one write, makes it a run store."""
    create_arrays(group, spec, chunk_frames)
    return {"spec": spec.to_dict(), "frame_dt_ps": spec.frame_dt_ps, "lags_ps": list(spec.lags_ps),
            "state_model": state_model_config, "state_model_trained_in_run": trained, "status": "running"}


class WarmupFrames:
    """The warm-up frames of one store (``RunStore.warmup``)."""

    def __init__(self, group: zarr.Group, require_writer: Callable[[], None]) -> None:
        self._group = group
        self._require_writer = require_writer

    @property
    def settings(self) -> dict:
        """The warm-up plan the store was created with (empty for a run that had its state model from the start)."""
        return with_current_keys(self._group.attrs.get("warmup") or {})

    @property
    def trained(self) -> dict | None:
        """The state model trained in the run: its file (beside the store), frames, steps, states; None before."""
        return self._group.attrs.get("state_model_trained_in_run")

    @property
    def committed(self) -> int:
        """Warm-up frames committed: the root metadata's ``warmup_frames``, written with the checkpoint's commit."""
        if "warmup" not in self._group:
            return 0
        return int(self._group.attrs.get("warmup_frames", self._group["warmup"].attrs["committed"]))

    def _arrays(self, numbers: np.ndarray, pbc: np.ndarray) -> zarr.Group:
        if "warmup" not in self._group:
            n = len(numbers)
            g = self._group.create_group("warmup")
            g.create_array("step", shape=(0,), chunks=(256,), dtype="int64", fill_value=-1,
                           dimension_names=DIMENSIONS["warmup/step"])
            g.create_array("positions", shape=(0, n, 3), chunks=(16, n, 3), dtype="float64", fill_value=np.nan,
                           dimension_names=DIMENSIONS["warmup/positions"])
            g.create_array("cell", shape=(0, 3, 3), chunks=(256, 3, 3), dtype="float64", fill_value=np.nan,
                           dimension_names=DIMENSIONS["warmup/cell"])
            g.attrs.update({"numbers": np.asarray(numbers).tolist(), "pbc": np.asarray(pbc, bool).tolist(),
                            "committed": 0})
        return self._group["warmup"]

    def write(self, frames: list, commit: Callable[[int], None]) -> int:
        """Append ``frames`` (``observers.Frame``) as rows beyond the committed ones, then call ``commit`` with the
        new number of frames (it writes the checkpoint and the store's commit); returns the frames committed."""
        self._require_writer()
        if not frames:
            return self.committed
        n, k = self.committed, len(frames)
        g = self._arrays(frames[0].numbers, frames[0].pbc)
        for name, values in (("step", [f.step for f in frames]), ("positions", [f.positions for f in frames]),
                             ("cell", [f.cell for f in frames])):
            array = g[name]
            array.resize((n + k, *array.shape[1:]))
            array[n:n + k] = np.asarray(values)
        commit(n + k)
        return n + k

    def steps(self) -> np.ndarray:
        return self._group["warmup/step"][: self.committed] if self.committed else np.zeros(0, dtype=np.int64)

    def atoms(self) -> list[tuple[int, Atoms]]:
        """The committed warm-up frames as (step, ``ase.Atoms``)."""
        n = self.committed
        if not n:
            return []
        g = self._group["warmup"]
        numbers, pbc = np.asarray(g.attrs["numbers"]), np.asarray(g.attrs["pbc"], bool)
        steps, positions, cells = g["step"][:n], g["positions"][:n], g["cell"][:n]
        return [(int(s), Atoms(numbers=numbers, positions=p, cell=c, pbc=pbc))
                for s, p, c in zip(steps, positions, cells)]
