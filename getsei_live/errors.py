"""Error classes: everything the package raises on bad input derives from GetseiError.

The CLI turns a ``GetseiError`` into a one-line message and a non-zero exit;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = [
    "GetseiError",
    "ParameterError",
    "StructureError",
    "FeatureSchemaError",
    "ModelFileError",
    "TrajectoryError",
    "StoreError",
    "StoreLockedError",
    "StoreMismatchError",
]


class GetseiError(Exception):
    """Base class of the errors a user can cause and fix."""


class ParameterError(GetseiError, ValueError):
    """An argument has the wrong value, shape or type."""


class StructureError(GetseiError, ValueError):
    """An atomic structure cannot be analysed (no Li, bad cell, non-finite positions)."""


class FeatureSchemaError(GetseiError, ValueError):
    """A structure does not fit the feature schema (for example an unknown element)."""


class ModelFileError(GetseiError):
    """A state-model file cannot be used: not one, unsafe (pickled objects) or from a newer schema."""


class TrajectoryError(GetseiError):
    """A trajectory file cannot be read, or its frames do not form one trajectory."""


class StoreError(GetseiError):
    """A run store cannot be opened, read or written."""


class StoreLockedError(StoreError):
    """Another live process holds the store's writer lock."""


class StoreMismatchError(StoreError):
    """An existing store belongs to a run with other settings."""
