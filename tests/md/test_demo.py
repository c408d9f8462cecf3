"""The demo's shipped interphases and state models, and what it prints about its settings."""

from __future__ import annotations

import json

import numpy as np
import pytest

from getsei_live.analysis.criteria import ConvergenceCriteria
from getsei_live.md.calculators import bundled_file
from getsei_live.md.demo import DEMO_CRITERIA, criteria_lines, demo_setup
from getsei_live.structures.builders import SYSTEMS

SHIPPED = [s for s in SYSTEMS if (bundled_file("bundled_mace.model").parent / f"demo_states_{s}.pt").is_file()]


@pytest.mark.parametrize("system", SHIPPED)
def test_the_start_is_the_interface_and_its_model_describes_it(system):
    """The shipped start holds the demo interface's atoms, its state model labels every Li of it, and at most the
    drift guard's share of its Li environments lie outside what the model saw in training."""
    from getsei_live.structures.builders import build_interface

    setup = demo_setup(system)
    card = json.loads(bundled_file(f"demo_states_{system}.json").read_text())
    built = build_interface(system, "demo", metal_cells=card.get("metal_cells")).atoms
    assert sorted(setup.atoms.numbers) == sorted(built.numbers)
    labels, log_likelihood = setup.model.assign_with_fit(setup.atoms)
    n_li = int((setup.atoms.numbers == 3).sum())
    assert labels.shape == (n_li,) and set(np.unique(labels)) <= set(range(setup.model.n_states))
    outside = float(np.mean(log_likelihood < setup.model.fit_threshold))
    assert outside <= DEMO_CRITERIA.max_ood_fraction
    assert card["fingerprint"] == setup.model.fingerprint
    assert min(card["sample_temperatures_K"]) <= setup.temperature_K <= max(card["sample_temperatures_K"])
    assert card["drift_guard"]["largest_share_outside"] <= DEMO_CRITERIA.max_ood_fraction


def test_a_temperature_the_model_was_not_trained_at_is_pointed_out():
    setup = demo_setup(SHIPPED[0], temperature_K=1500.0)
    assert setup.temperature_K == 1500.0
    assert any("outside the temperatures the state model was trained at" in line for line in setup.lines)


def test_criteria_lines_give_every_threshold_in_words_and_mark_the_demos_own():
    lines = criteria_lines(ConvergenceCriteria(share_ci_width=0.1, patience=2))
    assert len(lines) == len(ConvergenceCriteria.__dataclass_fields__)
    assert "  widest route-share interval (share of the flux): 0.1  (share_ci_width; the demo's, default 0.05)" in lines
    assert ("  checks in a row with every condition met and the estimates unchanged: 2  (patience; the demo's, "
            "default 3)") in lines
    assert "  state changes out of every state, each counted once, at least: 20  (min_transitions)" in lines


@pytest.mark.parametrize("system", SHIPPED)
def test_the_demo_asks_from_the_most_to_the_least_metal_like_state_and_says_so(system):
    """The demo's endpoints are fixed from the card before the run: the states with the fewest and the most anion
    neighbours (O, S, Cl) in the state model's training MD, stated in the lines it prints."""
    setup = demo_setup(system)
    card = json.loads(bundled_file(f"demo_states_{system}.json").read_text())
    anions, li = {}, {}
    for state in card["states"]:
        counts = state["mean_counts"]
        anions[state["index"]] = counts.get("O", 0.0) + counts.get("S", 0.0) + counts.get("Cl", 0.0)
        li[state["index"]] = counts["Li"]
    fewest = most = None
    for index in anions:
        if fewest is None or (anions[index], -li[index]) < (anions[fewest], -li[fewest]):
            fewest = index
        if most is None or (anions[index], -li[index]) > (anions[most], -li[most]):
            most = index
    assert (setup.source, setup.target) == (fewest, most) and fewest != most
    assert any(f"--source {fewest} --target {most}" in line for line in setup.lines)


def test_the_llzo_demo_asks_from_the_li_metal_to_the_garnet():
    """Its states are places: the source holds Li with no O around them, the target Li inside the garnet."""
    card = json.loads(bundled_file("demo_states_llzo-li.json").read_text())
    setup = demo_setup("llzo-li")
    counts = {state["index"]: state["mean_counts"] for state in card["states"]}
    assert counts[setup.source]["O"] < 0.1 and counts[setup.source]["Li"] > 12
    assert counts[setup.target]["O"] > 7 and counts[setup.target]["La"] > 3
