"""A run's state on disk: ``<state>/runs/<RUN_ID>/state.json``, rewritten atomically on every
change, so that a run killed with ``kill -9`` can be listed, inspected and resumed.

Folder of a run::

    runs/<RUN_ID>/state.json         statuses, attempts, cache keys, pids, MLflow run ids
    runs/<RUN_ID>/outputs/           $SCANFLOW_OUTPUT_DIR, shared by the nodes of the run
    runs/<RUN_ID>/nodes/<node id>/   each node's working directory, logs/stdout.log, logs/stderr.log
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from scanflow.errors import ScanflowError

FINISHED_OK = ("succeeded", "cached", "reused")
FAILED = ("failed", "timeout", "cancelled", "skipped")


class RunNotFound(ScanflowError, LookupError):
    """No run with this id in the state directory."""


class RunState:
    """The JSON record of one run, safe to update from worker threads."""

    def __init__(self, folder: Path, data: dict[str, Any]):
        self.folder = Path(folder)
        self.data = data
        self._lock = threading.RLock()

    @property
    def path(self) -> Path:
        return self.folder / "state.json"

    @property
    def run_id(self) -> str:
        return self.data["run_id"]

    @property
    def output_dir(self) -> Path:
        return self.folder / "outputs"

    def node_dir(self, node_id: str) -> Path:
        return self.folder / "nodes" / node_id

    @classmethod
    def create(cls, state_dir: Path, run_id: str, **fields: Any) -> RunState:
        folder = Path(state_dir) / "runs" / run_id
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "outputs").mkdir(exist_ok=True)
        data = {"run_id": run_id, "status": "running", "created_at": time.time(), "finished_at": None,
                "pid": os.getpid(), "pid_create_time": _create_time(os.getpid()),
                "host": socket.gethostname(), "nodes": {}, "groups": {}, **fields}
        state = cls(folder, data)
        state.save()
        return state

    @classmethod
    def load(cls, folder: Path) -> RunState:
        return cls(folder, json.loads((Path(folder) / "state.json").read_text()))

    def save(self) -> None:
        with self._lock:
            text = json.dumps(self.data, indent=1, default=str)
            tmp = self.path.with_suffix(f".tmp{threading.get_ident()}")
            tmp.write_text(text)
            os.replace(tmp, self.path)

    def update(self, **fields: Any) -> None:
        with self._lock:
            self.data.update(fields)
            self.save()

    def node(self, node_id: str) -> dict[str, Any]:
        with self._lock:
            return self.data["nodes"].setdefault(node_id, {"status": "pending", "attempts": 0})

    def update_node(self, node_id: str, **fields: Any) -> None:
        with self._lock:
            self.node(node_id).update(fields)
            self.save()

    def statuses(self) -> dict[str, str]:
        with self._lock:
            return {k: v.get("status", "pending") for k, v in self.data["nodes"].items()}

    def is_alive(self) -> bool:
        """Whether the scheduler process that owns this run is still running."""
        return process_alive(self.data.get("pid"), self.data.get("pid_create_time"))

    def effective_status(self) -> str:
        """``status``, except that a ``running`` run whose scheduler is gone is ``interrupted``."""
        status = self.data.get("status", "running")
        if status == "running" and not self.is_alive():
            return "interrupted"
        return status


def _create_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def process_alive(pid: int | None, create_time: float | None) -> bool:
    if not pid:
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return create_time is None or abs(proc.create_time() - create_time) < 0.01
    except psutil.Error:
        return False


def runs_dir(state_dir: Path) -> Path:
    return Path(state_dir) / "runs"


def list_runs(state_dir: Path) -> list[RunState]:
    """Every run recorded under ``state_dir``, newest first."""
    folder = runs_dir(state_dir)
    states = []
    if folder.is_dir():
        for sub in folder.iterdir():
            if (sub / "state.json").is_file():
                try:
                    states.append(RunState.load(sub))
                except (OSError, ValueError):
                    continue
    return sorted(states, key=lambda s: s.data.get("created_at") or 0, reverse=True)


def find_run(state_dir: Path, run_id: str) -> RunState:
    """The run whose id is ``run_id`` or starts with it (a unique prefix is enough)."""
    folder = runs_dir(state_dir)
    if (folder / run_id / "state.json").is_file():
        return RunState.load(folder / run_id)
    matches = [s for s in list_runs(state_dir) if s.run_id.startswith(run_id)] if run_id else []
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise RunNotFound(f"no run {run_id!r} in {folder}: `scanflow runs APP` lists the runs")
    ids = ", ".join(s.run_id for s in matches[:5])
    raise RunNotFound(f"run id prefix {run_id!r} is ambiguous ({ids}): give more characters")


_SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", "mlartifacts", "envs", "cache"}


def state_dirs_under(folder: Path, depth: int = 4) -> list[Path]:
    """The state folders (those holding a ``runs/`` folder) in ``folder`` and up to ``depth``
    levels below it (``examples/mnist/.scanflow``, ``.scanflow/demo``...), nearest first."""
    found, level = [], [Path(folder)]
    for _ in range(depth + 1):
        below = []
        for path in level:
            if (path / "runs").is_dir():
                found.append(path)
            with_runs = path / "runs"
            try:
                below += sorted(p for p in path.iterdir() if p.is_dir() and p != with_runs
                                and p.name not in _SKIP_DIRS)
            except OSError:
                continue
        level = below
    return found


def find_run_under(folder: Path, run_id: str, depth: int = 4) -> RunState:
    """The run ``run_id`` (or a unique prefix) in any state folder under ``folder``, so that
    ``scanflow runs show RUN_ID`` needs no application from where the runs were started."""
    matches = []
    for state_dir in state_dirs_under(folder, depth):
        try:
            matches.append(find_run(state_dir, run_id))
        except RunNotFound as exc:
            if "ambiguous" in str(exc):
                raise
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise RunNotFound(f"no run {run_id!r} in any state folder under {folder}: give the "
                          "application (`scanflow runs show RUN_ID APP`); `scanflow runs APP` "
                          "lists its runs")
    ids = ", ".join(str(m.folder) for m in matches[:5])
    raise RunNotFound(f"run id prefix {run_id!r} matches runs of several applications ({ids}): "
                      "give more characters or the application")
