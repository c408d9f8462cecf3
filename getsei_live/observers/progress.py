"""A progress bar for a live run: steps done of ``dyn.run``'s, the ETA, simulated ps, ns/day, temperature and
the verdict (tqdm, to stderr).

``attach(dyn, ..., progress=True)`` attaches it; scripts stay quiet by default. The bar's total is read from the
dynamics when ``dyn.run(n)`` starts (ASE sets ``dyn.max_steps``), so it needs nothing but the dynamics and the
monitor, and an early stop leaves the bar where the run ended.
"""

from __future__ import annotations

import sys
import time
import weakref

from ase import units

__all__ = ["ProgressBar", "eta_text", "forecast_text"]


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
        ns_day = ps / 1000 / (elapsed / 86400) if elapsed > 0 else 0.0
        self._bar.set_postfix_str(f"{ps:.2f} ps, {ns_day:.2f} ns/day, frames {self.monitor.n_frames}, "
                                  f"T {self.dyn.atoms.get_temperature():.0f} K, "
                                  f"{forecast_text(self.monitor)}", refresh=False)
        self._bar.update(done - self._bar.n)
        self._seen = self.dyn.nsteps

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
