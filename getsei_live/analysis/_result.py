"""Shared behaviour of the analysis results: read-only arrays and JSON-ready dictionaries."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


class Result:
    """Mixin for ``@dataclass(frozen=True, slots=True)`` results.

    Arrays are made read-only after construction, so that nothing changes a
    result once it has been built, and ``to_dict`` gives plain Python types
    (complex numbers as ``[real, imag]`` pairs) for storage and ``--json``.
    """

    __slots__ = ()

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, field.name)
            if isinstance(value, np.ndarray):
                value.flags.writeable = False

    def to_dict(self) -> dict[str, Any]:
        return {f.name: to_jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]


def to_jsonable(value: Any) -> Any:
    """Convert arrays, numpy scalars, tuples and nested results to JSON-ready Python types."""
    if isinstance(value, Result):
        return value.to_dict()
    if isinstance(value, np.ndarray):
        if np.iscomplexobj(value):
            return np.stack([value.real, value.imag], axis=-1).tolist()
        return value.tolist()
    if isinstance(value, (np.generic,)):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    return value


def frozen_array(values: Any, dtype: Any = float) -> np.ndarray:
    """A private, read-only copy of ``values``."""
    array = np.array(values, dtype=dtype, copy=True)
    array.flags.writeable = False
    return array


def strict_json(value: Any) -> Any:
    """JSON-ready data with non-finite numbers as None, so that any JSON parser reads it."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    return value


def nan_array(value: Any) -> np.ndarray:
    """A read-only float array of stored JSON numbers: None becomes NaN, a None where a row is expected a row of NaN.
    """
    def convert(v: Any) -> Any:
        if v is None:
            return np.nan
        if isinstance(v, (list, tuple, np.ndarray)):
            parts = [convert(p) for p in v]
            shape = max((np.shape(p) for p in parts), key=len, default=())
            return np.stack([np.broadcast_to(p, shape) for p in parts]) if parts else np.zeros(0)
        return float(v)

    try:  # rectangular data (nearly all of it): numpy reads None as NaN itself, 10-50x faster than the walk below
        return frozen_array(value)
    except (ValueError, TypeError):  # a None where a row is expected: ragged for numpy
        return frozen_array(convert(value))


def listed(values: Any) -> list:
    """JSON-ready nested lists with None for non-finite numbers."""
    array = np.asarray(values, dtype=float)
    out = array.astype(object)
    out[~np.isfinite(array)] = None
    return out.tolist()


def nan_padded(rows: Sequence[Sequence[float | None]], width: int | None = None) -> np.ndarray:
    """(len(rows), width) float array of ragged rows (timescales at several lags, say): NaN for a None and after
    each row's end; ``width`` defaults to the longest row."""
    width = max((len(r) for r in rows), default=0) if width is None else width
    out = np.full((len(rows), width), np.nan)
    for line, row in zip(out, rows):
        line[: len(row)] = [np.nan if v is None else v for v in row]
    return out


def int_tuple(values: Any) -> tuple[int, ...]:
    return () if values is None else tuple(int(v) for v in values)


def empty_array() -> np.ndarray:
    return frozen_array(np.zeros(0))


class FrozenRecord:
    """Read-only arrays after construction, with every non-finite number as NaN (as the store reads it back)."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                if value.dtype.kind == "f" and np.isinf(value).any():
                    value = np.where(np.isfinite(value), value, np.nan)
                    object.__setattr__(self, f.name, value)
                value.flags.writeable = False


class FlatRecord(FrozenRecord):
    """A record whose stored form is its fields."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: Mapping):
        return cls(**{f.name: data.get(f.name) for f in dataclasses.fields(cls)})  # type: ignore[arg-type]
