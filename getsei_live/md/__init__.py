"""Molecular dynamics: MACE calculators, the bundled potential, the Langevin run with the live analysis, the demo."""
