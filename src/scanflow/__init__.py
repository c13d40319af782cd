"""Scanflow: define, run, track, supervise and debug machine-learning workflows.

The public API is this short list; each room (``scanflow.app``, ``scanflow.run``,
``scanflow.track``, ``scanflow.check``, ``scanflow.improve``, ``scanflow.agents``,
``scanflow.serve``, ``scanflow.deploy``, ``scanflow.datasets``) holds the rest.
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
from .run import Backend, InMemoryBackend, LocalBackend, get_backend, run_workflow

__version__ = "0.1.0"

# Names whose modules need torch, mlflow or SQLAlchemy: resolved lazily (PEP 562).
_LAZY = {
    "CheckResult": "scanflow.check",
    "Detector": "scanflow.check",
    "AutoencoderDetector": "scanflow.check",
    "default_checker": "scanflow.check",
    "get_detector": "scanflow.check",
    "register_detector": "scanflow.check",
    "load_mnist": "scanflow.datasets",
    "corrupt": "scanflow.datasets",
    "CORRUPTIONS": "scanflow.datasets",
    "make_stream": "scanflow.datasets",
    "tracking_uri": "scanflow.track",
    "log_metrics": "scanflow.track",
    "log_torch_model": "scanflow.track",
    "load_torch_model": "scanflow.track",
    "promote": "scanflow.track",
    "rollback": "scanflow.track",
    "runs_dataframe": "scanflow.track",
    "get_selector": "scanflow.improve.selection",
    "EvaluationGate": "scanflow.improve.gate",
    "LabelStore": "scanflow.improve.labels",
    "OracleLabeler": "scanflow.improve.labels",
    "AgentRuntime": "scanflow.agents",
    "export": "scanflow.deploy",
}

__all__ = [
    "Agent", "Application", "Backend", "Dependency", "Executor", "InMemoryBackend", "LocalBackend",
    "Resources", "Service", "SpecError", "SubWorkflow", "TrackerSettings", "Workflow",
    "get_backend", "load_app", "run_workflow", *sorted(_LAZY),
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
