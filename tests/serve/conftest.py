"""Fixtures of the "serve any registered model" tests: a real MLflow registry per module."""

from __future__ import annotations

import shutil

import pytest
from serve_helpers import Registry


@pytest.fixture(scope="module")
def registry(tmp_path_factory, mlflow_db_template) -> Registry:
    """One MLflow store per test module (creating one and logging models costs seconds)."""
    folder = tmp_path_factory.mktemp("registry")
    shutil.copy(mlflow_db_template, folder / "mlflow.db")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    from mlflow import MlflowClient

    experiment = MlflowClient(uri).create_experiment(
        "serve", artifact_location=(folder / "artifacts").as_uri())
    return Registry(uri, experiment)


@pytest.fixture
def tracker(registry, monkeypatch) -> Registry:
    """The module's registry, as the tracker of the test (``$MLFLOW_TRACKING_URI``)."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry.uri)
    return registry
