"""Tracking with MLflow: the run hierarchy, helpers for node code, the registry, queries.

Models themselves (logging and loading every flavor) live in :mod:`scanflow.models`. The
prediction log of the served models is :class:`PredictionLog` (:mod:`scanflow.track.predictions`).

Importing this package is cheap: MLflow (and torch) load when a function needs them.

>>> from scanflow.track import tracking_uri
>>> tracking_uri().startswith(("sqlite:", "http", "file:", "databricks"))
True
"""

import importlib

from .helpers import (
    NoActiveRun,
    current_run_id,
    log_artifact,
    log_dict,
    log_metric_series,
    log_metrics,
    log_params,
    set_tags,
)
from .query import MlflowRuns, runs_dataframe
from .registry import (
    MlflowRegistry,
    get_alias_version,
    promote,
    register_model,
    resolve_model_uri,
    rollback,
    set_alias,
)
from .store import embedded_uri, ensure_experiment, experiment_name, get_client, tracking_uri

_LAZY = {"PredictionLog": "predictions", "PredictionRecord": "predictions", "sync_tracking": "replay"}


def __getattr__(name: str):
    """The prediction log loads SQLAlchemy, the replay of deferred runs MLflow: imported on first use."""
    if name not in _LAZY:
        raise AttributeError(f"module 'scanflow.track' has no attribute {name!r}")

    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "MlflowRegistry", "MlflowRuns", "NoActiveRun", "PredictionLog", "PredictionRecord", "current_run_id", "embedded_uri",
    "ensure_experiment", "experiment_name", "get_alias_version", "get_client", "log_artifact",
    "log_dict", "log_metric_series", "log_metrics", "log_params", "promote", "register_model",
    "resolve_model_uri", "rollback", "runs_dataframe", "set_alias", "set_tags", "sync_tracking", "tracking_uri",
]
