"""The run hierarchy the scheduler writes: a parent run per workflow run, a nested run per
nested workflow (group) and per node, with parameters, status, duration, logs and outputs.

Tags set by Scanflow (searchable in the MLflow UI): ``scanflow.kind`` (``workflow``, ``group``,
``node``), ``scanflow.app``, ``scanflow.workflow``, ``scanflow.node``, ``scanflow.run_id``,
``scanflow.status``, ``scanflow.attempts``, ``scanflow.cached``.
"""

from __future__ import annotations

import contextlib
import getpass
import sqlite3
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .store import ensure_experiment, get_client, registry_uri, tracking_uri

if TYPE_CHECKING:
    from ..app import Application

# Scanflow node / run statuses -> MLflow run statuses.
MLFLOW_STATUS = {
    "succeeded": "FINISHED", "cached": "FINISHED", "reused": "FINISHED",
    "failed": "FAILED", "timeout": "FAILED", "skipped": "FAILED",
    "cancelled": "KILLED", "interrupted": "KILLED", "running": "RUNNING",
}
MAX_PARAM_LENGTH = 6000


class RunRecorder:
    """Records runs of one application in its MLflow experiment (thread-safe)."""

    def __init__(self, app: Application):
        self.app = app
        self.uri = tracking_uri(app)
        enable_wal(self.uri)
        self.client = get_client(self.uri, registry_uri(app))
        self.experiment_id = ensure_experiment(app, self.client)
        self._lock = threading.Lock()

    def start(self, name: str, tags: dict[str, str], params: dict[str, Any] | None = None,
              parent: str | None = None) -> str:
        """Create a run (nested under ``parent``) and return its id."""
        # lazy: mlflow (importing scanflow.track must not load it)
        from mlflow.entities import Param

        tags = {"mlflow.runName": name, "mlflow.user": _user(), "mlflow.source.type": "LOCAL",
                "scanflow.app": self.app.name, **{k: str(v) for k, v in tags.items()}}
        if self.app.source is not None:
            tags.setdefault("mlflow.source.name", str(self.app.source))
        if parent:
            tags["mlflow.parentRunId"] = parent
        with self._lock:
            run = self.client.create_run(self.experiment_id, start_time=int(time.time() * 1000),
                                         tags=tags, run_name=name)
            run_id = run.info.run_id
            items = [Param(str(k), _text(v)) for k, v in (params or {}).items()]
            for i in range(0, len(items), 100):
                self.client.log_batch(run_id, params=items[i:i + 100])
        return run_id

    def reopen(self, run_id: str) -> None:
        """Mark a run as running again (resume)."""
        with self._lock:
            self.client.update_run(run_id, status="RUNNING")

    def log_files(self, run_id: str, files: list[tuple[Path, str]]) -> None:
        """Upload ``(local file or folder, artifact folder)`` pairs that exist."""
        with self._lock:
            for path, folder in files:
                path = Path(path)
                if path.is_file():
                    self.client.log_artifact(run_id, str(path), folder or None)
                elif path.is_dir():
                    self.client.log_artifacts(run_id, str(path), f"{folder}/{path.name}" if folder else path.name)

    def finish(self, run_id: str, status: str, metrics: dict[str, float] | None = None,
               tags: dict[str, Any] | None = None, end_time: float | None = None) -> None:
        """Log final metrics and tags, then end the run with the MLflow status for ``status``."""
        # lazy: mlflow (importing scanflow.track must not load it)
        from mlflow.entities import Metric, RunTag

        now = int((end_time or time.time()) * 1000)
        with self._lock:
            self.client.log_batch(
                run_id,
                metrics=[Metric(k, float(v), now, 0) for k, v in (metrics or {}).items()],
                tags=[RunTag(k, str(v)) for k, v in {"scanflow.status": status, **(tags or {})}.items()],
            )
            self.client.set_terminated(run_id, MLFLOW_STATUS.get(status, "FAILED"), end_time=now)

    def kill_running_children(self, parent_run_id: str) -> list[str]:
        """End as KILLED the nested runs left RUNNING by a crashed scheduler."""
        killed = []
        with self._lock:
            todo = [parent_run_id]
            while todo:
                parent = todo.pop()
                children = self.client.search_runs(
                    [self.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent}'", max_results=1000)
                for child in children:
                    todo.append(child.info.run_id)
                    if child.info.status == "RUNNING":
                        self.client.set_terminated(child.info.run_id, "KILLED")
                        killed.append(child.info.run_id)
        return killed


def enable_wal(uri: str) -> None:
    """Put an embedded SQLite store in WAL mode (a persistent setting of the file): the
    scheduler and the node processes then write without blocking readers, with fewer fsyncs."""
    if not uri.startswith("sqlite:///"):
        return
    path = Path(uri[len("sqlite:///"):])
    if not path.exists():
        # lazy: mlflow (importing scanflow.track must not load it)
        from mlflow import MlflowClient

        MlflowClient(uri).search_experiments(max_results=1)  # create the schema first
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=30)) as db:
            db.execute("PRAGMA journal_mode=WAL").fetchall()
    except sqlite3.Error:
        pass  # another process holds a lock: the mode is only an optimisation


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    return text[:MAX_PARAM_LENGTH]


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        return "scanflow"
