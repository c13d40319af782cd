"""The run hierarchy the scheduler writes: a parent run per workflow run, a nested run per
nested workflow (group) and per node, with parameters, status, duration, logs and outputs.

Tags set by Scanflow (searchable in the MLflow UI): ``scanflow.kind`` (``workflow``, ``group``,
``node``), ``scanflow.app``, ``scanflow.workflow``, ``scanflow.node``, ``scanflow.run_id``,
``scanflow.status``, ``scanflow.attempts``, ``scanflow.cached``.

Only creating a run is synchronous (a node needs its run id before it starts); on an SQL store
it is one transaction with its tags and params (:func:`scanflow.track.batched.start_run`), and
the application's experiment is looked up once per process. Ending a run (logs, outputs, final
tags, status: :meth:`RunRecorder.finish_later`) goes to one background thread, in order, so
that a slot is free for the next node at once; runs that end while that thread is busy end
together in one transaction (:mod:`scanflow.track.batched`). :meth:`RunRecorder.flush` waits
for it; the scheduler flushes before it ends the parent run. On the embedded SQLite
store the recorder's connections commit with ``synchronous=NORMAL`` (safe in WAL mode: a crash
loses no committed run, a power cut may lose the last few), which halves the cost of a commit.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import getpass
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .batched import RunEnd, StartedRun, end_runs, sql_store, start_run
from .store import ensure_experiment, experiment_name, get_client, registry_uri, tracking_uri

if TYPE_CHECKING:
    from ..app import Application

# Scanflow node / run statuses -> MLflow run statuses.
MLFLOW_STATUS = {
    "succeeded": "FINISHED", "cached": "FINISHED", "reused": "FINISHED",
    "failed": "FAILED", "timeout": "FAILED", "skipped": "FAILED",
    "cancelled": "KILLED", "interrupted": "KILLED", "running": "RUNNING",
}
MAX_PARAM_LENGTH = 6000
log = logging.getLogger(__name__)

# (tracking URI, experiment name) -> id, as found by the last recorder of this process: a run
# of an application does not look its experiment up again (a parent run that cannot be created
# in it, e.g. the experiment was deleted meanwhile, looks again).
_EXPERIMENTS: dict[tuple[str, str], str] = {}


class RunRecorder:
    """Records runs of one application in its MLflow experiment (thread-safe)."""

    def __init__(self, app: Application):
        self.app = app
        self.uri = tracking_uri(app)
        enable_wal(self.uri)
        if self.uri.startswith("sqlite:///"):
            # lazy: cycle, the replay writes through this module's helpers
            from .replay import replay_pending

            replay_pending(Path(self.uri[len("sqlite:///"):]))  # deferred runs first, in order
        self.client = get_client(self.uri, registry_uri(app))
        self._experiment_key = (self.uri, experiment_name(app))
        self.experiment_id = _EXPERIMENTS.get(self._experiment_key) or self._ensure_experiment()
        self._lock = threading.Lock()
        self._artifact_uris: dict[str, str] = {}
        self._background: cf.ThreadPoolExecutor | None = None
        self._pending: list[cf.Future] = []
        self._ending: list[tuple[RunEnd, list[tuple[Path, str]]]] = []
        self._draining = False
        fast_commits(self.client)

    def start(self, name: str, tags: dict[str, str], params: dict[str, Any] | None = None,
              parent: str | None = None) -> str:
        """Create a run (nested under ``parent``) and return its id; ``params`` are logged in
        the background (:meth:`flush` waits for them)."""
        # lazy: mlflow (importing scanflow.track must not load it)
        from mlflow.entities import Param
        from mlflow.exceptions import MlflowException

        tags = run_tags(self.app, name, tags, parent)
        texts = {str(k): param_text(v) for k, v in (params or {}).items()}
        with self._lock:
            try:
                run = self._create_run(name, tags, texts)
            except MlflowException:  # the experiment known from an earlier run may be gone: look again
                if parent is not None:
                    raise
                self.experiment_id = self._ensure_experiment()
                run = self._create_run(name, tags, texts)
            self._artifact_uris[run.run_id] = run.artifact_uri
        if not run.params_written:  # in the background: only the run id is needed now
            self.submit(self._log_params, run.run_id, [Param(k, v) for k, v in texts.items()])
        return run.run_id

    def _ensure_experiment(self) -> str:
        _EXPERIMENTS[self._experiment_key] = experiment_id = ensure_experiment(self.app, self.client)
        return experiment_id

    def _create_run(self, name: str, tags: dict[str, str], params: dict[str, str]) -> StartedRun:
        return start_run(self.client, self.experiment_id, name, tags, int(time.time() * 1000), params)

    def node_env(self, run_id: str, isolated: bool = False) -> dict[str, str]:
        """``MLFLOW_*`` variables for a node logging to ``run_id``."""
        return {"MLFLOW_TRACKING_URI": self.uri, "MLFLOW_RUN_ID": run_id,
                "MLFLOW_EXPERIMENT_ID": str(self.experiment_id)}

    def _log_params(self, run_id: str, items: list[Any]) -> None:
        with self._lock:
            for i in range(0, len(items), 100):
                self.client.log_batch(run_id, params=items[i:i + 100])

    def reopen(self, run_id: str) -> None:
        """Mark a run as running again (resume)."""
        with self._lock:
            self.client.update_run(run_id, status="RUNNING")

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Run ``fn(*args, **kwargs)`` on the recorder's background thread, after what was
        submitted before; an error is logged, never raised (tracking must not fail a run)."""
        with self._lock:
            if self._background is None:
                self._background = cf.ThreadPoolExecutor(1, thread_name_prefix="scanflow-tracking")
            self._pending = [f for f in self._pending if not f.done()]
            self._pending.append(self._background.submit(_logged, fn, *args, **kwargs))

    def flush(self) -> None:
        """Wait until everything :meth:`submit`-ted is recorded."""
        with self._lock:
            pending, self._pending = self._pending, []
        cf.wait(pending)

    def close(self) -> None:
        """Flush and stop the background thread."""
        self.flush()
        with self._lock:
            background, self._background = self._background, None
        if background is not None:
            background.shutdown(wait=True)

    def log_files(self, run_id: str, files: list[tuple[Path, str]]) -> None:
        """Upload ``(local file or folder, artifact folder)`` pairs that exist."""
        upload_files(self.client, run_id, files, self._artifact_uris.get(run_id))

    def finish(self, run_id: str, status: str, metrics: dict[str, float] | None = None,
               tags: dict[str, Any] | None = None, end_time: float | None = None) -> None:
        """Log final metrics and tags, then end the run with the MLflow status for ``status``."""
        with self._lock:
            end_runs(self.client, [self._run_end(run_id, status, metrics, tags, end_time)])

    def finish_later(self, run_id: str, status: str, tags: dict[str, Any] | None = None,
                     end_time: float | None = None, files: list[tuple[Path, str]] | None = None) -> None:
        """:meth:`log_files` and :meth:`finish` in the background; the runs that end while the
        background thread is busy end together, in one transaction on an SQL store."""
        end = self._run_end(run_id, status, None, tags, end_time)
        with self._lock:
            self._ending.append((end, list(files or [])))
            start_drain, self._draining = not self._draining, True
        if start_drain:
            self.submit(self._drain)

    def _drain(self) -> None:
        with self._lock:
            batch, self._ending, self._draining = self._ending, [], False
        for end, files in batch:
            _logged(self.log_files, end.run_id, files)
        with self._lock:
            end_runs(self.client, [end for end, _ in batch])

    def _run_end(self, run_id: str, status: str, metrics: dict[str, float] | None,
                 tags: dict[str, Any] | None, end_time: float | None) -> RunEnd:
        return RunEnd(run_id, MLFLOW_STATUS.get(status, "FAILED"),
                      {k: str(v) for k, v in {"scanflow.status": status, **(tags or {})}.items()},
                      dict(metrics or {}), end_time or time.time())

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


def upload_files(client: Any, run_id: str, files: list[tuple[Path, str]], artifact_uri: str | None = None) -> None:
    """Upload ``(local file or folder, artifact folder)`` pairs that exist to ``run_id``'s
    artifacts; ``artifact_uri`` (the run's, if known) saves fetching the run."""
    repo = _artifact_repo(client, run_id, artifact_uri) if files else None
    for path, folder in files:
        path = Path(path)
        if path.is_file():
            repo.log_artifact(str(path), folder or None)
        elif path.is_dir():
            repo.log_artifacts(str(path), f"{folder}/{path.name}" if folder else path.name)


def _artifact_repo(client: Any, run_id: str, artifact_uri: str | None) -> Any:
    """The run's artifact repository (through the client on Databricks)."""
    # lazy: mlflow (importing scanflow.track must not load it)
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    uri = getattr(client, "tracking_uri", None) or ""  # no client: a local store's replay
    if uri.startswith("databricks"):
        return _ClientArtifacts(client, run_id)
    artifact_uri = artifact_uri or client.get_run(run_id).info.artifact_uri
    return get_artifact_repository(artifact_uri, tracking_uri=uri or None)


class _ClientArtifacts:
    """The client's artifact calls for one run (a run created elsewhere, or Databricks)."""

    def __init__(self, client: Any, run_id: str):
        self.client, self.run_id = client, run_id

    def log_artifact(self, path: str, folder: str | None) -> None:
        self.client.log_artifact(self.run_id, path, folder)

    def log_artifacts(self, path: str, folder: str | None) -> None:
        self.client.log_artifacts(self.run_id, path, folder)


def _logged(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    try:
        fn(*args, **kwargs)
    except Exception:  # noqa: BLE001 - a tracking error must not fail the run
        log.warning("scanflow: could not record to MLflow", exc_info=True)


def fast_commits(client: Any) -> None:
    """Commit with ``PRAGMA synchronous=NORMAL`` on ``client``'s embedded SQLite store (WAL)."""
    store = sql_store(client)
    engine = getattr(store, "engine", None)
    if engine is None or engine.dialect.name != "sqlite" or getattr(engine, "_scanflow_fast", False):
        return
    # lazy: sqlalchemy comes with mlflow (importing scanflow.track must not load it)
    from sqlalchemy import event

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
                cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    event.listen(engine, "connect", on_connect)
    engine._scanflow_fast = True
    engine.dispose()  # pooled connections were opened before: reopen them with the setting


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
    # lazy: scanflow.storage loads SQLAlchemy (importing scanflow.track must not)
    from scanflow.storage.engines import switch_to_wal

    try:
        with contextlib.closing(sqlite3.connect(path, timeout=30)) as db:
            switch_to_wal(db.cursor(), timeout_s=30)
    except sqlite3.Error:
        pass  # another process holds a lock: the mode is only an optimisation


def run_tags(app: Application, name: str, tags: dict[str, Any], parent: str | None) -> dict[str, str]:
    """The tags of a new run: MLflow's own (name, user, source, parent) and Scanflow's."""
    tags = {"mlflow.runName": name, "mlflow.user": _user(), "mlflow.source.type": "LOCAL",
            "scanflow.app": app.name, **{k: str(v) for k, v in tags.items()}}
    if app.source is not None:
        tags.setdefault("mlflow.source.name", str(app.source))
    if parent:
        tags["mlflow.parentRunId"] = parent
    return tags


def param_text(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    return text[:MAX_PARAM_LENGTH]


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        return "scanflow"
