"""The ``scanflow+sqlite`` MLflow store plug-in: the tracking URI of a node's process under
deferred tracking (:mod:`scanflow.track.journal`).

A node may log to its run (``MLFLOW_RUN_ID``) before the background writer has created it.
This store replays the pending journals of the SQLite file first (creating the node's run,
which was journaled before the node started), then is MLflow's own SQL store on that file::

    scanflow+sqlite:///path/.scanflow/mlflow.db  ->  sqlite:///path/.scanflow/mlflow.db

It is registered under MLflow's ``mlflow.tracking_store`` and ``mlflow.model_registry_store``
entry points (``pyproject.toml``), so ``mlflow.log_metric``, ``MlflowClient()`` and
``mlflow.register_model`` work in a node with no change to its code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .journal import sqlite_path
from .replay import replay_pending, schema_lock


def _db(store_uri: str) -> Path:
    db = sqlite_path(store_uri)
    if db is None:
        raise ValueError(f"not a scanflow+sqlite:/// URI: {store_uri!r}")
    return db


def tracking_store(store_uri: str, artifact_uri: str | None = None) -> Any:
    """MLflow's SQL tracking store on the file, after the pending journals are replayed
    through it (MLflow holds its store registry's lock here: no client may be made)."""
    # lazy: MLflow calls this plug-in only once it is loaded itself
    from mlflow.tracking._tracking_service.utils import _get_sqlalchemy_store

    db = _db(store_uri)
    with schema_lock(db):
        store = _get_sqlalchemy_store(f"sqlite:///{db}", artifact_uri)
    replay_pending(db, store)
    return store


def registry_store(store_uri: str, tracking_uri: str | None = None) -> Any:
    """MLflow's SQL model registry store on the file."""
    # lazy: MLflow calls this plug-in only once it is loaded itself
    from mlflow.tracking._model_registry.utils import _get_sqlalchemy_store

    db = _db(store_uri)
    with schema_lock(db):
        return _get_sqlalchemy_store(f"sqlite:///{db}")
