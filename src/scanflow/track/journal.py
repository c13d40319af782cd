"""Deferred tracking: the scheduler writes its run hierarchy to a journal, a background process
writes the journal into MLflow.

``import mlflow`` alone takes 1-2 s, and opening the store, creating the experiment and the
parent run as much again: a tracked ``scanflow run`` of one short node paid ~3 s before the
node started. With deferred tracking the scheduler imports no MLflow at all. It chooses each
run's id itself (a ``uuid4`` hex, as MLflow does) and appends what it would have told MLflow —
the experiment, a run created (with its parent and tags), its parameters, its end (status,
tags, metrics, the files to upload), a resumed run — as one JSON line per event to
``<state>/tracking/journals/<time>-<pid>.jsonl``. A writer process
(:mod:`scanflow.track.replay`), started in the background when the journal opens, imports
MLflow while the first node runs and replays the journal into the store through MLflow's own
client and table models: the stock MLflow UI shows exactly the runs, nesting, parameters, tags,
logs and artifacts the synchronous :class:`~scanflow.track.recorder.RunRecorder` writes.

The scheduler does not wait for the writer: ``scanflow run`` ends when its nodes end, and its
records reach MLflow a moment later (readers that need them call
:func:`scanflow.track.sync_tracking`, which replays what is pending itself). Code in
a node that logs to its run (``MLFLOW_RUN_ID``) sees it: the node's ``MLFLOW_TRACKING_URI`` is
``scanflow+sqlite:///…``, an MLflow store plug-in that replays the pending journals before it
opens the same SQLite file. Nothing is lost when a process dies: a journal is a file, its
replay is idempotent, and whoever reads next (the writer, a node, ``wait_for_tracking``)
finishes it.

Only the embedded SQLite store is tracked this way (on a tracking server MLflow chooses the run
ids); :func:`make_recorder` falls back to the synchronous recorder for any other store.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .recorder import MLFLOW_STATUS, RunRecorder, param_text, run_tags
from .store import artifact_root, experiment_name, registry_uri, tracking_uri

if TYPE_CHECKING:
    from ..app import Application

#: The URI scheme of the MLflow store plug-in that replays pending journals first.
NODE_SCHEME = "scanflow+sqlite"


def tracking_dir(db_path: str | os.PathLike[str]) -> Path:
    """Where the journals of the SQLite store at ``db_path`` go (beside it)."""
    return Path(db_path).resolve().parent / "tracking"


def journals_dir(db_path: str | os.PathLike[str]) -> Path:
    return tracking_dir(db_path) / "journals"


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` or ``scanflow+sqlite:///`` URI, else ``None``."""
    for prefix in ("sqlite:///", f"{NODE_SCHEME}:///"):
        if uri.startswith(prefix):
            return Path(uri[len(prefix):])
    return None


#: Seconds into a run before its background writer starts. The writer's start (a Python process
#: importing MLflow: ~1.5 s of CPU) would compete with the nodes of a short run on a small
#: machine; a run shorter than this starts it when it ends. (A node that logs to its run writes
#: the pending journal itself: it never waits for the writer.)
WRITER_DELAY = 1.0


def make_recorder(app: Application, deferred: bool) -> JournalRecorder | RunRecorder:
    """The recorder for a run of ``app``: the journal when ``deferred`` and the store is the
    embedded SQLite one (on POSIX: the replay locks files with ``fcntl``), else the synchronous
    :class:`RunRecorder`."""
    if deferred and os.name == "posix" and sqlite_path(tracking_uri(app)) is not None:
        return JournalRecorder(app)
    return RunRecorder(app)


class JournalRecorder:
    """Records runs of one application to a journal (thread-safe; the
    :class:`~scanflow.track.recorder.RunRecorder` interface, without MLflow)."""

    def __init__(self, app: Application, start_writer: bool = True):
        self.app = app
        self.uri = tracking_uri(app)
        self.db_path = sqlite_path(self.uri)
        self.experiment_id = _known_experiment_id(self.db_path, experiment_name(app))
        folder = journals_dir(self.db_path)
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{time.time_ns():020d}-{os.getpid()}.jsonl"
        self._lock = threading.Lock()
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()
        self._write({"op": "experiment", "name": experiment_name(app), "artifact_location": artifact_root(app),
                     "tags": {"scanflow.app": app.name}, "pid": os.getpid()})
        self._writer: threading.Timer | None = None
        if start_writer:  # not at once: see WRITER_DELAY
            self._writer = threading.Timer(WRITER_DELAY, self._start_writer)
            self._writer.daemon = True
            self._writer.start()

    def _start_writer(self) -> None:
        with self._lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            writer.cancel()
            start_writer_process(self.db_path)

    @property
    def node_uri(self) -> str:
        """The tracking URI for a node's process: the plug-in that replays pending journals."""
        return f"{NODE_SCHEME}:///{self.db_path}"

    def node_env(self, run_id: str, isolated: bool = False) -> dict[str, str]:
        """``MLFLOW_*`` variables for a node logging to ``run_id``. An ``isolated`` node's
        environment may lack Scanflow (and so the plug-in): its run is written first."""
        uri = self.node_uri
        if isolated:
            self.wait_applied()
            uri = self.uri
        env = {"MLFLOW_TRACKING_URI": uri, "MLFLOW_RUN_ID": run_id,
               "MLFLOW_REGISTRY_URI": registry_uri(self.app) or self.uri}
        if self.experiment_id:
            env["MLFLOW_EXPERIMENT_ID"] = self.experiment_id
        return env

    def start(self, name: str, tags: dict[str, str], params: dict[str, Any] | None = None,
              parent: str | None = None) -> str:
        """Journal a run (nested under ``parent``) and return its id."""
        run_id = uuid.uuid4().hex
        self._write({"op": "start", "run_id": run_id, "name": name, "start_ms": _ms(time.time()),
                     "tags": run_tags(self.app, name, tags, parent)})
        if params:
            self._write({"op": "params", "run_id": run_id,
                         "params": {str(k): param_text(v) for k, v in params.items()}})
        return run_id

    def reopen(self, run_id: str) -> None:
        self._write({"op": "reopen", "run_id": run_id})

    def kill_running_children(self, parent_run_id: str) -> list[str]:
        """End as KILLED, at replay, the nested runs a crashed scheduler left RUNNING."""
        self._write({"op": "kill_children", "run_id": parent_run_id})
        return []

    def finish(self, run_id: str, status: str, metrics: dict[str, float] | None = None,
               tags: dict[str, Any] | None = None, end_time: float | None = None) -> None:
        self.finish_later(run_id, status, tags, end_time, metrics=metrics)

    def finish_later(self, run_id: str, status: str, tags: dict[str, Any] | None = None,
                     end_time: float | None = None, files: list[tuple[Path, str]] | None = None,
                     metrics: dict[str, float] | None = None) -> None:
        """Journal the end of a run: status, tags, metrics, and files to upload as artifacts."""
        self._write({"op": "end", "run_id": run_id, "status": MLFLOW_STATUS.get(status, "FAILED"),
                     "tags": {k: str(v) for k, v in {"scanflow.status": status, **(tags or {})}.items()},
                     "metrics": {k: float(v) for k, v in (metrics or {}).items()},
                     "end_ms": _ms(end_time or time.time()),
                     "files": [[str(path), folder] for path, folder in files or []]})

    def flush(self) -> None:
        """Nothing to wait for: events are in the journal as soon as they are written."""

    def close(self) -> None:
        """Seal the journal (the writer then knows it is complete) and make it durable."""
        with self._lock:
            if self._file.closed:
                return
            self._file.write(json.dumps({"op": "close"}) + "\n")
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
        self._start_writer()  # a run shorter than WRITER_DELAY: its writer starts now

    def wait_applied(self) -> None:
        """Write this journal so far to the store now, in this process (for a node process
        that talks to the store without the plug-in)."""
        with self._lock:
            self._file.flush()
        from .replay import replay_pending  # lazy: cycle, the replay reads this module's files

        replay_pending(self.db_path)

    def _write(self, event: dict[str, Any]) -> None:
        line = json.dumps(event, default=str) + "\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()


def start_writer_process(db_path: Path) -> None:
    """Start the background writer for the store at ``db_path`` (it exits when it is done;
    a second writer for the same store exits at once)."""
    log = tracking_dir(db_path) / "writer.log"
    with open(log, "ab") as err:
        subprocess.Popen(  # noqa: S603 - our own module, with our own interpreter
            [sys.executable, "-m", "scanflow.track.replay", str(db_path)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
            start_new_session=True, close_fds=True,
            env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": os.environ.get("MLFLOW_DISABLE_TELEMETRY", "true")})


def _known_experiment_id(db_path: Path, name: str) -> str | None:
    """The experiment's id if the store already has it (read with the standard library: no
    MLflow), else ``None`` (the writer creates it)."""
    if not db_path.exists():
        return None
    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5) as db:
            row = db.execute("SELECT experiment_id FROM experiments WHERE name = ? AND lifecycle_stage = 'active'",
                             (name,)).fetchone()
    except sqlite3.Error:
        return None
    return str(row[0]) if row else None


def _ms(seconds: float) -> int:
    return int(seconds * 1000)
