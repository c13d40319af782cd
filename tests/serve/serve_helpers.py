"""Helpers of the "serve any registered model" tests (fixtures: conftest.py in this folder)."""

from __future__ import annotations

import contextlib

import pytest


class Registry:
    """A fresh MLflow SQLite store with one experiment; models are logged and promoted here."""

    def __init__(self, uri: str, experiment_id: str):
        self.uri = uri
        self.experiment_id = experiment_id

    def client(self):
        from mlflow import MlflowClient

        return MlflowClient(self.uri)

    def log(self, model, name: str, **kwargs) -> int:
        """Log ``model`` with ``scanflow.models.log_model`` in a new run and register it."""
        from scanflow.models import log_model

        client = self.client()
        run = client.create_run(self.experiment_id)
        with pytest.MonkeyPatch.context() as mp:  # log_model reads $MLFLOW_TRACKING_URI
            mp.setenv("MLFLOW_TRACKING_URI", self.uri)
            info = log_model(model, "model", run_id=run.info.run_id, registered_model_name=name,
                             **kwargs)
        client.set_terminated(run.info.run_id)
        return int(info.version)

    def promote(self, name: str, version: int, alias: str = "champion") -> None:
        self.client().set_registered_model_alias(name, alias, str(version))


def application(root, registry: Registry, **parameters):
    """An application whose ``predict`` service serves ``parameters["model"]``."""
    from scanflow.app import Application, Service, TrackerSettings

    app = Application(name="serve-any", services=[Service(name="predict", parameters=parameters)],
                      tracker=TrackerSettings(uri=registry.uri))
    app.root = root
    app.state_dir = str(root / ".scanflow")
    return app


@contextlib.contextmanager
def http(api):
    """A real Uvicorn server on 127.0.0.1 for ``api`` and an httpx client to it."""
    import httpx

    from scanflow.serve.server import ServerThread

    with ServerThread(api) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        yield client
