"""Structures: interface builders from crystallographic data, and reading trajectories."""
