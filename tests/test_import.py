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
