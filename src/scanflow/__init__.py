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

from . import graph as _graph  # noqa: F401  (registers the Jupyter renderer of Application/Workflow)
from ._version import __version__
from .app import (
    Agent,
    Application,
    Dependency,
    Executor,
    Resources,
    Service,
    SpecError,
    SubWorkflow,
    TrackerSettings,
    Workflow,
    load_app,
)
from .errors import ScanflowError
from .run import Backend, InMemoryBackend, LocalBackend, get_backend, run_workflow

# Names whose modules need torch, mlflow or SQLAlchemy: resolved lazily (PEP 562).
_LAZY = {
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

__all__ = [
    "Agent", "Application", "Backend", "Dependency", "Executor", "InMemoryBackend", "LocalBackend",
    "Resources", "ScanflowError", "Service", "SpecError", "SubWorkflow", "TrackerSettings",
    "Workflow", "__version__", "get_backend", "load_app", "run_workflow", *sorted(_LAZY),
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'scanflow' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
