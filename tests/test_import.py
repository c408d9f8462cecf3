"""The kinetics core must import without torch; the package exposes its public names."""

from __future__ import annotations

import subprocess
import sys


def test_analysis_does_not_import_torch():
    code = "import getsei_live.analysis, sys; assert 'torch' not in sys.modules, 'torch was imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_public_names_resolve():
    import getsei_live

    for name in getsei_live.__all__:
        assert getattr(getsei_live, name) is not None


def test_the_public_names_of_the_design_contract_exist_with_their_parameters():
    """../shared/DESIGN.md's "Public names" block is a contract: every name it shows exists, takes the parameters it
    shows, and its results have the attributes it lists."""
    import inspect
    import re

    import numpy as np
    from conftest import SHARED_DATA, shared_file

    import getsei_live as gsl
    from getsei_live import analysis
    from getsei_live.observers.settings import MonitorSettings

    design = shared_file(SHARED_DATA.parent / "DESIGN.md").read_text()
    block = design.split("## Public names", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    shown = re.findall(r"\b(gsl|analysis)\.(\w+)\(([^)]*)\)", block)
    assert len(shown) >= 7, shown
    for owner, name, arguments in shown:
        function = getattr(gsl if owner == "gsl" else analysis, name)
        takes = inspect.signature(function).parameters
        settings = (set(MonitorSettings.__dataclass_fields__) if "settings" in takes else set())  # attach's **options
        for argument in re.findall(r"(\w+)=", arguments):
            assert argument in takes or argument in settings, f"{owner}.{name} does not take {argument}="
    for method in ("train", "load", "save", "assign", "embed", "fingerprint"):
        assert hasattr(gsl.StateModel, method)
    for name in ("latest", "converged", "stop_reason"):
        assert hasattr(gsl.LiveMonitor, name) or name in inspect.getsource(gsl.LiveMonitor.__init__)
    K = np.array([[0.9, 0.1, 0.0], [0.05, 0.9, 0.05], [0.0, 0.1, 0.9]])
    results = {"transition_matrix": analysis.transition_matrix(100 * K),
               "implied_timescales": analysis.implied_timescales(K, 1.0),
               "rate_matrix": analysis.rate_matrix(K, 1.0),
               "reactive_flux": (flux := analysis.reactive_flux(K, [0], [2])),
               "pathways": analysis.pathways(flux, k=5)[0]}
    for line in block.splitlines():
        call = re.search(r"analysis\.(\w+)\(", line)
        listed = re.findall(r"\.(\w+)", line.split("#", 1)[1]) if "#" in line else []
        if call and call.group(1) in results:
            for attribute in listed:
                assert hasattr(results[call.group(1)], attribute), f"{call.group(1)} has no .{attribute}"


def _imports(package: str) -> dict[str, set[str]]:
    """Each module of ``getsei_live.<package>`` and the getsei_live modules it imports anywhere in its source
    (at the top or inside a function), from its syntax tree."""
    import ast
    from pathlib import Path

    import getsei_live

    root = Path(getsei_live.__file__).parent
    graph = {}
    for path in sorted((root / package).glob("*.py")):
        name = f"getsei_live.{package}.{path.stem}".removesuffix(".__init__")
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = name.split(".")[: len(name.split(".")) - node.level + (path.stem == "__init__")]
                target = ".".join([*base, *([node.module] if node.module else [])])
                found |= {target} if node.module else {f"{target}.{a.name}" for a in node.names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("getsei_live"):
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("getsei_live")}
        graph[name] = found
    return graph


def test_analysis_has_no_import_cycle_and_imports_nothing_above_it():
    """Issue 40: analysis is the core; display is a leaf it uses; offline, observers and the command line use it."""
    graph = _imports("analysis")
    above = {m: sorted(t for t in targets if t.startswith(("getsei_live.offline", "getsei_live.observers",
                                                               "getsei_live.cli", "getsei_live.md",
                                                               "getsei_live.states", "getsei_live.store")))
             for m, targets in graph.items()}
    assert not any(above.values()), {m: t for m, t in above.items() if t}
    inside = {m: {t for t in targets if t in graph and t != m} for m, targets in graph.items()}
    seen, path = set(), []

    def visit(module):  # depth-first: a module met again on the current path closes a cycle
        if module in path:
            raise AssertionError(f"import cycle: {' -> '.join(path[path.index(module):] + [module])}")
        if module in seen:
            return
        path.append(module)
        for target in sorted(inside[module]):
            visit(target)
        path.pop()
        seen.add(module)

    for module in sorted(inside):
        visit(module)


def test_the_live_side_and_the_finished_stores_side_do_not_import_each_other():
    """Issue 40: the live analyst imported ``offline/`` (for the ensemble of stores, now ``store/ensemble.py``);
    ``observers/`` and ``offline/`` each import neither the other nor the command line."""
    for package, others in (("observers", ("getsei_live.offline", "getsei_live.cli")),
                            ("offline", ("getsei_live.observers", "getsei_live.cli"))):
        graph = _imports(package)
        wrong = {m: sorted(t for t in targets if t.startswith(others)) for m, targets in graph.items()}
        assert not any(wrong.values()), {m: t for m, t in wrong.items() if t}
