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
    "MDFailedError",
    "StoreError",
    "StoreLockedError",
    "StoreNotFoundError",
    "StoreMismatchError",
    "StoreMovedError",
    "RunInterrupted",
    "Terminated",
    "GetseiDeprecationWarning",
    "failure_text",
]


class GetseiError(Exception):
    """Base class of the errors a user can cause and fix."""


class ParameterError(GetseiError, ValueError):
    """An argument has the wrong value, shape or type.

    Made by ``ParameterError.of(parameter, problem)``, it knows the parameter at fault (``parameter``), so that the
    command line names the option as the user typed it (``worded("--lags-ps")``: "The --lags-ps option must ...")
    where Python names the parameter ("The 'lags_ps' parameter must ...").
    """

    def __init__(self, message: str, *, parameter: str | None = None, lead: str = "The", problem: str = "") -> None:
        super().__init__(message)
        self.parameter, self.lead, self.problem = parameter, lead, problem

    @classmethod
    def of(cls, parameter: str, problem: str, *, lead: str = "The") -> ParameterError:
        """The error "{lead} '{parameter}' parameter {problem}"."""
        return cls(f"{lead} '{parameter}' parameter {problem}", parameter=parameter, lead=lead, problem=problem)

    def worded(self, option: str) -> str:
        """The message with ``option`` (the command line's name of the parameter) in place of the parameter."""
        return f"{self.lead} {option} option {self.problem}"


class StructureError(GetseiError, ValueError):
    """An atomic structure cannot be analysed (no Li, bad cell, non-finite positions)."""


class FeatureSchemaError(GetseiError, ValueError):
    """A structure does not fit the feature schema (for example an unknown element)."""


class ModelFileError(GetseiError):
    """A state-model file cannot be used: not one, unsafe (pickled objects) or from a newer schema."""


class TrajectoryError(GetseiError):
    """A trajectory file cannot be read, or its frames do not form one trajectory."""


class MDFailedError(GetseiError):
    """The MD left physics: its temperature ran away from the thermostat's, or its positions or momenta are not
    finite (the potential gave forces far outside what it was fitted on)."""


class StoreError(GetseiError):
    """A run store cannot be opened, read or written."""


class StoreFullError(StoreError):
    """The disk (or quota) of a store is full: what was committed is intact, and the run resumes once there is
    space."""


class StoreNotFoundError(StoreError, FileNotFoundError):
    """No store at the path given (nothing there, or not yet: a run may still be creating it)."""


class StoreLockedError(StoreError):
    """Another live process holds the store's writer lock."""


class StoreMovedError(StoreError):
    """The store's directory was moved or replaced while a writer held it: the writer stops."""


class StoreMismatchError(StoreError):
    """An existing store belongs to a run with other settings."""


def check_fields(obj: object, *, integers: dict[str, int] | None = None, positive: tuple[str, ...] = (),
                 unit_interval: tuple[str, ...] = ()) -> None:
    """Validate a parameter object's attributes: ``integers`` maps names to their minimum, ``positive`` must be
    > 0, ``unit_interval`` must lie in [0, 1). Raises ParameterError naming the first bad one."""
    for name, minimum in (integers or {}).items():
        value = getattr(obj, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ParameterError.of(name, f"must be an integer >= {minimum}. Got {value!r} instead.")
    for name in positive:
        value = getattr(obj, name)
        if not isinstance(value, (int, float)) or not value > 0:
            raise ParameterError.of(name, f"must be positive. Got {value!r} instead.")
    for name in unit_interval:
        value = getattr(obj, name)
        if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
            raise ParameterError.of(name, f"must lie in [0, 1). Got {value!r} instead.")


class Terminated(KeyboardInterrupt):
    """SIGTERM, what Slurm and PBS send at a job's time limit, raised where Ctrl-C raises ``KeyboardInterrupt`` (by
    the command line's handler), so that a run or replay stops as cleanly: what is labelled is committed, the store
    says it was interrupted and why, and the same command resumes it."""

    signal_number = 15

    def __str__(self) -> str:
        return "SIGTERM (the job's time limit, or a kill)"


class RunInterrupted(KeyboardInterrupt):
    """A live run stopped by Ctrl-C or SIGTERM after its store was closed cleanly; the message says where it stopped
    and how to resume. A ``KeyboardInterrupt``, so that code catching that still does; ``signal_number`` is the
    signal's (2 for Ctrl-C)."""

    def __init__(self, message: str, signal_number: int = 2) -> None:
        super().__init__(message)
        self.signal_number = signal_number


class GetseiDeprecationWarning(DeprecationWarning):
    """A name that still works but will go: the message names the one to use (``getsei_live.deprecation``)."""


def failure_text(error: BaseException) -> str:
    """"KeyError: 'x'" for an error with a message, "KeyboardInterrupt" for one without: what a store's status and
    a stop reason say of it."""
    message = str(error)
    return f"{type(error).__name__}: {message}" if message else type(error).__name__
