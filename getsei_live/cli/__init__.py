"""The ``getsei-live`` command line: click commands that print tables, or JSON with ``--json``.

Every ``GetseiError`` becomes a one-line message and exit status 2, Ctrl-C one line and status 130, SIGTERM (a batch
system's time limit) the same clean stop with status 143 (``--debug`` shows the traceback).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from typing import Any

import click

from .. import __version__
from .._zarr_io import one_io_thread
from ..errors import GetseiError, ParameterError, RunInterrupted, Terminated


class _Group(click.Group):
    """Turns a GetseiError into one line on stderr and exit status 2, unless ``--debug``."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as error:  # bad option values: one line too, with where to look
            if ctx.obj and ctx.obj.get("debug"):
                raise
            where = f" (see '{error.ctx.command_path} --help')" if error.ctx is not None else ""
            click.echo(f"Error: {error.format_message()}{where}", err=True)
            ctx.exit(2)
        except GetseiError as error:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"Error: {as_typed(error, self.get_command(ctx, ctx.invoked_subcommand or ''))}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt as error:  # Ctrl-C or SIGTERM: one line and the shell's status for the signal
            if ctx.obj and ctx.obj.get("debug"):
                raise
            signal_number = getattr(error, "signal_number", signal.SIGINT)
            text = str(error) if isinstance(error, RunInterrupted) else (
                f"Stopped by {error}: what was labelled is committed and the store says it was interrupted; run the "
                f"same command to resume." if isinstance(error, Terminated) else str(error) or "Interrupted.")
            click.echo(text, err=True)
            ctx.exit(128 + int(signal_number))


def _terminated(signum: int, frame: Any) -> None:
    """SIGTERM (a batch system's time limit) stops a command as Ctrl-C does."""
    raise Terminated()


def as_typed(error: GetseiError, command: click.Command | None) -> str:
    """The error's message, naming a parameter of the command's as the user typed it ("The --lags-ps option must
    ..."): a ``ParameterError`` says which parameter it is about."""
    if isinstance(error, ParameterError) and error.parameter:
        for param in getattr(command, "params", ()):
            if isinstance(param, click.Option) and (param.name or "").lower() == error.parameter.lower():
                return error.worded(param.opts[0])
    return str(error)


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="getsei-live")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.pass_context
def main(ctx: click.Context, debug: bool, verbose: int) -> None:
    """Live GET-SEI analysis of lithium transport in ASE molecular dynamics."""
    ctx.obj = {"debug": debug}
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminated)
    one_io_thread()  # zarr's I/O on one thread: a run's memory grows less (getsei_live._zarr_io)
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)



from . import arrhenius, kinetics, models, simulate  # noqa: E402,F401  (registers the commands)

__all__ = ["main"]
