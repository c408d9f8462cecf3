"""The demo: Langevin MD of a formed interphase with the bundled MACE potential and the live analysis, stopped once
converged; what ``getsei-live demo``, ``make arrhenius-demo`` and ``benchmarks/bench_demo_truth.py`` run.

The starting structure and the state model of each interface come from ``scripts/make_demo_states.py`` (their
card: ``getsei_live/data/demo_states_<system>.json``). Every setting is a module constant here and printed at the
start of a run; ``getsei-live run`` with the same values gives the same verdict.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..analysis.coring import DEFAULT_CORE_PS
from ..analysis.criteria import ConvergenceCriteria
from ..errors import ParameterError

__all__ = ["DEMO_BUDGET_PS", "DEMO_BUDGETS_PS", "DEMO_CRITERIA", "DEMO_SYSTEM", "DemoRun", "criteria_lines", "demo_endpoints", "demo_setup", "run_demo",
           "stop_summary"]

DEMO_TIMESTEP_FS = 2.0
DEMO_COUPLING_PS = 0.5
#: MD steps between observed frames (0.02 ps).
DEMO_INTERVAL_STEPS = 10
#: The interface ``getsei-live demo`` and ``make demo`` run when none is named: LLZO/Li, whose regions (garnet,
#: interphase, contact, Li metal) survive the bundled potential (docs/tutorials/demo.md says how it was chosen).
DEMO_SYSTEM = "llzo-li"
#: MD budget (ps) of each demo interface, equilibration included: what 2 CPU cores run in about 5 minutes (the
#: Li6PS5Cl/Li interphase, 158 atoms, at 3.2-3.8 ns/day; LGPS/Li, 300 atoms, and the LLZO/Li interphase with its
#: thick Li slab, 384 atoms, at about 1.3-1.7), so that ``make demo`` on a fresh clone ends within 10 minutes,
#: install included. The Li6PS5Cl/Li interphase's verdict (not metastable) is reached at 3-5 ps and holds to 30 ps;
#: the others need far longer (their forecast is printed).
DEMO_BUDGETS_PS = {"lpscl-li": 12.0, "lgps-li": 6.0, "llzo-li": 5.0}
DEMO_BUDGET_PS = DEMO_BUDGETS_PS[DEMO_SYSTEM]
#: Stored, not counted.
DEMO_EQUILIBRATE_PS = 0.5
DEMO_CORE_PS = DEFAULT_CORE_PS
DEMO_LAGS_PS = (0.1, 0.2, 0.4, 0.8, 1.6)
#: Frames between checks (0.5 ps).
DEMO_CHECK_FRAMES = 25
#: The demo's temperature (K): the one its interphase formed at. At 750 K the interphase keeps changing for
#: another 7 ps or more (the stationarity test says so), so the demo stays at the formation temperature.
DEMO_TEMPERATURE_K = 700.0
#: The default criteria but for the slow timescale's interval: 40% of the estimate wide (default 30%), which a 2-core
#: demo resolves in minutes; every threshold is printed at the start of the run.
DEMO_CRITERIA = ConvergenceCriteria(timescale_ci_rwidth=0.4)


@dataclass(frozen=True, slots=True)
class DemoSetup:
    """What a demo run starts from: the interphase, its state model and card, the temperature, and the lines that
    state them."""

    atoms: object
    model: object
    card: dict
    temperature_K: float
    source: int
    target: int
    lines: tuple[str, ...]


def demo_setup(system: str, temperature_K: float | None = None) -> DemoSetup:
    """The demo's starting interphase, state model and temperature for ``system`` (default ``DEMO_TEMPERATURE_K``)."""
    from ase.io import read

    from ..states.model import StateModel
    from .calculators import bundled_file

    try:
        card = json.loads(bundled_file(f"demo_states_{system}.json").read_text())
    except Exception as error:
        raise ParameterError(f"The demo has no state model for {system!r} ({error}); "
                             f"scripts/make_demo_states.py --systems {system} makes one.") from None
    atoms = read(bundled_file(f"demo_start_{system}.extxyz"))
    model = StateModel.load(bundled_file(f"demo_states_{system}.pt"))
    temperature_K = float(DEMO_TEMPERATURE_K if temperature_K is None else temperature_K)
    sampled = card.get("sample_temperatures_K", [card["temperature_K"]])
    lines = [f"Start: the {system} interphase that the bundled MACE potential formed from the built interface "
             f"({card['formed']}); {len(atoms)} atoms, {int((atoms.numbers == 3).sum())} Li",
             f"State model: {model.n_states} states (silhouette {model.silhouette:.2f}"
             + ("" if model.silhouette >= 0.25 else ", below the 0.25 the paper calls reasonable")
             + f"), trained on MD of this interphase at {', '.join(f'{t:g}' for t in sampled)} K"]
    if not min(sampled) <= temperature_K <= max(sampled):
        lines.append(f"Note: {temperature_K:g} K lies outside the temperatures the state model was trained at; the "
                     f"drift guard says whether its states still fit")
    source, target = demo_endpoints(card)
    lines.append(f"Question: how Li moves from S{source}, the most metal-like environment (the fewest anion "
                 f"neighbours: {_neighbours(card, source)}), to S{target}, the least ({_neighbours(card, target)}); fixed from "
                 f"the state model's card before the run, as '--source {source} --target {target}' fixes them")
    return DemoSetup(atoms, model, card, temperature_K, source, target, tuple(lines))


#: The anions whose neighbours make a Li environment less metal-like.
ANIONS = ("O", "S", "Cl")


def demo_endpoints(card: dict) -> tuple[int, int]:
    """The demo's source and target: the states with the fewest and the most anion neighbours (O, S, Cl) in the
    state model's training MD (its card), the most and the least metal-like Li environments; ties go to the state
    with more Li neighbours (source) or fewer (target).

    They are a question fixed before the run, not an estimate: the default endpoints (the least and the most
    mobile state) are chosen again in every resample, and with two states about as mobile as each other which
    one is "least mobile" stays unresolved for far longer than anything else the demo measures. Counted by Li
    neighbours alone, a contact layer (12.5 Li and 2.8 O) would pass for more metal-like than the Li metal (12.3 Li).
    """
    def metal_like(state: dict) -> tuple[float, float]:
        counts = state["mean_counts"]
        return -sum(counts.get(anion, 0.0) for anion in ANIONS), counts.get("Li", 0.0)

    states = sorted(card["states"], key=metal_like)
    if len(states) < 2:
        raise ParameterError("The demo's state model has fewer than two states; no pathway to follow.")
    return int(states[-1]["index"]), int(states[0]["index"])


def _neighbours(card: dict, state: int) -> str:
    """A state's mean neighbour counts from the card, most first, in words."""
    counts = next(s["mean_counts"] for s in card["states"] if s["index"] == state)
    return ", ".join(f"{value:.1f} {element}" for element, value in sorted(counts.items(), key=lambda kv: -kv[1])
                     if value >= 0.05)


def criteria_lines(criteria: ConvergenceCriteria, defaults: ConvergenceCriteria | None = None) -> list[str]:
    """Every convergence threshold in words with its value and unit; the ones that differ from ``defaults`` marked
    as the demo's."""
    return criteria.lines(defaults, changed_by="the demo's")


@dataclass(slots=True)
class DemoRun:
    """A finished demo run: its monitor, state model, criteria, the drift guard's share per check and the setup."""

    monitor: object
    model: object
    criteria: ConvergenceCriteria
    setup: DemoSetup
    budget_ps: float
    fits: list[float] = field(default_factory=list)


def run_demo(system: str = DEMO_SYSTEM, store: str | Path = "demo.zarr", *, budget_ps: float | None = None,
             temperature_K: float | None = None, seed: int = 0, device: str = "auto", stop: bool = True,
             report: Callable[[str], None] = print, on_check: Callable | None = None) -> DemoRun:
    """Run the demo into ``store`` (an existing demo store is replaced); ``stop=False`` runs the whole budget
    (default: the system's, ``DEMO_BUDGETS_PS``)."""
    import shutil

    from ..store.run_store import RunStore
    from .run import MDSettings, run_live_md

    store = Path(store)
    if store.exists():
        RunStore.open(store, "r")  # refuses anything that is not a getsei-live store
        shutil.rmtree(store)
    setup = demo_setup(system, temperature_K)
    budget_ps = DEMO_BUDGETS_PS.get(system, DEMO_BUDGET_PS) if budget_ps is None else float(budget_ps)
    steps = round(budget_ps * 1000 / DEMO_TIMESTEP_FS)
    frame_ps = DEMO_INTERVAL_STEPS * DEMO_TIMESTEP_FS / 1000
    core = ("the default" if DEMO_CORE_PS == DEFAULT_CORE_PS else f"the demo's; the default is {DEFAULT_CORE_PS:g} ps")
    lines = [*setup.lines,
             f"MD: Langevin {setup.temperature_K:g} K, {DEMO_TIMESTEP_FS:g} fs, coupling {DEMO_COUPLING_PS:g} ps, "
             f"budget {budget_ps:g} ps ({steps} steps), a frame every {frame_ps:g} ps, seed {seed}",
             f"Equilibration: the first {DEMO_EQUILIBRATE_PS:g} ps are stored but not counted",
             f"Core assignment: a Li changes state after {DEMO_CORE_PS:g} ps in the new one ({core})",
             f"Lags counted: {', '.join(f'{lag:g}' for lag in DEMO_LAGS_PS)} ps; the analysis uses the shortest that "
             f"passes the Markov test; a check every {DEMO_CHECK_FRAMES} frames ({DEMO_CHECK_FRAMES * frame_ps:g} ps)",
             "Converged when all of these hold (ConvergenceCriteria; 'getsei-live run' takes the same options):",
             *criteria_lines(DEMO_CRITERIA)]
    for line in lines:
        report(line)
    run = DemoRun(None, setup.model, DEMO_CRITERIA, setup, budget_ps)

    def checked(snap) -> None:
        if snap.fit is not None:
            run.fits.append(snap.fit.ood_fraction)
        if on_check is not None:
            on_check(snap)

    md = MDSettings(steps=steps, temperature_K=setup.temperature_K, timestep_fs=DEMO_TIMESTEP_FS,
                    coupling_time_ps=DEMO_COUPLING_PS, interval_steps=DEMO_INTERVAL_STEPS, device=device,
                    dtype="float32", seed=seed)
    run.monitor = run_live_md(setup.atoms, "bundled", setup.model, store, md, report=report, lags_ps=DEMO_LAGS_PS,
                              lag_ps="auto", check_every_frames=DEMO_CHECK_FRAMES, core_ps=DEMO_CORE_PS,
                              equilibrate_ps=DEMO_EQUILIBRATE_PS, criteria=DEMO_CRITERIA, stop_when_stable=stop,
                              source=setup.source, target=setup.target, on_check=checked)
    return run


def stop_summary(monitor, budget_ps: float) -> str:
    """Why the run ended, in a user's words, with how much of its budget the early stop saved."""
    from ..analysis.verdict import explain

    latest = monitor.latest
    if latest is None:
        return f"The run ended after {budget_ps:g} ps without an analysis."
    why = explain(latest)
    if monitor.stop_reason is not None:
        end = latest.time_ps
        return (f"Stopped at {end:.1f} ps of {budget_ps:g} ps ({100 * (1 - end / budget_ps):.0f}% of the budget "
                f"saved): {why.removeprefix('converged: ')}")
    if latest.converged:
        return f"Ran the whole budget ({budget_ps:g} ps; no early stop asked for): {why}"
    return f"Ran the whole budget ({budget_ps:g} ps) without converging: {why}"
