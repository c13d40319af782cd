"""Scanflow: define, run, track, supervise and debug machine-learning workflows.

The public API is this short list; each package (``scanflow.app``, ``scanflow.run``,
``scanflow.track``, ``scanflow.models``, ``scanflow.check``, ``scanflow.improve``,
``scanflow.agents``, ``scanflow.serve``, ``scanflow.deploy``, ``scanflow.datasets``) holds the
rest (``docs/architecture.md`` maps them).
Importing ``scanflow`` loads neither torch nor mlflow: the names that need them are
imported on first use.

>>> import scanflow
>>> app = scanflow.Application(name="demo", workflows=[scanflow.Workflow(name="w", nodes=[
...     scanflow.Executor(name="hello", callable="builtins:print")])])
>>> app.workflow("w").node("hello").kind
'executor'
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__
from .errors import ScanflowError

# The public names, each resolved from its module on first use (PEP 562): `import scanflow`
# loads nothing heavy, and the command line starts at once.
_LAZY = {
    **dict.fromkeys(["Agent", "Application", "Dependency", "Executor", "Resources", "Service", "SpecError",
                     "SubWorkflow", "TrackerSettings", "Workflow", "load_app"], "scanflow.app"),
    **dict.fromkeys(["Backend", "InMemoryBackend", "LocalBackend", "get_backend", "run_workflow"], "scanflow.run"),
    # Names whose modules need torch, mlflow or SQLAlchemy.
    "CheckResult": "scanflow.check",
    "Detector": "scanflow.check",
    "AutoencoderDetector": "scanflow.check",
    "default_detector": "scanflow.check",
    "get_detector": "scanflow.check",
    "register_detector": "scanflow.check",
    "load_mnist": "scanflow.datasets",
    "corrupt": "scanflow.datasets",
    "CORRUPTIONS": "scanflow.datasets",
    "make_stream": "scanflow.datasets",
    "tracking_uri": "scanflow.track",
    "log_metrics": "scanflow.track",
    "log_torch_model": "scanflow.models",
    "load_torch_model": "scanflow.models",
    "promote": "scanflow.track",
    "rollback": "scanflow.track",
    "runs_dataframe": "scanflow.track",
    "get_selector": "scanflow.improve.selection",
    "EvaluationGate": "scanflow.improve.gate",
    "LabelStore": "scanflow.improve.labels",
    "OracleLabeler": "scanflow.improve.labelers",
    "AgentRuntime": "scanflow.agents",
    "ModelAdapter": "scanflow.models",
    "InputSchema": "scanflow.models",
    "as_model": "scanflow.models",
    "log_model": "scanflow.models",
    "load_model": "scanflow.models",
    "register_architecture": "scanflow.models",
    "export": "scanflow.deploy",
}

__all__ = ["ScanflowError", "__version__", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'scanflow' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    if module == "scanflow.app":
        _install_renderer()
    globals()[name] = value
    return value


def _install_renderer() -> None:
    """Let Jupyter draw applications and workflows: :mod:`scanflow.graph` (Graphviz) loads
    the first time one is displayed, and registers its renderer then."""
    from .app import spec  # lazy: the spec loads pydantic; `import scanflow` stays light

    if spec._renderer is None:
        spec.set_renderer(_render_lazily)


def _render_lazily(fmt: str, obj: Any) -> str | None:
    from .graph import render_for_jupyter  # lazy: importing it registers it for the next time

    return render_for_jupyter(fmt, obj)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
