"""StateModel: training on the real Li6PS5Cl AIMD runs (tiny settings), determinism, files, errors."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from conftest import TINY_TRAINING, train_tiny
from sklearn.metrics import adjusted_rand_score

from getsei_live import FeatureSchemaError, StructureError
from getsei_live.errors import ModelFileError
from getsei_live.states.encoder import nt_xent
from getsei_live.states.model import StateModel
from getsei_live.states.model_file import SCHEMA_VERSION

TINY = TINY_TRAINING


@pytest.fixture
def model(tiny_model):
    return tiny_model


def train(frames, seed, n_states=4):
    return train_tiny(frames, seed, n_states)


def test_loss_goes_down_on_real_data(model):
    losses = model.training["losses"]
    assert len(losses) == TINY["epochs"]
    assert losses[-1] < losses[0] - 0.05, losses


def test_nt_xent_matches_the_formula():
    torch.manual_seed(0)
    z1, z2 = torch.randn(5, 3), torch.randn(5, 3)
    z = torch.nn.functional.normalize(torch.cat([z1, z2]), dim=1)
    total = 0.0
    for i in range(10):  # -log(exp(s_ip / t) / sum_{k != i} exp(s_ik / t)), written out
        positive = (i + 5) % 10
        others = sum(torch.exp(z[i] @ z[k] / 0.5) for k in range(10) if k != i)
        total += -torch.log(torch.exp(z[i] @ z[positive] / 0.5) / others)
    assert float(nt_xent(z1, z2, 0.5)) == pytest.approx(float(total / 10), rel=1e-5)


def test_assign_shapes_and_physical_order(model, aimd_frames):
    frame = aimd_frames["test"][0]
    labels = model.assign(frame)
    assert labels.dtype == np.int8 and labels.shape == (192,)
    assert model.embed(frame).shape == (192, 16)
    assert set(np.unique(labels)) <= set(range(model.n_states))
    # States are numbered by ascending mean Li count of the central Li's shell: recount with a plain loop.
    symbols = np.array(frame.get_chemical_symbols())
    li_count = {s: [] for s in range(model.n_states)}
    for frame in aimd_frames["train"][0] + aimd_frames["train"][1]:
        labels = model.assign(frame)
        distances = frame.get_all_distances(mic=True)
        for label, i in zip(labels, np.flatnonzero(symbols == "Li")):
            li_count[int(label)].append(int(np.sum((distances[i] < 4.0) & (symbols == "Li"))) - 1)
    means = [np.mean(li_count[s]) for s in range(model.n_states) if li_count[s]]
    assert means == sorted(means)
    for state, described in zip(range(model.n_states), model.states):
        if li_count[state]:
            assert described.mean_counts["Li"] == pytest.approx(np.mean(li_count[state]), abs=1e-9)


def test_same_seed_same_labels_other_seed_similar_labels(model, aimd_frames):
    again = train(aimd_frames["train"], seed=1)
    other = train(aimd_frames["train"], seed=2)
    test = aimd_frames["test"]
    ours = np.concatenate([model.assign(f) for f in test])
    assert np.array_equal(ours, np.concatenate([again.assign(f) for f in test]))
    assert again.fingerprint == model.fingerprint
    theirs = np.concatenate([other.assign(f) for f in test])
    ari = adjusted_rand_score(ours, theirs)
    agreement = float(np.mean(ours == theirs))
    print(f"seed 1 vs seed 2: adjusted Rand index {ari:.3f}, same state number for {agreement:.1%} of Li")
    # Threshold. Independent random labellings of these 768 environments give |ARI| < 0.01, so 0.05
    # is far above chance. It is low on purpose: bulk Li6PS5Cl at 500 K has no well-separated Li
    # environments (silhouette 0.06-0.2), and encoders trained from different seeds split the
    # continuum differently; with these tiny settings seeds 1-3 measured ARI 0.07-0.10 at 4 states
    # (0.14-0.30 with the default encoder and 15 epochs). See the closing note of issue 3.
    assert ari > 0.05


def test_save_load_round_trip(model, aimd_frames, tmp_path):
    path = model.save(tmp_path / "states.pt")
    payload = torch.load(path, weights_only=True)
    assert set(payload) == {"config", "encoder", "arrays"}
    loaded = StateModel.load(path)
    for frame in aimd_frames["test"]:
        assert np.array_equal(loaded.assign(frame), model.assign(frame))
    assert loaded.fingerprint == model.fingerprint
    assert loaded.silhouette == model.silhouette and loaded.states == model.states


class Payload:
    """Anything that is not a plain value: loading it would run this module's code."""


def test_pickled_object_is_refused(model, tmp_path):
    path = tmp_path / "evil.pt"
    payload = torch.load(model.save(tmp_path / "ok.pt"), weights_only=True)
    payload["extra"] = Payload()
    torch.save(payload, path)
    with pytest.raises(ModelFileError, match="contains pickled Python objects.*Unsupported global.*Payload"):
        StateModel.load(path)
    raw = tmp_path / "raw.pt"
    raw.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(ModelFileError, match="not a torch archive"):
        StateModel.load(raw)


def test_not_a_model_and_newer_schema(model, tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_text("hello")
    with pytest.raises(ModelFileError, match="not a getsei-live state model"):
        StateModel.load(junk)
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(ModelFileError, match="not a getsei-live state model"):
        StateModel.load(tmp_path / "other.pt")
    payload = torch.load(model.save(tmp_path / "ok.pt"), weights_only=True)
    payload["config"] = payload["config"].replace(f'"schema_version": {SCHEMA_VERSION}', '"schema_version": 99')
    torch.save(payload, tmp_path / "new.pt")
    with pytest.raises(ModelFileError, match="schema 99, newer than"):
        StateModel.load(tmp_path / "new.pt")
    with pytest.raises(ModelFileError, match="No state-model file"):
        StateModel.load(tmp_path / "missing.pt")


def test_assign_errors(model, aimd_frames):
    frame = aimd_frames["test"][0].copy()
    frame[0].symbol = "Fe"
    with pytest.raises(FeatureSchemaError, match="contains Fe, outside the element vocabulary"):
        model.assign(frame)
    with pytest.raises(StructureError, match="contains no Li"):
        model.assign(aimd_frames["test"][0][aimd_frames["test"][0].numbers != 3])


def test_pickles_refused_even_when_torch_is_told_to_allow_them(model, tmp_path, monkeypatch):
    # mace-torch sets this variable on import; an explicit weights_only=True must still win.
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    payload = torch.load(model.save(tmp_path / "ok.pt"), weights_only=True)
    payload["extra"] = Payload()
    torch.save(payload, tmp_path / "evil.pt")
    with pytest.raises(ModelFileError, match="contains pickled Python objects"):
        StateModel.load(tmp_path / "evil.pt")


def test_environments_are_the_mean_shell_of_each_states_li(model, aimd_frames):
    """StateModel.environments: per state, the mean count of each element within the shell of its Li and their mean
    neighbour distance; here recomputed Li by Li from ASE's own neighbour list."""
    from ase.neighborlist import neighbor_list

    atoms = aimd_frames["test"][0]
    labels, _, measured = model.label_with_environments(atoms)
    np.testing.assert_array_equal(labels, model.assign(atoms))
    cutoff, elements = model.schema.shell_cutoff_A, model.schema.elements
    i, j, d = neighbor_list("ijd", atoms, cutoff)
    symbols = atoms.get_chemical_symbols()
    sums = {s: [np.zeros(len(elements)), 0.0, 0] for s in range(model.n_states)}
    for k, li in enumerate(np.flatnonzero(atoms.numbers == 3)):
        mine = i == li
        counts = np.array([sum(symbols[n] == e for n in j[mine]) for e in elements], dtype=float)
        entry = sums[int(labels[k])]
        entry[0] += counts
        entry[1] += d[mine].mean() if mine.any() else 0.0
        entry[2] += 1
    for s, (counts, distance, n) in sums.items():
        assert measured["li"][s] == n
        if n:
            np.testing.assert_allclose(measured["mean_counts"][s], counts / n, atol=1e-12)
            np.testing.assert_allclose(measured["mean_neighbour_distance_A"][s], distance / n, rtol=1e-5)
        else:
            assert np.isnan(measured["mean_neighbour_distance_A"][s])
    again = model.environments(atoms, labels)
    np.testing.assert_array_equal(again["mean_counts"], measured["mean_counts"])
