"""Ending many MLflow runs at once: final tags, status and end time of every run in a batch.

Through the client, ending one run is a ``log_batch`` (four sessions on an SQL store: the run,
its params, its metrics, its tags) and a ``set_terminated`` (a fifth): ~10 ms of CPU per node
on SQLite, more than the node itself when it is short. On an SQL store (the embedded SQLite
default, or a PostgreSQL/MySQL backend store) :func:`end_runs` writes the whole batch in one
transaction through MLflow's own table models instead, so the rows are exactly the ones the
client would write; anything else (an MLflow server, a store whose models changed) goes
through the client, run by run.

The scheduler ends its node runs here from its background thread (:class:`RunRecorder`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

# MLflow's limit for a tag value (longer ones are refused); errors are cut well below it.
MAX_TAG_LENGTH = 5000


@dataclass
class RunEnd:
    """How one run ends: its MLflow status, final tags and metrics, and the end time (s)."""

    run_id: str
    status: str                                        # an MLflow status: FINISHED, FAILED, KILLED
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    end_time: float = field(default_factory=time.time)

    @property
    def end_ms(self) -> int:
        return int(self.end_time * 1000)


def end_runs(client: Any, batch: list[RunEnd]) -> None:
    """End every run of ``batch``: in one transaction on an SQL store, else through ``client``."""
    if not batch:
        return
    store = sql_store(client)
    if store is not None and not any(end.metrics for end in batch):
        try:
            _end_in_one_transaction(store, batch)
            return
        except Exception:  # noqa: BLE001 - the models of this MLflow differ: take the slow path
            log.debug("scanflow: batched run ends failed; ending the runs one by one", exc_info=True)
    for end in batch:
        end_through_client(client, end)


def end_through_client(client: Any, end: RunEnd) -> None:
    """End one run through the public client API (any tracking store)."""
    # lazy: mlflow (importing scanflow.track must not load it)
    from mlflow.entities import Metric, RunTag

    client.log_batch(end.run_id,
                     metrics=[Metric(k, float(v), end.end_ms, 0) for k, v in end.metrics.items()],
                     tags=[RunTag(k, _tag(v)) for k, v in end.tags.items()])
    client.set_terminated(end.run_id, end.status, end_time=end.end_ms)


def sql_store(client: Any) -> Any | None:
    """The client's SQLAlchemy tracking store (or ``client`` itself when it is one), or
    ``None`` (a server, a file store)."""
    # The client keeps its store private; a store without an engine is not an SQL one.
    store = client if hasattr(client, "ManagedSessionMaker") else \
        getattr(getattr(client, "_tracking_client", None), "store", None)
    if getattr(store, "engine", None) is None or not hasattr(store, "ManagedSessionMaker"):
        return None
    return store


def _end_in_one_transaction(store: Any, batch: list[RunEnd]) -> None:
    # lazy: mlflow (importing scanflow.track must not load it)
    from mlflow.store.tracking.dbmodels.models import SqlRun, SqlTag

    ids = [end.run_id for end in batch]
    with store.ManagedSessionMaker(read_only=False) as session:
        runs = {r.run_uuid: r for r in session.query(SqlRun).filter(SqlRun.run_uuid.in_(ids)).all()}
        existing = {(t.run_uuid, t.key): t for t in session.query(SqlTag).filter(SqlTag.run_uuid.in_(ids)).all()}
        for end in batch:
            run = runs.get(end.run_id)
            if run is None or run.lifecycle_stage != "active":
                continue  # deleted meanwhile: as the client, leave it alone
            for key, value in end.tags.items():
                tag = existing.get((end.run_id, key))
                if tag is None:
                    existing[(end.run_id, key)] = tag = SqlTag(run_uuid=end.run_id, key=key)
                    session.add(tag)
                tag.value = _tag(value)
            run.status = end.status
            run.end_time = end.end_ms


def _tag(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    return text[:MAX_TAG_LENGTH]
