"""A run's state on disk, kept current on every change, so that a run killed with ``kill -9``
can be listed, inspected and resumed: ``state.json`` is a snapshot, rewritten atomically when
the run starts and ends; the node changes in between are appended to ``state.journal`` (one
JSON line each, numbered), which :meth:`RunState.load` replays over the snapshot. An append
costs microseconds where rewriting the snapshot (a new file and a rename) costs milliseconds,
three times per node; a line cut short by a crash is ignored.

Folder of a run::

    runs/<RUN_ID>/state.json         statuses, attempts, cache keys, pids, MLflow run ids
    runs/<RUN_ID>/state.journal      node changes since the snapshot
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
from typing import IO, Any

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
        self._journal: IO[str] | None = None
        self._unsaved: dict[str, dict[str, Any]] = {}  # node changes not in the journal yet

    @property
    def path(self) -> Path:
        return self.folder / "state.json"

    @property
    def journal_path(self) -> Path:
        return self.folder / "state.journal"

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
        state = cls(folder, json.loads((Path(folder) / "state.json").read_text()))
        state._replay()
        return state

    def save(self) -> None:
        """Write the snapshot (atomically) and empty the journal."""
        with self._lock:
            # Compact: the C encoder (an indent falls back to the pure-Python one, ~4x slower).
            text = json.dumps(self.data, default=str, separators=(",", ":"))
            tmp = self.path.with_suffix(f".tmp{threading.get_ident()}")
            tmp.write_text(text)
            os.replace(tmp, self.path)
            self._unsaved.clear()
            if self._journal is not None:
                self._journal.close()
                self._journal = None
            # Its lines (numbered up to data["seq"]) are in the snapshot; one left by a crash
            # right here is skipped on load.
            self.journal_path.unlink(missing_ok=True)

    def _append(self, node_id: str, fields: dict[str, Any]) -> None:
        if self._journal is None:
            self._journal = open(self.journal_path, "a")  # noqa: SIM115 - open until the next save
        self.data["seq"] = self.data.get("seq", 0) + 1
        line = json.dumps({"seq": self.data["seq"], "node": node_id, "set": fields}, default=str,
                          separators=(",", ":"))
        self._journal.write(line + "\n")
        self._journal.flush()

    def _replay(self) -> None:
        try:
            lines = self.journal_path.read_text().splitlines()
        except OSError:
            return
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                break  # cut short by a crash: nothing after it was written
            if entry.get("seq", 0) > self.data.get("seq", 0):
                self.data["nodes"].setdefault(entry["node"], {"status": "pending", "attempts": 0}).update(entry["set"])
                self.data["seq"] = entry["seq"]

    def update(self, **fields: Any) -> None:
        with self._lock:
            self.data.update(fields)
            self.save()

    def node(self, node_id: str) -> dict[str, Any]:
        with self._lock:
            return self.data["nodes"].setdefault(node_id, {"status": "pending", "attempts": 0})

    def update_node(self, node_id: str, *, persist: bool = True, **fields: Any) -> None:
        """Update a node's record and append the change to the journal; ``persist=False``
        keeps it in memory until the node's next persisted change (for fields that a resume
        after ``kill -9`` does not need)."""
        with self._lock:
            self.node(node_id).update(fields)
            unsaved = {**self._unsaved.pop(node_id, {}), **fields}
            if persist:
                self._append(node_id, unsaved)
            else:
                self._unsaved[node_id] = unsaved

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
