"""Where tracking data goes: the tracking URI, the experiment of an application, the client.

Embedded default (no server): a SQLite backend store ``<state>/mlflow.db`` and an artifact
folder ``<state>/mlartifacts``. ``tracker.uri`` in the application, or ``$MLFLOW_TRACKING_URI``,
points Scanflow at a remote MLflow server instead (the application setting wins).

Open the embedded store in the stock UI with::

    mlflow ui --backend-store-uri sqlite:///<app>/.scanflow/mlflow.db
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from ..app import Application

_LOCK = threading.Lock()
_CLIENTS: dict[tuple[str, str | None], Any] = {}


def tracking_uri(app: Application | None = None) -> str:
    """The tracking URI for ``app``: ``tracker.uri``, else ``$MLFLOW_TRACKING_URI``, else SQLite.

    Without an application (inside a node), ``$MLFLOW_TRACKING_URI`` set by the scheduler, else
    the SQLite store of ``$SCANFLOW_STATE_DIR`` or of ``./.scanflow``.
    """
    if app is not None and app.tracker.uri:
        return app.tracker.uri
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    state = app.state_path if app is not None else Path(os.environ.get("SCANFLOW_STATE_DIR", ".scanflow"))
    return embedded_uri(state)


def embedded_uri(state_dir: str | os.PathLike[str]) -> str:
    path = Path(state_dir).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path / 'mlflow.db'}"


def is_embedded(uri: str) -> bool:
    return uri.startswith(("sqlite:", "scanflow+sqlite:"))


def artifact_root(app: Application) -> str | None:
    """Artifact location for the app's experiment (``None``: let the server decide)."""
    if app.tracker.artifact_location:
        return app.tracker.artifact_location
    if is_embedded(tracking_uri(app)):
        folder = app.state_path / "mlartifacts"
        folder.mkdir(parents=True, exist_ok=True)
        return folder.resolve().as_uri()
    return None


def registry_uri(app: Application | None = None) -> str | None:
    if app is not None and app.tracker.registry_uri:
        return app.tracker.registry_uri
    return os.environ.get("MLFLOW_REGISTRY_URI") or None


def get_client(uri: str | None = None, registry: str | None = None) -> MlflowClient:
    """A cached :class:`mlflow.MlflowClient` for ``uri`` (default: :func:`tracking_uri`)."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    # lazy: mlflow (importing scanflow.track must not load it)
    from mlflow import MlflowClient

    uri = uri or tracking_uri()
    registry = registry or os.environ.get("MLFLOW_REGISTRY_URI") or None
    with _LOCK:
        key = (uri, registry)
        if key not in _CLIENTS:
            _CLIENTS[key] = MlflowClient(tracking_uri=uri, registry_uri=registry or uri)
        return _CLIENTS[key]


def experiment_name(app: Application) -> str:
    return app.tracker.experiment or app.name


def ensure_experiment(app: Application, client: MlflowClient | None = None) -> str:
    """The id of the application's experiment, created on first use."""
    client = client or get_client(tracking_uri(app), registry_uri(app))
    return ensure_named_experiment(client, experiment_name(app), artifact_root(app), {"scanflow.app": app.name})


def ensure_named_experiment(client: MlflowClient, name: str, artifact_location: str | None,
                            tags: dict[str, str]) -> str:
    """The id of the experiment ``name``: restored if deleted, created if missing."""
    # lazy: mlflow (importing scanflow.track must not load it)
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is not None:
        if found.lifecycle_stage == "deleted":
            client.restore_experiment(found.experiment_id)
        return found.experiment_id
    try:
        return client.create_experiment(name, artifact_location=artifact_location, tags=tags)
    except MlflowException:  # created meanwhile by another process
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


@contextlib.contextmanager
def fluent_tracking_uri(uri: str) -> Iterator[None]:
    """Point the fluent ``mlflow`` API at ``uri`` for a block, then restore the global URI and
    ``$MLFLOW_TRACKING_URI`` exactly (``mlflow.set_tracking_uri`` changes both)."""
    # lazy: mlflow (importing scanflow.track must not load it)
    import mlflow
    from mlflow.tracking._tracking_service import utils  # lazy: as above

    saved_global = utils._tracking_uri
    saved_env = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(saved_global)
        if saved_env is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = saved_env
