"""Loading a MACE ``.model`` file without running code from it: torch's weights-only unpickler with an allowlist.

A ``.model`` file is a pickled ``torch.nn.Module``. Unpickled in full (``torch.load(weights_only=False)``, what
mace-torch does) it can call anything: ``os.system`` from a ``__reduce__``. Here it is unpickled by torch's
weights-only loader, which builds tensors and containers itself and calls nothing but the globals allowed:

- the module classes of mace-torch (``mace.modules``), e3nn and ``torch.nn``, and e3nn's irreps (tuples);
- the activation functions of ``torch.nn.functional``, numpy's scalars and dtypes;
- ``torch.fx``'s rebuild of the small generated functions e3nn keeps (``reduce_graph_module``), but only after
  the Python source it would compile has been read as a syntax tree and found to hold nothing but calls of
  ``torch`` tensor functions (e3nn's ``tensordot`` and ``einsum``) on its own arguments: no imports beyond fx's
  own, no names, attributes or strings with underscores in front, no other statements.

Anything else refuses the file in one line naming what it needed. ``trust=True`` (``--trust-model-file``) loads it
as mace-torch would, for a file whose source the user trusts.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
from pathlib import Path

from ..errors import GetseiError, failure_text

__all__ = ["UnsafeModelFile", "load_mace_model", "sha256"]

#: Activation functions a MACE model may hold (``torch.nn.functional``).
ACTIVATIONS = frozenset({"silu", "relu", "gelu", "tanh", "sigmoid", "softplus", "elu", "selu", "celu", "mish",
                         "leaky_relu", "hardtanh", "softsign", "tanhshrink", "logsigmoid", "relu6", "hardswish",
                         "hardsigmoid", "normalize"})
#: Module paths whose classes (``nn.Module`` subclasses, or tuples: e3nn's irreps and instructions) may be built.
MODULE_PACKAGES = ("mace.modules.", "e3nn.", "torch.nn.modules.", "torch.nn.parameter")
#: Other globals a MACE file holds, by full name.
NAMED = frozenset({"numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar", "numpy.dtype",
                   "torch.fx._symbolic_trace.Tracer", "builtins.set", "builtins.frozenset", "builtins.slice",
                   "collections.OrderedDict", "torch.float32", "torch.float64", "torch.int64"})
GRAPH_MODULE = "torch.fx.graph_module.reduce_graph_module"
#: The lines of the import block torch.fx writes before a generated function.
FX_IMPORTS = frozenset({"NoneType = type(None)", "from math import inf", "from math import nan",
                        "from torch import device", "import torch", "import torch.fx._pytree as fx_pytree",
                        "import torch.utils._pytree as pytree", ""})
#: Functions a generated function may call: ``torch.<name>`` or ``torch.functional.<name>``.
TENSOR_FUNCTIONS = frozenset({"tensordot", "einsum", "reshape", "cat", "stack", "mul", "add", "sum", "narrow",
                              "transpose", "permute", "flatten", "unsqueeze", "squeeze", "zeros", "ones", "matmul",
                              "split", "chunk", "outer", "sqrt", "div", "sub", "neg", "view", "select"})


class UnsafeModelFile(GetseiError):
    """A potential file that needs something a MACE model does not (code could run): refused."""


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _resolve(name: str):
    """The object a global names, imported only from mace, e3nn, torch and numpy (importing other modules could
    run code of the file's choosing)."""
    module, _, attribute = name.rpartition(".")
    if not module.split(".")[0] in ("mace", "e3nn", "torch", "numpy", "builtins", "collections"):
        return None
    try:
        obj = importlib.import_module(module)
        for part in attribute.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return None
    return obj


def _allowed(name: str, obj) -> bool:
    import torch

    if name in NAMED:
        return True
    if name.startswith("torch.nn.functional."):
        return name.rpartition(".")[2] in ACTIVATIONS
    if name.startswith(MODULE_PACKAGES) and isinstance(obj, type):
        return issubclass(obj, (torch.nn.Module, torch.nn.Parameter, tuple))
    return False


def _check_generated_source(code: str, imports: str) -> None:
    """Refuse the Python source of a ``torch.fx`` function unless it only calls torch's tensor functions."""
    extra = [line for line in imports.splitlines() if line.strip() not in FX_IMPORTS]
    if extra:
        raise UnsafeModelFile(f"a generated function of the file imports {extra[0].strip()!r}")
    tree = ast.parse(code)
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.FunctionDef) or tree.body[0].name != "forward":
        raise UnsafeModelFile("a generated function of the file is not one fx 'forward'")
    function = tree.body[0]
    if function.decorator_list:
        raise UnsafeModelFile("a generated function of the file has decorators")
    local = {a.arg for a in function.args.args}
    allowed_nodes = (ast.arguments, ast.arg, ast.Assign, ast.Return, ast.Call, ast.Attribute, ast.Name, ast.Load,
                     ast.Store, ast.Del, ast.Delete, ast.Constant, ast.Tuple, ast.List, ast.keyword, ast.Expr,
                     ast.UnaryOp, ast.USub)
    for node in ast.walk(function):
        if node is function:
            continue
        if not isinstance(node, allowed_nodes):
            raise UnsafeModelFile(f"a generated function of the file holds a {type(node).__name__} statement")
        if isinstance(node, ast.Assign):
            local |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("_"):
            raise UnsafeModelFile(f"a generated function of the file uses the string {node.value!r}")
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise UnsafeModelFile(f"a generated function of the file reads .{node.attr}")
        if isinstance(node, ast.Call):
            func = node.func
            chain = []
            while isinstance(func, ast.Attribute):
                chain.append(func.attr)
                func = func.value
            chain = chain[::-1]
            root = func.id if isinstance(func, ast.Name) else None
            if root == "torch" and chain[:-1] in ([], ["functional"]) and chain and chain[-1] in TENSOR_FUNCTIONS:
                continue
            raise UnsafeModelFile(f"a generated function of the file calls {ast.unparse(node.func)}")
    names = {n.id for n in ast.walk(function) if isinstance(n, ast.Name)}
    unknown = names - local - {"torch", "None"}
    if unknown:
        raise UnsafeModelFile(f"a generated function of the file uses the name {sorted(unknown)[0]!r}")


def _checked_graph_module(body: dict, import_block: str):
    from torch.fx.graph_module import reduce_graph_module

    _check_generated_source(str(body.get("_code", "")), str(import_block))
    return reduce_graph_module(body, import_block)


def load_mace_model(path: str | Path, *, device: str = "cpu", trust: bool = False):
    """The ``torch.nn.Module`` in a MACE ``.model`` file, unpickled without running code from it (see the module's
    description); ``trust`` loads it in full, as mace-torch does. Raises ``UnsafeModelFile`` naming what a refused
    file needed."""
    import numpy as np
    import torch
    from torch.serialization import get_unsafe_globals_in_checkpoint, safe_globals

    path = Path(path)
    if trust:
        return torch.load(path, map_location=device, weights_only=False)
    try:
        names = get_unsafe_globals_in_checkpoint(path)
    except Exception as error:
        raise GetseiError(f"{path} is not a torch model file ({failure_text(error)}).") from None
    allowed = [(getattr(np.dtypes, n), f"numpy.dtypes.{n}") for n in dir(np.dtypes) if n.endswith("DType")]
    for name in names:
        if name == GRAPH_MODULE:
            allowed.append((_checked_graph_module, name))
            continue
        obj = _resolve(name)
        if obj is None or not _allowed(name, obj):
            raise UnsafeModelFile(f"{path} needs {name}, which a MACE model does not: refused (it could run code). "
                                  f"Load it only if you trust its source: --trust-model-file (Python: trust=True).")
        allowed.append((obj, name))
    try:
        with safe_globals(allowed):
            model = torch.load(path, map_location=device, weights_only=True)
    except UnsafeModelFile as error:
        raise UnsafeModelFile(f"{path}: {error}: refused (it could run code). Load it only if you trust its "
                              f"source: --trust-model-file (Python: trust=True).") from None
    except Exception as error:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        why = next((line.split("error:", 1)[1].strip() for line in lines if "WeightsUnpickler error:" in line),
                   lines[0] if lines else type(error).__name__)
        raise UnsafeModelFile(f"{path} cannot be loaded without running code from it ({why}). Load it only if you "
                              f"trust its source: --trust-model-file (Python: trust=True).") from None
    if not isinstance(model, torch.nn.Module):
        raise GetseiError(f"{path} holds a {type(model).__name__}, not a MACE model.")
    return model
