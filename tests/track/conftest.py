"""A real MLflow SQLite store per test (copied from a migrated template: migrations take ~2 s)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def mlflow_db_template(tmp_path_factory) -> Path:
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def store(tmp_path, mlflow_db_template, monkeypatch):
    """``MLFLOW_TRACKING_URI`` on a fresh store, and a run in ``MLFLOW_RUN_ID`` (as in a node)."""
    from mlflow import MlflowClient

    db = tmp_path / "mlflow.db"
    shutil.copy(mlflow_db_template, db)
    uri = f"sqlite:///{db}"
    client = MlflowClient(uri)
    experiment = client.create_experiment("tests", artifact_location=(tmp_path / "artifacts").as_uri())
    run = client.create_run(experiment)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_RUN_ID", run.info.run_id)
    return client, run.info.run_id
