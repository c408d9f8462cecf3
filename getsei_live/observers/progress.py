"""Progress of a live run: steps done of ``dyn.run``'s, the ETA, simulated ps, ns/day, temperature and the verdict
with its forecast; as a bar (tqdm, to stderr: ``ProgressBar``) or as a line about every 10 s (``ProgressLines``, what
``getsei-live run`` and ``demo`` print). Both measure the speed the same way (``ns_per_day``).

``attach(dyn, ..., progress=True)`` attaches the bar; scripts stay quiet by default. The bar's total is read from the
dynamics when ``dyn.run(n)`` starts (ASE sets ``dyn.max_steps``), so it needs nothing but the dynamics and the
monitor, and an early stop leaves the bar where the run ended.
"""

from __future__ import annotations

import sys
import time
import weakref

from collections.abc import Callable

from ase import units

__all__ = ["ProgressBar", "ProgressLines", "eta_text", "forecast_text", "ns_per_day"]


def ns_per_day(ps: float, seconds: float) -> float:
    """MD speed: ``ps`` simulated in ``seconds`` of wall time, in ns per day (0 before any time has passed)."""
    return ps / 1000 / (seconds / 86400) if seconds > 0 else 0.0


def eta_text(seconds: float) -> str:
    """Seconds left as ``1 h 02 min``, ``3 min 05 s`` or ``12 s``; "?" when not known yet."""
    if not seconds >= 0 or seconds == float("inf"):
        return "?"
    seconds = round(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"


def forecast_text(monitor) -> str:
    """The verdict of the monitor's last check with its forecast: "converged", "not converged, forecast at ~41 ps
    (28 ps from now)" or "not converged, not forecast to converge"."""
    if monitor.converged:
        return "converged"
    latest = monitor.latest
    ahead = latest.forecast if latest is not None else None
    if ahead is None:
        return "not converged"
    if ahead.never:
        return "not converged, not forecast to converge"
    if not ahead.finite:
        return "not converged, no forecast yet"
    return f"not converged, forecast at ~{ahead.converged_ps:.3g} ps ({ahead.converged_ps - ahead.time_ps:.3g} ps from now)"


class ProgressBar:
    """An ASE observer that moves a tqdm bar over the MD steps of the current ``dyn.run``.

    Parameters
    ----------
    dyn : ase.md.md.MolecularDynamics
    monitor : LiveMonitor
        Its frame count and verdict go into the bar's text.
    file : text stream, default ``sys.stderr``
    """

    def __init__(self, dyn, monitor, *, file=None) -> None:
        self._dyn, self.monitor, self.file = weakref.ref(dyn), monitor, file  # weakly, as ASE's own observers
        self._bar = None
        self._start_step, self._start_time, self._max_steps = 0, 0.0, None
        self._seen = dyn.nsteps  # where the next dyn.run starts, as far as the observer can tell

    @property
    def dyn(self):
        return self._dyn()

    def _open(self) -> None:
        from tqdm.auto import tqdm

        self._start_step, self._start_time = self._seen, time.perf_counter()
        total = self._max_steps = getattr(self.dyn, "max_steps", None)
        self._bar = tqdm(total=None if total is None else max(int(total) - self._start_step, 0), unit="step",
                         desc="MD", file=self.file or sys.stderr, dynamic_ncols=True, smoothing=0.1)

    def __call__(self) -> None:
        if self.dyn is None:
            return
        if self._bar is None or getattr(self.dyn, "max_steps", None) != self._max_steps:  # a new dyn.run
            self.close()
            self._open()
        done = self.dyn.nsteps - self._start_step
        elapsed = time.perf_counter() - self._start_time
        ps = done * self.dyn.dt / (1000 * units.fs)
        self._bar.set_postfix_str(f"{ps:.2f} ps, {ns_per_day(ps, elapsed):.2f} ns/day, frames {self.monitor.n_frames}, "
                                  f"T {self.dyn.atoms.get_temperature():.0f} K, "
                                  f"{forecast_text(self.monitor)}", refresh=False)
        self._bar.update(done - self._bar.n)
        self._seen = self.dyn.nsteps

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class ProgressLines:
    """An ASE observer that reports a line about every ``every_s`` seconds (and at the first and last step): the
    absolute step, simulated time, speed, frames, temperature, the time left to the end of the budget (ETA; an early
    stop comes sooner) and the verdict with its forecast.

    Parameters
    ----------
    dyn : ase.md.md.MolecularDynamics
        Held weakly, as ASE's own observers hold it.
    monitor : LiveMonitor
    report : callable
        Receives each line.
    steps : int
        MD steps of this ``dyn.run``.
    first_step : int, default 0
        The absolute step this ``dyn.run`` starts at (a resumed run's).
    """

    def __init__(self, dyn, monitor, report: Callable[[str], None], steps: int, *, first_step: int = 0,
                 every_s: float = 10.0) -> None:
        self._dyn, self.monitor, self.report = weakref.ref(dyn), monitor, report
        self.steps, self.first_step, self.every_s = int(steps), int(first_step), float(every_s)
        self._start, self._last = time.perf_counter(), 0.0

    def __call__(self) -> None:
        dyn = self._dyn()
        if dyn is None:
            return
        elapsed = time.perf_counter() - self._start
        if elapsed - self._last < self.every_s and dyn.nsteps not in (0, self.steps):
            return
        self._last = elapsed
        fs = dyn.dt / units.fs
        ps, at_ps = dyn.nsteps * fs / 1000, (self.first_step + dyn.nsteps) * fs / 1000
        left = (self.steps - dyn.nsteps) * elapsed / dyn.nsteps if dyn.nsteps else float("nan")
        self.report(f"step {self.first_step + dyn.nsteps:>9}  {at_ps:9.2f} ps  {ns_per_day(ps, elapsed):7.3f} ns/day  "
                    f"frames {self.monitor.n_frames:>6}  T {dyn.atoms.get_temperature():6.0f} K  "
                    f"ETA {eta_text(left):>12}  {forecast_text(self.monitor)}")
