"""The README and the docs: every Python block runs as written, every getsei-live command shown uses real options,
and the Sphinx site builds with warnings as errors."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest
from conftest import SHARED_DATA

from getsei_live.cli import main

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.M | re.S)


def blocks(page: Path, languages: tuple[str, ...]) -> list[str]:
    return [body for language, body in FENCE.findall(page.read_text()) if language in languages]


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


@pytest.mark.parametrize("page", [p for p in PAGES if blocks(p, ("python",))], ids=page_id)
def test_python_blocks_run_as_written(page, tmp_path, monkeypatch):
    """The blocks of a page run in order in one namespace, as a reader pastes them, in an empty folder beside which
    ``../shared`` is the real shared checkout (the paths the docs use)."""
    if not SHARED_DATA.exists() and "../shared" in page.read_text():
        pytest.skip("needs ../shared/data (the real structures the page reads)")
    work = tmp_path / "work"
    work.mkdir()
    if SHARED_DATA.exists():
        (tmp_path / "shared").symlink_to(SHARED_DATA.parent)
    monkeypatch.chdir(work)
    namespace: dict = {"__name__": "__docs__"}
    for k, code in enumerate(blocks(page, ("python",))):
        exec(compile(code, f"{page_id(page)}, Python block {k + 1}", "exec"), namespace)


def shown_commands(page: Path) -> list[list[str]]:
    """Each ``getsei-live ...`` command in the page's shell and plain code blocks (continuations joined, comments
    and optional [...] parts dropped), as its words."""
    out = []
    for body in blocks(page, ("bash", "console", "")):
        text = body.replace("\\\n", " ")
        for line in text.splitlines():
            line = line.split("  #")[0].strip()
            if not line.startswith("getsei-live "):
                continue
            line = re.sub(r"\[[^\[\]]*\]", " ", re.sub(r"\[[^\[\]]*\]", " ", line))  # optional parts, nested once
            out.append(shlex.split(line))
    return out


@pytest.mark.parametrize("page", [p for p in PAGES if shown_commands(p)], ids=page_id)
def test_commands_shown_use_real_options(page):
    for words in shown_commands(page):
        name = words[1]
        if name.startswith("--"):
            assert name in ("--version", "--help"), words
            continue
        command = main.commands.get(name)
        assert command is not None, f"{page_id(page)}: no command {name!r} in {' '.join(words)}"
        known = {opt for p in command.params if isinstance(p, click.Option) and not p.hidden for opt in p.opts}
        known |= {"--help"}
        for word in words[2:]:
            if word.startswith("--"):
                flag = word.split("=")[0]
                assert flag in known, f"{page_id(page)}: {name} has no option {flag} ({' '.join(words)})"


@pytest.mark.slow
def test_docs_build_with_warnings_as_errors(tmp_path):
    result = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(ROOT / "docs"),
                             str(tmp_path / "html")], capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "html" / "reference" / "cli.html").read_text().count("--interval-steps") >= 2


def _documented_modules() -> list[str]:
    """Every module of the package whose docstrings hold an example (``>>>``)."""
    package = ROOT / "getsei_live"
    return sorted(".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
                  for path in package.rglob("*.py") if ">>> " in path.read_text())


@pytest.mark.parametrize("module", _documented_modules())
def test_docstring_examples_run_as_written(module, monkeypatch):
    """The examples in the docstrings are doctests: they run from the repository root (their ``../shared`` paths are
    the real shared checkout) and print what they say."""
    import doctest
    import importlib

    source = (ROOT / Path(*module.split("."))).with_suffix(".py")
    source = source if source.exists() else ROOT / Path(*module.split(".")) / "__init__.py"
    if "../shared" in source.read_text() and not SHARED_DATA.exists():
        pytest.skip("needs ../shared/data (the real structures the example reads)")
    monkeypatch.chdir(ROOT)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(importlib.import_module(module), optionflags=flags, verbose=False, report=True)
    assert result.attempted and not result.failed, f"{result.failed} of {result.attempted} examples failed"
