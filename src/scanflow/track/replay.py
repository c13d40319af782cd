"""Replaying tracking journals into MLflow (see :mod:`scanflow.track.journal`).

Every process that replays takes one lock per store (``tracking/replay.lock``), reads the
journals in the order they were opened, applies the complete lines it has not applied yet and
records how far it got (``<journal>.applied``); a sealed journal that is fully applied is
deleted. A run is created with the id the scheduler chose, with the rows MLflow's own
``SqlAlchemyStore.create_run`` writes (:func:`scanflow.track.batched.insert_run`: its row, its
artifact location, its tags), so a replay that was cut short and done again finds the run there
and goes on.

``python -m scanflow.track.replay DB`` is the background writer: it replays until no journal is
left (a journal whose process died unsealed is finished as far as it goes) and exits.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..app import Application
from .batched import RunEnd, end_runs, insert_run
from .journal import journals_dir, sqlite_path, tracking_dir
from .recorder import enable_wal, fast_commits, upload_files
from .store import tracking_uri

log = logging.getLogger(__name__)
POLL = 0.05        # s between looks at a growing journal
ORPHAN_GRACE = 5.0  # s an unsealed journal of a dead process may still grow (its last write)


def sync_tracking(target: Application | str | os.PathLike[str]) -> int:
    """Write now to MLflow what deferred runs of ``target`` (an application, or the path of
    its SQLite store) have journaled and the background writer has not written yet: what a
    reader needs before it looks at the runs. Returns how many events were written; waits
    while another process writes. Journals still being written are written as far as they go.

    ``target`` may also be a tracking URI: only ``sqlite:///`` stores have journals.

    >>> import tempfile
    >>> sync_tracking(Application(name="nothing-yet", state_dir=tempfile.mkdtemp()))
    0
    """
    if isinstance(target, Application):
        target = tracking_uri(target)
    text = str(target)
    db = sqlite_path(text) if "://" in text else Path(text)
    return 0 if db is None else replay_pending(db)


def replay_pending(db_path: Path, store: Any = None) -> int:
    """Apply the complete, not yet applied lines of every journal; returns how many.
    ``store``: MLflow's SQL store on ``db_path`` when the caller has one (else one is opened,
    once per process)."""
    if not journals_dir(db_path).exists():
        return 0
    with _replay_lock(db_path):
        journals = _journals(db_path)
        if not journals:
            return 0
        replayer = _Replayer(db_path, store if store is not None else _store(db_path))
        return sum(replayer.replay(journal) for journal in journals)


_STORES: dict[Path, Any] = {}


def _store(db_path: Path) -> Any:
    """This process's store on ``db_path`` (opening one checks the schema: once is enough)."""
    key = Path(db_path).resolve()
    if key not in _STORES:
        _STORES[key] = open_store(key)
    return _STORES[key]


class _Replayer:
    """Applies journal events to the SQLite store at ``db_path`` through MLflow's own SQL store
    (not a client: inside the ``scanflow+sqlite`` plug-in, MLflow is building a store, and a
    client would ask its registry for one again)."""

    def __init__(self, db_path: Path, store: Any):
        self.store = store
        enable_wal(f"sqlite:///{db_path}")
        fast_commits(self.store)
        self.experiments: dict[str, str] = {}
        self.experiment_id: str | None = None

    def replay(self, journal: Path) -> int:
        done = _applied(journal)
        lines = _complete_lines(journal)
        if done >= len(lines):
            self._maybe_delete(journal, lines)
            return 0
        ends: list[tuple[RunEnd, list[list[str]]]] = []
        self.experiment_id = self._experiment(json.loads(lines[0]))  # every journal opens with it
        for line in lines[max(done, 1):]:  # only what is new: the writer looks every 50 ms
            self._apply(json.loads(line), ends)
        self._end(ends)
        _set_applied(journal, len(lines))
        self._maybe_delete(journal, lines)
        return len(lines) - done

    def _apply(self, event: dict[str, Any], ends: list[tuple[RunEnd, list[list[str]]]]) -> None:
        # lazy: mlflow (importing scanflow.track must not load it)
        from mlflow.entities import Param, RunStatus

        op = event["op"]
        if op != "end":
            self._end(ends)  # in order: a run's end goes in before what follows it
        if op == "start":
            create_run_with_id(self.store, self.experiment_id, event)
        elif op == "params":  # logged again with the same value (a replay done twice): a no-op
            items = [Param(k, v) for k, v in event["params"].items()]
            for i in range(0, len(items), 100):
                self.store.log_batch(event["run_id"], [], items[i:i + 100], [])
        elif op == "end":
            ends.append((RunEnd(event["run_id"], event["status"], event["tags"], event["metrics"],
                                event["end_ms"] / 1000), event.get("files") or []))
        elif op == "reopen":
            run = self.store.get_run(event["run_id"])
            self.store.update_run_info(event["run_id"], RunStatus.RUNNING, run.info.end_time, None)
        elif op == "kill_children":
            _kill_running_children(self.store, self.experiment_id, event["run_id"])

    def _experiment(self, event: dict[str, Any]) -> str:
        name = event["name"]
        if name not in self.experiments:
            self.experiments[name] = _ensure_experiment(self.store, name, event.get("artifact_location"),
                                                        event.get("tags") or {})
        return self.experiments[name]

    def _end(self, ends: list[tuple[RunEnd, list[list[str]]]]) -> None:
        if not ends:
            return
        for end, files in ends:
            if files:
                upload_files(None, end.run_id, [(Path(p), folder) for p, folder in files],
                             self.store.get_run(end.run_id).info.artifact_uri)
        end_runs(self.store, [end for end, _ in ends])
        ends.clear()

    @staticmethod
    def _maybe_delete(journal: Path, lines: list[str]) -> None:
        if lines and json.loads(lines[-1])["op"] == "close" or (not _owner_alive(journal) and _quiet(journal)):
            journal.unlink(missing_ok=True)
            _applied_path(journal).unlink(missing_ok=True)


def open_store(db_path: Path) -> Any:
    """MLflow's SQL tracking store on the SQLite file (its schema made or migrated)."""
    # lazy: mlflow (importing scanflow.track must not load it)
    from mlflow.tracking._tracking_service.utils import _get_sqlalchemy_store

    with schema_lock(db_path):
        return _get_sqlalchemy_store(f"sqlite:///{db_path}", None)


@contextlib.contextmanager
def schema_lock(db_path: Path) -> Iterator[None]:
    """Held while a process opens MLflow's SQL store on ``db_path``: opening one creates or
    migrates the schema, and under deferred tracking the background writer and the first
    nodes open a new file at the same moment. Two of MLflow's migrations run at once on one
    SQLite file fail, and leave a half-made table (``_alembic_tmp_experiments``) that fails
    every later attempt."""
    with _file_lock(db_path, "schema.lock"):
        yield


def _ensure_experiment(store: Any, name: str, artifact_location: str | None, tags: dict[str, str]) -> str:
    # lazy: mlflow (importing scanflow.track must not load it)
    from mlflow.entities import ExperimentTag
    from mlflow.exceptions import MlflowException

    found = store.get_experiment_by_name(name)
    if found is None:
        try:
            return store.create_experiment(name, artifact_location, [ExperimentTag(k, v) for k, v in tags.items()])
        except MlflowException:  # created meanwhile by another process
            found = store.get_experiment_by_name(name)
    if found.lifecycle_stage == "deleted":
        store.restore_experiment(found.experiment_id)
    return found.experiment_id


def create_run_with_id(store: Any, experiment_id: str | None, event: dict[str, Any]) -> None:
    """Create the run ``event["run_id"]`` with the rows MLflow's ``create_run`` writes (same
    tags and artifact location as any run); a run already there (a replay done twice) is kept."""
    # lazy: mlflow (importing scanflow.track must not load it)
    from mlflow.exceptions import MlflowException

    try:
        insert_run(store, str(experiment_id), event["name"], event["tags"], event["start_ms"],
                   run_id=event["run_id"])
    except MlflowException:  # the store's word for an id already taken
        store.get_run(event["run_id"])  # there already (a replay done twice): keep it; else raise


def _kill_running_children(store: Any, experiment_id: str | None, parent_run_id: str) -> None:
    # lazy: mlflow (importing scanflow.track must not load it)
    from mlflow.entities import RunStatus, ViewType

    todo = [parent_run_id]
    while todo:
        parent = todo.pop()
        for child in store.search_runs([experiment_id], f"tags.mlflow.parentRunId = '{parent}'",
                                       ViewType.ACTIVE_ONLY, 1000):
            todo.append(child.info.run_id)
            if child.info.status == "RUNNING":
                store.update_run_info(child.info.run_id, RunStatus.KILLED, int(time.time() * 1000), None)


# -- journal files ---------------------------------------------------------------------------------

def _journals(db_path: Path) -> list[Path]:
    folder = journals_dir(db_path)
    return sorted(folder.glob("*.jsonl")) if folder.exists() else []


def _complete_lines(journal: Path) -> list[str]:
    try:
        text = journal.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    lines = text.split("\n")
    return [line for line in lines[:-1] if line.strip()]  # the last piece has no newline yet


def _applied_path(journal: Path) -> Path:
    return journal.with_suffix(".applied")


def _applied(journal: Path) -> int:
    try:
        return int(_applied_path(journal).read_text())
    except (FileNotFoundError, ValueError):
        return 0


def _set_applied(journal: Path, count: int) -> None:
    tmp = _applied_path(journal).with_suffix(".tmp")
    tmp.write_text(str(count))
    os.replace(tmp, _applied_path(journal))


def _owner_alive(journal: Path) -> bool:
    """Is the process that writes ``journal`` (its name ends with the pid) still running?"""
    try:
        pid = int(journal.stem.rsplit("-", 1)[1])
        os.kill(pid, 0)
    except (IndexError, ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def _quiet(journal: Path) -> bool:
    try:
        return time.time() - journal.stat().st_mtime > ORPHAN_GRACE
    except FileNotFoundError:
        return True


def _replay_lock(db_path: Path) -> contextlib.AbstractContextManager[None]:
    return _file_lock(db_path, "replay.lock")


@contextlib.contextmanager
def _file_lock(db_path: Path, name: str) -> Iterator[None]:
    """An exclusive lock, across processes, on ``<tracking folder>/name``."""
    import fcntl  # lazy: POSIX only (deferred tracking is; Windows records as the run goes)

    folder = tracking_dir(db_path)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / name, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# -- the background writer -------------------------------------------------------------------------

def run_writer(db_path: Path) -> None:
    """Replay until no journal is left; one writer per store (a second one exits at once)."""
    import fcntl  # lazy: POSIX only, as above

    folder = tracking_dir(db_path)
    with open(folder / "writer.lock", "a") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return  # another writer runs; it looks again for journals before it exits
            try:
                _write_until_done(db_path)
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
            if not _journals(db_path):  # none came in while the lock was let go
                return


def _write_until_done(db_path: Path) -> None:
    while True:
        try:
            replay_pending(db_path)
        except Exception:  # noqa: BLE001 - keep the journal; the next reader retries it
            log.exception("scanflow: replaying a tracking journal failed")
            time.sleep(1.0)
        journals = _journals(db_path)
        if not journals:
            return
        if all(not _owner_alive(j) and _quiet(j) and _applied(j) >= len(_complete_lines(j)) for j in journals):
            return
        time.sleep(POLL)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    run_writer(Path(args[0]))


if __name__ == "__main__":
    main()
