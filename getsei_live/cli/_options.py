"""The options and option types the commands share: state sets, lags, state-model files, the live analysis's
options and the convergence thresholds."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import click

from ..analysis.coring import DEFAULT_CORE_PS
from ..analysis.markov import DEFAULT_LAGS_PS
from ..errors import ParameterError

__all__ = ["LAG", "N_STATES", "STATES", "STATE_MODEL", "STATE_SET", "endpoint_options", "float_list", "live_options",
           "make_criteria", "renamed_options"]


class _StateSet(click.ParamType):
    """State numbers such as 2, S2 or "1,S3" (a repeated option collects them all)."""

    name = "STATES"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        states = []
        for part in str(value).split(","):
            text = part.strip().upper().removeprefix("S")
            if not text.isdigit():
                name = param.opts[0] if param is not None else "--states"
                self.fail(f"The '{name}' option takes state numbers such as 2 or S2. Got {part!r} instead.", param,
                          ctx)
            states.append(int(text))
        return tuple(states)


STATE_SET = _StateSet()


def renamed_options(**renames: str) -> Callable:
    """Old option names that still work for a release: ``renamed_options(every="--interval-steps")`` adds a hidden
    ``--every`` whose value goes to the parameter of ``--interval-steps``, with a one-line warning on stderr naming
    the new option (listed in CHANGELOG.md). Both with different values is a usage error."""

    def decorate(command: Callable) -> Callable:
        @functools.wraps(command)
        def wrapper(*args, **kwargs):
            ctx = click.get_current_context()
            for old, new in renames.items():
                value = kwargs.pop(f"deprecated_{old}")
                if value is None:
                    continue
                old_flag, param = "--" + old.replace("_", "-"), _destination(ctx.command, new)
                click.echo(f"Warning: {old_flag} is deprecated since getsei-live 0.2; use {new}.", err=True)
                target, value = param.name, param.type_cast_value(ctx, value)
                if ctx.get_parameter_source(target) is click.core.ParameterSource.COMMANDLINE:
                    if kwargs[target] != value:
                        raise click.UsageError(f"Give {new} once ({old_flag} is its old name).")
                kwargs[target] = value
            return command(*args, **kwargs)

        for old, new in renames.items():
            wrapper = click.option("--" + old.replace("_", "-"), f"deprecated_{old}", default=None, hidden=True,
                                   help=f"Deprecated: {new}.")(wrapper)
        return wrapper

    return decorate


def _destination(command: click.Command, flag: str) -> click.Parameter:
    return next(p for p in command.params if flag in getattr(p, "opts", ()))


def _joined(ctx, param, values: tuple[tuple[int, ...], ...]) -> tuple[int, ...] | None:
    """The states of every repetition of the option as one tuple; None when it was not given."""
    return tuple(s for group in values for s in group) or None


def endpoint_options(source_default: str, target_default: str) -> list:
    """``--source`` and ``--target``: TPT state sets (``tuple[int, ...]`` or None)."""
    return [click.option("--source", multiple=True, type=STATE_SET, callback=_joined,
                         help=f"Source state(s), e.g. 2 or S2 (default: {source_default})."),
            click.option("--target", multiple=True, type=STATE_SET, callback=_joined,
                         help=f"Target state(s) (default: {target_default}).")]


def endpoints(source_default: str, target_default: str) -> Callable:
    """A decorator adding ``endpoint_options`` to a command."""
    def decorate(command: Callable) -> Callable:
        return functools.reduce(lambda f, option: option(f), reversed(endpoint_options(source_default,
                                                                                       target_default)), command)
    return decorate


def float_list(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ParameterError(f"The '--lags-ps' option takes numbers separated by commas. Got {text!r}.") from None
    if not values:
        raise ParameterError("The '--lags-ps' option needs at least one lag.")
    return values


class _StatesType(click.ParamType):
    """A state-model file that exists, "bundled" (the shipped state model for trying the tool on any of the demo
    interfaces) or, with ``auto``, "auto". "demo" is the old name of "bundled" (it warns): ``getsei-live demo``
    uses the state model of its own interphase, which is another file."""

    def __init__(self, auto: bool = True) -> None:
        self.auto = auto
        self.name = "FILE|bundled|auto" if auto else "FILE|bundled"

    def convert(self, value, param, ctx):
        if isinstance(value, Path) or (self.auto and value == "auto"):
            return value
        if value in ("bundled", "demo"):
            from ..md.calculators import bundled_file

            if value == "demo":
                click.echo("Warning: the state model 'demo' is called 'bundled' since getsei-live 0.2 (the demo "
                           "itself uses the state model of its interphase); use 'bundled'.", err=True)
            return bundled_file("demo_states.pt")
        path = Path(value)
        if not path.is_file():
            self.fail(f"no state-model file at {path} (give a file from 'getsei-live train', 'bundled' for the "
                      f"shipped state model" + (", or 'auto' to train one in the run)" if self.auto else ")"),
                      param, ctx)
        return path


STATES = _StatesType()
STATE_MODEL = _StatesType(auto=False)


class _NStates(click.ParamType):
    """A number of states (at least 2), or "auto"."""

    name = "N|auto"

    def convert(self, value, param, ctx):
        if value == "auto" or isinstance(value, int):
            return value
        if not str(value).isdigit() or int(value) < 2:
            self.fail(f"takes a whole number of at least 2 or 'auto'. Got {value!r}", param, ctx)
        return int(value)


N_STATES = _NStates()


def live_options(command: Callable) -> Callable:
    """The analysis options shared by ``run`` and ``replay``."""
    options = [
        click.option("--states", "states_file", type=STATES, required=True,
                     help="State model file (from getsei-live train); 'bundled': the shipped state model (6 "
                          "states trained on small demo interfaces: for trying the tool, not for physics); for "
                          "'run', 'auto' trains one in the run on the frames of --warmup-ps."),
        click.option("--store", "store_path", type=click.Path(path_type=Path), required=True,
                     help="Zarr store to write; an existing one is resumed."),
        click.option("--lags-ps", default=",".join(f"{lag:g}" for lag in DEFAULT_LAGS_PS), show_default=True,
                     help="Lags at which transitions are counted, in ps, comma-separated; a doubling series lets "
                          "every lag but the longest be tested."),
        click.option("--lag-ps", type=LAG, default="auto", show_default=True,
                     help="Lag of rates and pathways in ps, or 'auto': at each check the shortest stored lag that "
                          "passes the Markov test (while none does, the longest that can be tested: one with a "
                          "stored multiple)."),
        click.option("--core-ps", type=click.FloatRange(min=0), default=DEFAULT_CORE_PS, show_default=True,
                     help="Core assignment: a Li's state changes only after it stayed this long (ps, rounded up to "
                          "whole frames) in the new one; 0 counts the raw labels."),
        click.option("--equilibrate-ps", type=click.FloatRange(min=0), default=0.0, show_default=True,
                     help="ps at the start of the run whose frames are stored but start no counted transition."),
        *endpoint_options("least mobile state holding --min-population of the Li",
                          "most mobile state holding --min-population of the Li"),
        click.option("--check-every-frames", type=click.IntRange(min=1), default=20,
                     show_default=True,
                     help="Frames between analysis snapshots."),
        *criteria_options(),
    ]
    return functools.reduce(lambda f, option: option(f), reversed(options), command)


class _Lag(click.ParamType):
    """A lag in ps, or 'auto'."""

    name = "LAG"

    def convert(self, value, param, ctx):
        if value is None or isinstance(value, float) or value == "auto":
            return value
        try:
            return float(value)
        except ValueError:
            self.fail(f"{value!r} is neither a number of ps nor 'auto'.", param, ctx)


LAG = _Lag()

#: Convergence thresholds offered on the command line: (option, field, click type, help with the unit).
CRITERIA = [
    ("--patience", "patience", click.IntRange(min=1),
     "Checks in a row in which every other condition held and the point estimates stayed put."),
    ("--min-transitions", "min_transitions", click.IntRange(min=0),
     "State changes out of every state (and of a default source/target), each counted once: a change of the "
     "core-assigned label, not a sliding-window pair."),
    ("--share-ci-width", "share_ci_width", click.FloatRange(min=0, min_open=True),
     "Widest allowed interval of a reported route share (fraction of the flux; 0.05 = 5 points)."),
    ("--top-route-confidence", "top_route_confidence", click.FloatRange(min=0, max=1, min_open=True),
     "Fraction of resamples in which the top route must stay on top."),
    ("--timescale-ci-rwidth", "timescale_ci_rwidth", click.FloatRange(min=0, min_open=True),
     "Widest allowed interval of a slow timescale, relative to the estimate."),
    ("--ck-tolerance", "ck_tolerance", click.FloatRange(min=0, min_open=True),
     "Chapman-Kolmogorov: accepted difference of transition probabilities."),
    ("--min-population", "min_population", click.FloatRange(min=0, max=1, max_open=True),
     "Least stationary population (fraction of the Li) of a default source or target state."),
    ("--confidence", "confidence", click.FloatRange(min=0, max=1, min_open=True, max_open=True),
     "Coverage of the intervals."),
    ("--max-ood-fraction", "max_ood_fraction", click.FloatRange(min=0, max=1, max_open=True),
     "Largest fraction of Li environments outside the state model's training distribution before the verdict "
     "says to retrain."),
]


def criteria_options() -> list:
    from ..analysis.criteria import ConvergenceCriteria

    defaults = ConvergenceCriteria()
    return [click.option(flag, field, type=kind, default=getattr(defaults, field), show_default=True, help=text)
            for flag, field, kind, text in CRITERIA]


def make_criteria(options: dict):
    from ..analysis.criteria import ConvergenceCriteria

    return ConvergenceCriteria(**{field: options.pop(field) for _, field, _, _ in CRITERIA})


