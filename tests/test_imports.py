"""What importing Scanflow costs: no heavy frameworks, and nothing that exists on POSIX only."""

from __future__ import annotations

import subprocess
import sys

import pytest

_HEAVY_FOR_CLI = ["torch", "mlflow", "scipy", "matplotlib", "fastapi", "ray", "sklearn"]


def _loaded(code: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


@pytest.mark.parametrize("module, heavy", [
    ("scanflow", ["torch", "mlflow"]),
    ("scanflow.cli", _HEAVY_FOR_CLI),
])
def test_importing_loads_no_heavy_framework(module, heavy):
    code = f"import sys, {module}; print(*[m for m in {heavy!r} if m in sys.modules])"
    assert _loaded(code) == []


def test_scanflow_imports_where_fcntl_and_termios_do_not_exist():
    # Windows has neither: block them, then import what used them (file locks, key presses).
    code = ("import sys; sys.modules.update(fcntl=None, termios=None, tty=None); "
            "import scanflow, scanflow.cli, scanflow.run.envs, scanflow.cli.label; print('ok')")
    assert _loaded(code) == ["ok"]
