"""The plumbing of a run store: the arrays ``RunStore.create`` makes (the layout is described in ``store``),
opening the Zarr group, and turning failures deep inside zarr into errors that say what to do."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from ..errors import GetseiError, ParameterError, StoreError, failure_text
from .spec import RunSpec

__all__ = ["DIMENSIONS", "FRAME_COORDINATES", "create_arrays", "create_block_counts", "create_derived",
           "create_fit_array", "create_frame_coordinate", "create_positions_array", "create_recent_states"]

#: The named dimensions of every array of a store (zarr's ``dimension_names``), so that ``xarray.open_zarr`` and
#: ``xarray.open_datatree`` read it: one name per axis, the same name for the same axis in every array of a group.
DIMENSIONS = {
    "frames/step": ("frame",), "frames/time_ps": ("frame",),
    "states": ("frame", "li"), "log_likelihood": ("frame", "li"), "recent_states": ("recent_frame", "li"),
    "counts": ("lag_ps", "from_state", "to_state"), "per_li_counts": ("li", "lag_ps", "from_state", "to_state"),
    "block_counts": ("block", "lag_ps", "from_state", "to_state"), "snapshots": ("check",),
    "lag_ps": ("lag_ps",), "li": ("li",), "from_state": ("from_state",), "to_state": ("to_state",),
    "step": ("frame",), "time_ps": ("frame",),
    "block_events": ("block", "from_state", "to_state"), "per_li_events": ("li",),
    "probe_counts": ("lag_ps", "from_state", "to_state"), "probe_recent_states": ("probe_recent_frame", "li"),
    "li_positions": ("frame", "li", "xyz"),
    "transport/ring": ("transport_frame", "li", "xyz"), "transport/li": ("li", "transport_column"),
    "transport/histogram": ("displacement_bin",),
    "checkpoint/positions": ("atom", "xyz"), "checkpoint/momenta": ("atom", "xyz"),
    "checkpoint/cell": ("cell_vector", "xyz"), "checkpoint/numbers": ("atom",), "checkpoint/pbc": ("xyz",),
    "warmup/step": ("warmup_frame",), "warmup/positions": ("warmup_frame", "atom", "xyz"),
    "warmup/cell": ("warmup_frame", "cell_vector", "xyz"),
}


def create_arrays(group: zarr.Group, spec: RunSpec, chunk_frames: int) -> None:
    """Empty frames, states, counts, block counts, snapshots and log-likelihoods of a new store."""
    n, n_lags, n_li = spec.n_states, len(spec.lags_frames), spec.n_li
    frames = group.create_group("frames")
    frames.create_array("step", shape=(0,), chunks=(chunk_frames,), dtype="int64", fill_value=-1,
                        dimension_names=DIMENSIONS["frames/step"])
    frames.create_array("time_ps", shape=(0,), chunks=(chunk_frames,), dtype="float64", fill_value=np.nan,
                        dimension_names=DIMENSIONS["frames/time_ps"])
    group.create_array("states", shape=(0, n_li), chunks=(chunk_frames, n_li), dtype="int8", fill_value=-1,
                       dimension_names=DIMENSIONS["states"]).attrs["coordinates"] = FRAME_COORDINATES
    for name, values in (("lag_ps", np.asarray(spec.lags_ps, dtype=float)),
                         ("li", np.asarray(spec.li_indices, dtype=np.int64)),
                         ("from_state", np.arange(n)), ("to_state", np.arange(n))):
        group.create_array(name, shape=values.shape, chunks=values.shape, dtype=values.dtype,
                           dimension_names=DIMENSIONS[name])[...] = values
    for name in ("step", "time_ps"):
        create_frame_coordinate(group, name, 0, chunk_frames)
    counts = group.create_array("counts", shape=(n_lags, n, n), chunks=(n_lags, n, n), dtype="int64",
                                fill_value=0, dimension_names=DIMENSIONS["counts"])
    counts.attrs["frames"] = 0
    group.create_array("per_li_counts", shape=(n_li, n_lags, n, n), chunks=(n_li, n_lags, n, n),
                       dtype="int64", fill_value=0, dimension_names=DIMENSIONS["per_li_counts"])
    create_block_counts(group, (n_lags, n, n)).attrs["block_frames"] = min(spec.lags_frames)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zarr marks its variable-length string type as not yet in the spec
        # one snapshot a chunk: adding one reads and writes that one (in chunks of 64, every check decoded and
        # encoded all the checks of its chunk, and a run's resident memory grew with them: bench_memory.py)
        group.create_array("snapshots", shape=(0,), chunks=(1,), dtype=str, dimension_names=DIMENSIONS["snapshots"])
    create_fit_array(group, spec.n_li, 0, chunk_frames)


#: The coordinates along ``frame`` of the arrays with one row per frame (xarray's ``coordinates`` attribute).
FRAME_COORDINATES = "step time_ps"


def create_frame_coordinate(group: zarr.Group, name: str, n_frames: int, chunk_frames: int = 256) -> zarr.Array:
    """A root coordinate along ``frame`` (``step`` int64 or ``time_ps`` float64) for xarray, its first ``n_frames``
    rows copied from ``frames/`` (where a store from an older version lacks it)."""
    integer = name == "step"
    arr = group.create_array(name, shape=(n_frames,), chunks=(chunk_frames,), dtype="int64" if integer else "float64",
                             fill_value=-1 if integer else np.nan, dimension_names=DIMENSIONS[name])
    if n_frames:
        arr[...] = group[f"frames/{name}"][:n_frames]
    return arr


def create_positions_array(group: zarr.Group, n_li: int, n_frames: int, chunk_frames: int = 256) -> zarr.Array:
    """``li_positions`` (frames, n_li, 3) float32: the unwrapped Li positions (A) of every frame, NaN where not
    recorded (frames recorded without positions, or stores made before they were kept)."""
    arr = group.create_array("li_positions", shape=(n_frames, n_li, 3), chunks=(chunk_frames, n_li, 3),
                             dtype="float32", fill_value=np.nan, dimension_names=DIMENSIONS["li_positions"])
    arr.attrs["coordinates"] = FRAME_COORDINATES
    return arr


def create_fit_array(group: zarr.Group, n_li: int, n_frames: int, chunk_frames: int = 256) -> zarr.Array:
    """``log_likelihood`` (frames, n_li) float16: the state model's fit of every Li environment, NaN where not
    recorded (frames labelled elsewhere, or stores made before it was kept)."""
    arr = group.create_array("log_likelihood", shape=(n_frames, n_li), chunks=(chunk_frames, n_li),
                             dtype="float16", fill_value=np.nan, dimension_names=DIMENSIONS["log_likelihood"])
    arr.attrs["coordinates"] = FRAME_COORDINATES
    return arr


def create_block_counts(group: zarr.Group, shape: tuple[int, int, int]) -> zarr.Array:
    """``block_counts`` (blocks, lags, n, n): the counts of each block of time."""
    return group.create_array("block_counts", shape=(0, *shape), chunks=(64, *shape), dtype="int64", fill_value=0,
                              dimension_names=DIMENSIONS["block_counts"])


def create_derived(group: zarr.Group, name: str, shape: tuple[int, ...], chunks: tuple[int, ...]) -> zarr.Array:
    """One derived array of the counter made with its first write (so that a store from an older version gains
    it too): ``block_events``, ``per_li_events``, ``probe_counts``, ``probe_recent_states`` and the arrays of
    ``transport/``."""
    leaf = name.rsplit("/", 1)[-1]
    dtype = ("int8" if name == "probe_recent_states" else "float64" if leaf in ("ring", "li") else "int64")
    fill = -1 if dtype == "int8" else np.nan if dtype == "float64" else 0
    parent = group.require_group(name.rsplit("/", 1)[0]) if "/" in name else group
    return parent.create_array(leaf, shape=shape, chunks=tuple(max(1, c) for c in chunks), dtype=dtype,
                               fill_value=fill, dimension_names=DIMENSIONS[name])


def create_recent_states(group: zarr.Group, shape: tuple[int, int], chunk_frames: int) -> zarr.Array:
    """``recent_states`` (frames, n_li): the raw labels the core assignment still needs."""
    return group.create_array("recent_states", shape=shape, chunks=(chunk_frames, shape[1]), dtype="int8",
                              fill_value=-1, dimension_names=DIMENSIONS["recent_states"])


def open_group(path: Path, mode: str) -> zarr.Group:
    try:
        return zarr.open_group(str(path), mode=mode, zarr_format=3)
    except (FileNotFoundError, zarr.errors.GroupNotFoundError, zarr.errors.NodeTypeValidationError, ValueError,
            KeyError) as error:
        raise StoreError(f"{path} is not a getsei-live store ({failure_text(error)}).") from None


def rounded_temperature(value: float | None) -> float | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float, np.number))
                              or not value > 0):
        raise ParameterError(f"The temperature must be a positive number of kelvin. Got {value!r} instead.")
    return None if value is None else round(float(value), 6)  # Langevin reports kT / kB: 799.9999999999999


def reading(method: Callable) -> Callable:
    """Turn a failure deep inside zarr (a missing or corrupted chunk) into a StoreError with what to do."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except GetseiError:
            raise
        except Exception as error:
            raise StoreError(
                f"{self.path} is damaged: reading {method.__name__} failed ({failure_text(error)}). "
                f"Run 'getsei-live check {self.path}' to see what is affected."
            ) from None

    return wrapper
