"""Sphinx configuration of the getsei-live docs: ``python -m sphinx -W -b html docs docs/_build/html``."""

from __future__ import annotations

import importlib.metadata

project = "getsei-live"
author = "the getsei-live developers"
release = version = importlib.metadata.version("getsei-live")
extensions = ["myst_parser", "numpydoc", "sphinx.ext.autodoc", "sphinx_click"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]
myst_heading_anchors = 3
numpydoc_show_class_members = False
numpydoc_validation_checks: set[str] = set()
autodoc_typehints = "none"
html_theme = "alabaster"
suppress_warnings = ["myst.xref_missing"]
