"""Markov chains with known answers, run through the real live observer, for calibrating the early stop.

Each replica draws independent per-Li label streams from a known frame-to-frame
transition matrix and feeds them through ``getsei_live.attach`` on real ASE
dynamics (velocity Verlet of Li atoms with a soft Lennard-Jones potential from
matscipy, the clock): counting, the store, the snapshots, the verdict and the stop are the
product's own code. Only the labelling is replaced, by the chain.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import units
from ase.build import bulk
from ase.md.verlet import VelocityVerlet
from matscipy.calculators.pair_potential import LennardJonesCut, PairPotential
from scipy.special import ndtri

from getsei_live import attach
from getsei_live.analysis import kinetic_model
from getsei_live.analysis.counting import RunCounter
from getsei_live.analysis.criteria import ConvergenceCriteria
from getsei_live.analysis.uncertainty import percentile_interval, resample_counts, route_shares
from getsei_live.states.graphs import LiGraphBuilder
from getsei_live.store.run_store import RunStore

TIMESTEP_FS = 1.0  # one frame per MD step: frame spacing 0.001 ps


@dataclass(frozen=True)
class Chain:
    """A frame-to-frame transition matrix and how to analyse it."""

    name: str
    P: np.ndarray
    source: int
    target: int
    n_li: int = 128
    budget_frames: int = 3000
    lags: tuple[int, ...] = (1, 2, 4)
    lag: int = 1
    regimes: tuple[np.ndarray, ...] = field(default=())
    switch: float = 0.0
    flicker: float = 0.0
    core_frames: int = 1
    ar1: float = 0.0  # > 0: no chain at all; labels cut from an AR(1) variable with this correlation per frame
    late: np.ndarray | None = None  # the matrix of the second half of the budget: a run that drifts

    @property
    def fluctuating(self) -> bool:
        """Labels from a continuous variable: no metastable states, no true answer, never to stop."""
        return self.ar1 > 0

    def observed_matrix(self) -> np.ndarray:
        """The frame-to-frame matrix the labels follow on average (what EDMD converges to).

        For a plain chain, ``P``. With ``regimes``, all Li share one environment
        that switches to the other regime with probability ``switch`` per frame,
        and each Li moves with the matrix of the current regime: the joint chain
        (environment, state) is Markov with a known matrix, and the observed
        lag-1 matrix is ``sum_e P(e | i) P_e[i, j]`` under its stationary law.
        """
        if not self.regimes:
            return self.P
        n, m = self.P.shape[0], len(self.regimes)
        E = np.full((m, m), self.switch / (m - 1))
        np.fill_diagonal(E, 1 - self.switch)
        joint = np.kron(E, np.ones((n, n))) * np.tile(np.vstack(self.regimes), (1, m))  # (e,i) -> (e',j)
        values, vectors = np.linalg.eig(joint.T)
        p = np.abs(np.real(vectors[:, np.argmax(np.real(values))])).reshape(m, n)
        p /= p.sum()
        return sum(p[e][:, None] * self.regimes[e] for e in range(m)) / p.sum(axis=0)[:, None]

    def truth(self) -> dict | None:
        """Top-route shares and the slowest implied timescale (ps) of the exact chain at the analysis lag (None for
        labels of a continuous variable, which have none)."""
        if self.fluctuating:
            return None
        K = np.linalg.matrix_power(self.observed_matrix(), self.lag)
        lag_ps = self.lag * TIMESTEP_FS / 1000
        model = kinetic_model(K * 1e12, lag_ps, source=self.source, target=self.target, n_pathways=None,
                              min_population=0.0, min_transitions=0)
        return {"shares": {tuple(p.states): p.fraction for p in model.pathways},
                "top": tuple(model.pathways[0].states), "t1": float(model.timescales.timescales[0])}


def _normalised(weights) -> np.ndarray:
    P = np.asarray(weights, dtype=float)
    return P / P.sum(axis=1, keepdims=True)


def chains() -> list[Chain]:
    """The benchmark's chains: easy, slow and fast processes, two competing routes, a trap, a larger one."""
    easy = _normalised([[0.90, 0.07, 0.03], [0.05, 0.85, 0.10], [0.02, 0.08, 0.90]])
    slow_fast = _normalised([  # two metastable groups {0,1,2} | {3,4,5}, exchanged rarely through 2 <-> 3;
        # not mirror-symmetric, so that no two routes tie exactly
        [0.80, 0.15, 0.05, 0, 0, 0], [0.10, 0.80, 0.10, 0, 0, 0], [0.05, 0.10, 0.83, 0.02, 0, 0],
        [0, 0, 0.02, 0.85, 0.09, 0.04], [0, 0, 0, 0.12, 0.78, 0.10], [0, 0, 0, 0.03, 0.17, 0.80]])
    competing = _normalised([  # 0 -> 1 -> 3 and 0 -> 2 -> 3 carry nearly the same flux
        [0.90, 0.052, 0.048, 0], [0.05, 0.85, 0, 0.10], [0.05, 0, 0.85, 0.10], [0, 0.05, 0.05, 0.90]])
    trap = _normalised([  # state 3 is entered rarely and left more rarely still
        [0.88, 0.10, 0.01, 0.01], [0.10, 0.85, 0.05, 0], [0.02, 0.08, 0.90, 0], [0.004, 0, 0, 0.996]])
    rng = np.random.default_rng(7)
    ring = np.zeros((8, 8))
    for i in range(8):
        ring[i, i] = 6.0
        ring[i, (i + 1) % 8] = 1.0
        ring[i, (i - 1) % 8] = 0.6
    larger = _normalised(ring + 0.05 * rng.random((8, 8)))
    calm = _normalised([[0.97, 0.02, 0.01], [0.02, 0.96, 0.02], [0.01, 0.02, 0.97]])
    active = _normalised([[0.80, 0.16, 0.04], [0.15, 0.70, 0.15], [0.04, 0.16, 0.80]])
    collective = Chain("3 states, collective", (calm + active) / 2, 0, 2, regimes=(calm, active), switch=0.01,
                       budget_frames=3000)
    # Li that stay about 100 frames in a state: a 2-frame core removes the flicker and few real one-frame visits
    line = _normalised([[0.99, 0.008, 0.002, 0], [0.006, 0.985, 0.009, 0], [0, 0.009, 0.985, 0.006],
                        [0, 0.002, 0.008, 0.99]])
    # exactly equal flux through 1 and 2 (mirror-symmetric): the answer is a tie
    equal = _normalised([[0.90, 0.05, 0.05, 0], [0.05, 0.85, 0, 0.10], [0.05, 0, 0.85, 0.10], [0, 0.05, 0.05, 0.90]])
    # 0 -> i -> 4 through three intermediates entered in proportion 5:3:2, each left to 0 or 4 alike: shares 50/30/20
    three = _normalised([[0.90, 0.05, 0.03, 0.02, 0], [0.05, 0.90, 0, 0, 0.05], [0.05, 0, 0.90, 0, 0.05],
                         [0.05, 0, 0, 0.90, 0.05], [0, 0.05, 0.03, 0.02, 0.90]])
    # not a chain: an AR(1) variable (correlation 0.97 per frame) cut into thirds, with flicker, cored over 3 frames
    fluctuations = Chain("3 'states' of one variable", np.full((3, 3), 1 / 3), 0, 2, ar1=0.97, flicker=0.1,
                         core_frames=3, budget_frames=4000)
    return [Chain("3 states, easy", easy, 0, 2),
            collective,
            Chain("6 states, slow + fast", slow_fast, 0, 5, budget_frames=4000),
            Chain("4 states, competing routes", competing, 0, 3),
            Chain("4 states, trap", trap, 0, 2, budget_frames=4000),
            Chain("8 states, ring", larger, 0, 4, budget_frames=4000),
            Chain("4 states, flicker, raw", line, 0, 3, flicker=0.1, budget_frames=4000),
            Chain("4 states, flicker, cored", line, 0, 3, flicker=0.1, core_frames=2, budget_frames=4000),
            Chain("4 states, two equal routes", equal, 0, 3, budget_frames=3000),
            Chain("5 states, routes 50/30/20", three, 0, 4, budget_frames=3000),
            fluctuations]


def _cut_variable(chain: Chain, rng: np.random.Generator) -> np.ndarray:
    """(budget_frames, n_li) labels of a stationary AR(1) variable per Li cut into equally likely intervals."""
    n, a = chain.P.shape[0], chain.ar1
    x = np.empty((chain.budget_frames, chain.n_li))
    x[0] = rng.standard_normal(chain.n_li)
    for t in range(1, chain.budget_frames):
        x[t] = a * x[t - 1] + np.sqrt(1 - a * a) * rng.standard_normal(chain.n_li)
    cuts = ndtri(np.arange(1, n) / n)
    return np.digitize(x, cuts).astype(np.int8)


def labels(chain: Chain, rng: np.random.Generator) -> np.ndarray:
    """(budget_frames, n_li) labels started from the stationary law: independent realisations of the chain, or
    with ``regimes``, Li that share one switching environment, or (``ar1``) a continuous variable cut into
    states."""
    n = chain.P.shape[0]
    if chain.fluctuating:
        out = _cut_variable(chain, rng)
        return _flickered(out, chain.flicker, n, rng) if chain.flicker else out
    observed = chain.observed_matrix()
    values, vectors = np.linalg.eig(observed.T)
    pi = np.abs(np.real(vectors[:, np.argmax(np.real(values))]))
    pi /= pi.sum()
    matrices = chain.regimes or (chain.P,)
    cumulative = [np.cumsum(P, axis=1) for P in matrices]
    regime = int(rng.integers(len(matrices)))
    out = np.empty((chain.budget_frames, chain.n_li), dtype=np.int8)
    out[0] = rng.choice(n, size=chain.n_li, p=pi)
    for t in range(1, chain.budget_frames):
        u = rng.random(chain.n_li)[:, None]
        if chain.late is not None and t == chain.budget_frames // 2:
            cumulative = [np.cumsum(chain.late, axis=1)]
        out[t] = np.minimum((u > cumulative[regime][out[t - 1]]).sum(axis=1), n - 1)
        if len(matrices) > 1 and rng.random() < chain.switch:
            regime = (regime + 1 + int(rng.integers(len(matrices) - 1))) % len(matrices)
    return _flickered(out, chain.flicker, n, rng) if chain.flicker else out


def _flickered(true: np.ndarray, rate: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """Labels that show each Li's true state, but in a share ``rate`` of frames (never two in a row) a neighbouring
    state instead, for that one frame: the per-frame flicker of real labels."""
    jump = rng.random(true.shape) < rate
    jump[1:] &= ~jump[:-1]
    step = np.where(rng.random(true.shape) < 0.5, -1, 1)
    neighbour = np.clip(true + step, 0, n - 1)
    neighbour = np.where(neighbour == true, true - step, neighbour)  # at the ends: the one neighbour there is
    return np.where(jump, neighbour, true).astype(np.int8)


class ChainLabels:
    """Stands in for the state model: each call returns the next precomputed frame of labels."""

    def __init__(self, frames: np.ndarray, n_states: int, name: str) -> None:
        self.frames, self.n_states = frames, n_states
        self.builder = LiGraphBuilder(elements=("Li",))
        self.fingerprint = "chain-" + name
        self.calls = 0

    def check(self, atoms) -> None:
        self.builder.check(atoms)

    def describe(self) -> dict:
        return {"fingerprint": self.fingerprint}

    def assign(self, atoms) -> np.ndarray:
        frame = self.frames[self.calls]
        self.calls += 1
        return frame


def _li_atoms(n_li: int):
    cells = int(np.ceil((n_li / 2) ** (1 / 3)))
    atoms = bulk("Li", "bcc", a=3.44, cubic=True).repeat(cells)[:n_li]
    atoms.calc = PairPotential({(3, 3): LennardJonesCut(epsilon=0.01, sigma=2.7, cutoff=5.0)})  # vectorised
    return atoms


def run_replica(chain: Chain, seed: int, criteria: ConvergenceCriteria, *, check_every: int = 50,
                workdir: Path | None = None, keep: Path | None = None) -> dict:
    """One replica through ``attach`` with early stop; returns the snapshot history and the stored states (the
    store is written to ``keep/run.zarr`` and kept there, when given)."""
    rng = np.random.default_rng(seed)
    frames = labels(chain, rng)
    atoms = _li_atoms(chain.n_li)
    dyn = VelocityVerlet(atoms, timestep=TIMESTEP_FS * units.fs)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        path = Path(keep or tmp) / "run.zarr"
        dt_ps = TIMESTEP_FS / 1000
        monitor = attach(dyn, ChainLabels(frames, chain.P.shape[0], f"{chain.name}-{seed}"), store=path, interval_steps=1,
                         lags_ps=tuple(lag * dt_ps for lag in chain.lags), lag_ps=chain.lag * dt_ps,
                         core_ps=0.0 if chain.core_frames == 1 else chain.core_frames * dt_ps,
                         source=chain.source, target=chain.target, check_every_frames=check_every, criteria=criteria,
                         stop_when_stable=True, seed=seed)
        with monitor:
            dyn.run(chain.budget_frames - 1)
        store = RunStore.open(path)
        return {"snapshots": store.snapshots(), "states": store.states(), "stopped": monitor.stop_reason is not None}


def old_stop(snapshots: list[dict], patience: int) -> dict | None:
    """The first check at which the previous criterion (point estimates unchanged and enough transitions for
    ``patience`` checks in a row) would have stopped."""
    streak = 0
    for snap in snapshots:
        enough = next(c["passed"] for c in snap["conditions"] if c["name"] == "min_transitions")
        streak = streak + 1 if snap["stable"] and enough else 0
        if streak >= patience:
            return snap
    return None


def old_intervals(chain: Chain, states: np.ndarray, frame: int, route: tuple[int, ...], *, seed: int,
                  n_bootstrap: int = 50, confidence: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """The previous criterion's intervals at ``frame``: resampling Li atoms only, 50 resamples.

    Returns the interval of ``route``'s share and of the slowest timescale.
    """
    counter = RunCounter(chain.P.shape[0], chain.lags, chain.n_li, core_frames=chain.core_frames)
    counter.update_many(states[:frame])
    k = chain.lags.index(chain.lag)
    lags_ps = [lag * TIMESTEP_FS / 1000 for lag in chain.lags]
    model = kinetic_model(counter.counts()[k], lags_ps[k], source=chain.source, target=chain.target)
    actives = [model.transition.active_set] * len(chain.lags)
    res = resample_counts(counter.per_li_counts(), lags_ps, actives, n_resamples=n_bootstrap,
                          rng=np.random.default_rng(seed), method="li")
    shares = route_shares(res, k, model.transition.active_set, model.source, model.target, [route]).shares
    return percentile_interval(shares[:, 0], confidence), percentile_interval(res.timescales[:, k, 0], confidence)


def inside(interval, value: float) -> bool:
    return interval is not None and None not in list(interval) and interval[0] <= value <= interval[1]


def _every_share_covered(snap: dict, truth: dict, floor: float = 0.10) -> bool:
    """Whether every true route share of at least ``floor`` is reported, inside its interval."""
    reported = {tuple(p["states"]): k for k, p in enumerate(snap["pathways"])}
    ci = snap["pathway_fraction_ci"]
    return all(route in reported and inside(ci[reported[route]], share)
               for route, share in truth["shares"].items() if share >= floor)


#: Shares of the actual stop time at which the forecast is read.
FORECAST_AT = (0.25, 0.5, 0.75)


def forecast_ratio(snapshots: list, stop_ps: float, share: float) -> float:
    """The forecast ``converged_ps`` of the check nearest ``share`` of the stop time, over the stop time (inf where
    it forecast no convergence, NaN without a forecast)."""
    snap = min(snapshots, key=lambda s: abs(s.time_ps - share * stop_ps))
    return float("nan") if snap.forecast is None else snap.forecast.converged_ps / stop_ps


def judge_replica(chain: Chain, result: dict, truth: dict | None, *, patience: int, seed: int) -> dict:
    """Stop time (fraction of the budget), coverage and top-route correctness for the current and the old criterion
    (for labels of a continuous variable, which have no true answer: only whether and when it stopped)."""
    snaps = result["snapshots"]
    new = next((s for s in snaps if s["converged"]), snaps[-1])
    row = {}
    top = tuple(new["pathways"][0]["states"]) if new["pathways"] else ()
    tied = [tuple(new["pathways"][k]["states"]) for k in new.get("comparable_routes") or [0] if new["pathways"]]
    row["new"] = {
        "stop": (new["frame"] if new["converged"] else chain.budget_frames) / chain.budget_frames,
        "stopped": bool(new["converged"]),
    }
    if new.converged:  # the forecasts made on the way, against the actual stop
        row["forecast"] = {share: forecast_ratio(snaps, new.time_ps, share) for share in FORECAST_AT}
    if truth is None:
        return row
    row["new"] |= {
        "share_cover": inside(new["pathway_fraction_ci"][0], truth["shares"].get(top, 0.0)),
        "every_share_cover": _every_share_covered(new, truth),
        "t1_cover": inside(new["timescales_ci"][0], truth["t1"]),
        "top_right": truth["top"] in tied,
        "tie": len(tied) > 1,
    }
    old = old_stop(snaps, patience) or snaps[-1]
    old_top = tuple(old["pathways"][0]["states"])
    share_ci, t1_ci = old_intervals(chain, result["states"], old["frame"], old_top, seed=seed)
    row["old"] = {
        "stop": old["frame"] / chain.budget_frames,
        "stopped": old_stop(snaps, patience) is not None,
        "share_cover": inside(share_ci, truth["shares"].get(old_top, 0.0)),
        "t1_cover": inside(t1_ci, truth["t1"]),
        "top_right": old_top == truth["top"],
    }
    return row
