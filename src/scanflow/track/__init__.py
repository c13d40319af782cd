"""Tracking with MLflow: the run hierarchy, helpers for node code, models, registry, queries.

Importing this package is cheap: MLflow (and torch) load when a function needs them.

>>> from scanflow.track import tracking_uri
>>> tracking_uri().startswith(("sqlite:", "http", "file:", "databricks"))
True
"""

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
from .models import (
    load_sklearn_model,
    load_torch_folder,
    load_torch_model,
    log_sklearn_model,
    log_torch_model,
    resolve_model_uri,
    save_torch_model,
)
from .query import runs_dataframe
from .registry import get_alias_version, promote, register_model, rollback, set_alias
from .store import embedded_uri, ensure_experiment, experiment_name, get_client, tracking_uri

__all__ = [
    "NoActiveRun", "current_run_id", "embedded_uri", "ensure_experiment", "experiment_name",
    "get_alias_version", "get_client", "load_sklearn_model", "load_torch_folder", "load_torch_model",
    "log_artifact", "log_dict", "log_metric_series", "log_metrics", "log_params", "log_sklearn_model",
    "log_torch_model", "promote", "register_model", "resolve_model_uri", "rollback", "runs_dataframe",
    "save_torch_model", "set_alias", "set_tags", "tracking_uri",
]
