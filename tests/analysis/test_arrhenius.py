"""Arrhenius fits recover activation energies of chains generated with known ones."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.linalg
from click.testing import CliRunner
from reference import chain_labels

from getsei_live.analysis.arrhenius import BOLTZMANN_EV_PER_K, arrhenius_fit, rates_at_temperature
from getsei_live.analysis.counting import TransitionCounter
from getsei_live.analysis.uncertainty import resampling_units
from getsei_live.cli import main
from getsei_live.errors import ParameterError
from getsei_live.offline.temperatures import arrhenius_stores
from getsei_live.store.run_store import RunStore
from getsei_live.store.spec import RunSpec

#: A three-state chain 0 <-> 1 <-> 2: (from, to) -> (prefactor 1/ps, activation energy eV).
BARRIERS = {(0, 1): (40.0, 0.30), (1, 0): (60.0, 0.20), (1, 2): (30.0, 0.25), (2, 1): (50.0, 0.35)}
TEMPERATURES = (500.0, 600.0, 700.0, 800.0)
FRAME_PS = 0.1
LAGS = (1, 2, 4)


def generator(T: float) -> np.ndarray:
    Q = np.zeros((3, 3))
    for (i, j), (A, Ea) in BARRIERS.items():
        Q[i, j] = A * np.exp(-Ea / (BOLTZMANN_EV_PER_K * T))
    np.fill_diagonal(Q, -Q.sum(axis=1))
    return Q


def labels_at(T: float, rng, n_frames: int = 1500, n_li: int = 40) -> np.ndarray:
    return chain_labels(scipy.linalg.expm(generator(T) * FRAME_PS), n_frames, n_li, rng)


def counted(labels: np.ndarray) -> TransitionCounter:
    counter = TransitionCounter(3, LAGS, labels.shape[1])
    counter.update_many(labels)
    return counter


def fits_of(rng, confidence=0.9):
    """Arrhenius fits of the four rates and the two single-exit escape rates on freshly generated chains."""
    at_t = []
    for T in TEMPERATURES:
        counter = counted(labels_at(T, rng))
        units = resampling_units(counter.per_li_counts(), counter.block_counts(), min_blocks=8)
        at_t.append(rates_at_temperature(T, counter.counts(), units, lags_ps=[k * FRAME_PS for k in LAGS],
                                         lag_index=0, n_resamples=150, rng=rng))
    G, S = np.stack([r.generator for r in at_t]), np.stack([r.samples for r in at_t])
    out = {}
    for (i, j) in BARRIERS:
        out[(i, j)] = arrhenius_fit(TEMPERATURES, G[:, i, j], S[..., i, j], confidence=confidence)
    for i, j in ((0, 1), (2, 1)):  # single exits: the escape rate is that one rate
        out[f"escape {i}"] = arrhenius_fit(TEMPERATURES, -G[:, i, i], -S[..., i, i], confidence=confidence)
    return out


def true_activation(key) -> float:
    return BARRIERS[key][1] if isinstance(key, tuple) else BARRIERS[(int(key[-1]), 1)][1]


def test_activation_energies_are_recovered_with_nominal_coverage():
    """40 independent data sets (four temperatures each): the 90% intervals of E_a, of the prefactor and of the
    rate extrapolated to 300 K, and of the rate at each temperature, hold the true value about 90% of the time."""
    rng = np.random.default_rng(3)
    hits, errors = {"Ea": [], "A": [], "k300": [], "k(T)": []}, []
    for _ in range(40):
        for key, fit in fits_of(rng).items():
            Ea = true_activation(key)
            A = BARRIERS[key if isinstance(key, tuple) else (int(key[-1]), 1)][0]
            lo, hi = fit.activation_eV_ci
            hits["Ea"].append(lo <= Ea <= hi)
            hits["A"].append(fit.prefactor_ci[0] <= A <= fit.prefactor_ci[1])
            k300 = A * np.exp(-Ea / (BOLTZMANN_EV_PER_K * 300.0))
            hits["k300"].append(fit.rate_at_ci[0] <= k300 <= fit.rate_at_ci[1])
            k_T = A * np.exp(-Ea / (BOLTZMANN_EV_PER_K * np.array(TEMPERATURES)))
            hits["k(T)"] += list((fit.rate_ci[:, 0] <= k_T) & (k_T <= fit.rate_ci[:, 1]))
            errors.append(fit.activation_eV - Ea)
    coverage = {k: float(np.mean(v)) for k, v in hits.items()}
    print(f"coverage of 90% intervals over {len(errors)} fits: " + ", ".join(f"{k} {100 * v:.0f}%"
                                                                             for k, v in coverage.items())
          + f"; E_a error mean {np.mean(errors) * 1000:+.1f} meV, rms {np.sqrt(np.mean(np.square(errors))) * 1000:.1f} meV")
    assert all(v >= 0.8 for v in coverage.values()), coverage
    assert abs(np.mean(errors)) < 0.01


def write_store(path, labels: np.ndarray, T: float | None, fingerprint: str = "synthetic") -> None:
    spec = RunSpec(fingerprint=fingerprint, n_states=3, timestep_fs=100.0, interval_steps=1, lags_frames=LAGS,
                   li_indices=tuple(range(labels.shape[1])))
    counter = counted(labels)
    store = RunStore.create(path, spec, temperature_K=T)
    for k, row in enumerate(labels):
        store.append(k, k * FRAME_PS, row)
    store.flush(counter.tally())
    store.set_status("finished")
    store.close()


@pytest.fixture(scope="module")
def temperature_stores(tmp_path_factory):
    """Stores at 500-800 K, two replicas at 600 K."""
    rng = np.random.default_rng(5)
    folder = tmp_path_factory.mktemp("arrhenius")
    paths = []
    for T in TEMPERATURES:
        for replica in range(2 if T == 600.0 else 1):
            path = folder / f"T{T:.0f}_{replica}.zarr"
            write_store(path, labels_at(T, rng, n_li=40 if replica == 0 else 20), T)
            paths.append(path)
    return paths


def test_arrhenius_of_stores(temperature_stores, tmp_path):
    result = arrhenius_stores(temperature_stores, n_bootstrap=150, confidence=0.99)  # one data set: see the
    # coverage test for how often the 90% intervals hold the truth
    assert [row.temperature_K for row in result.temperatures] == list(TEMPERATURES)
    assert [row.n_runs for row in result.temperatures] == [1, 2, 1, 1]
    assert result.lag_ps == pytest.approx(0.1) and not result.notes  # a Markov chain: the shortest lag passes
    by_name = {f.name: f for f in result.transitions + result.escape}
    for (i, j), (A, Ea) in BARRIERS.items():
        fit = by_name[f"S{i} -> S{j}"]
        assert fit.activation_eV_ci[0] <= Ea <= fit.activation_eV_ci[1], (fit.name, fit.activation_eV_ci)
        truth = np.array([generator(T)[i, j] for T in TEMPERATURES])
        np.testing.assert_allclose(fit.rates, truth, rtol=0.2)  # how often the intervals hold it: coverage test
    assert {"S0 -> S2", "S2 -> S0"}.isdisjoint(by_name) or by_name["S0 -> S2"].rates.max() < 0.05
    out = tmp_path / "arr"
    cli = CliRunner().invoke(main, ["arrhenius", *map(str, temperature_stores), "-o", str(out), "--at-K", "350"])
    assert cli.exit_code == 0, cli.output
    assert "E_a (eV)" in cli.output and "k(350 K)" in cli.output and "S1 -> S0" in cli.output
    assert (out / "arrhenius.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((out / "arrhenius.json").read_text())
    assert data["at_K"] == 350.0 and len(data["escape"]) == 3


def test_arrhenius_refuses_what_cannot_be_fitted(temperature_stores, tmp_path):
    rng = np.random.default_rng(1)
    with pytest.raises(ParameterError, match="two temperatures or more"):
        arrhenius_stores(temperature_stores[1:3])
    unknown = tmp_path / "unknown.zarr"
    write_store(unknown, labels_at(700.0, rng, n_frames=50), None)
    with pytest.raises(ParameterError, match="record no temperature.*--temperature-K"):
        arrhenius_stores([temperature_stores[0], unknown])
    other = tmp_path / "other.zarr"
    write_store(other, labels_at(700.0, rng, n_frames=50), 700.0, fingerprint="another model")
    with pytest.raises(ParameterError, match="States must mean the same at every temperature"):
        arrhenius_stores([temperature_stores[0], other])
