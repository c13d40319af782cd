"""Starting an MLflow run, and ending many at once, in one transaction each.

Through the client, ending one run is a ``log_batch`` (four sessions on an SQL store: the run,
its params, its metrics, its tags) and a ``set_terminated`` (a fifth): ~10 ms of CPU per node
on SQLite, more than the node itself when it is short; creating one with its params is seven.
On an SQL store (the embedded SQLite default, or a PostgreSQL/MySQL backend store)
:func:`start_run` and :func:`end_runs` (a whole batch, final metrics included) write in one
transaction through MLflow's own table models instead, so the rows are exactly the ones the
client would write; anything else (an MLflow server, a store whose models changed, a value
the client would refuse) goes through the client, which says why.

The scheduler ends its node runs here from its background thread (:class:`RunRecorder`).
"""

from __future__ import annotations

import logging
import time
import uuid
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
    if store is not None:
        try:
            _end_in_one_transaction(store, batch)
            return
        except Exception:  # noqa: BLE001 - the models of this MLflow differ: take the slow path
            log.debug("scanflow: batched run ends failed; ending the runs one by one", exc_info=True)
    for end in batch:
        end_through_client(client, end)


@dataclass
class StartedRun:
    """A run just created: its id, its artifact URI, whether its params were written with it."""

    run_id: str
    artifact_uri: str
    params_written: bool


def start_run(client: Any, experiment_id: str, name: str, tags: dict[str, str], start_ms: int,
              params: dict[str, str] | None = None) -> StartedRun:
    """Create a run as ``client.create_run(experiment_id, start_ms, tags, name)`` does, with
    ``params`` if it can. On an SQL store it is one transaction through MLflow's table models
    (the client's ``create_run`` opens three sessions and ``log_batch`` four more: ~11 ms on
    SQLite, on the path of every node that waits for its run id); elsewhere, or if the models
    differ, the client's ``create_run``, and the params are left to the caller."""
    store = sql_store(client)
    if store is not None:
        try:
            return insert_run(store, experiment_id, name, tags, start_ms, params)
        except Exception:  # noqa: BLE001 - e.g. an experiment deleted meanwhile: the client says so
            log.debug("scanflow: creating the run in one transaction failed; asking the client", exc_info=True)
    run = client.create_run(experiment_id, start_time=start_ms, tags=tags, run_name=name)
    return StartedRun(run.info.run_id, run.info.artifact_uri, not params)


def insert_run(store: Any, experiment_id: str, name: str, tags: dict[str, str], start_ms: int,
               params: dict[str, str] | None = None, run_id: str | None = None) -> StartedRun:
    """Write the rows ``store.create_run`` writes (and ``params``) in one transaction of the
    SQL ``store``; ``run_id``: the id to give the run (default: a new one). Raises
    ``ValueError`` where the client would refuse, and ``MlflowException`` (the store's) for an
    id already taken."""
    # lazy: mlflow (importing scanflow.track must not load it)
    from mlflow.store.tracking.dbmodels.models import SqlExperiment, SqlParam, SqlRun, SqlTag
    from mlflow.utils.mlflow_tags import MLFLOW_RUN_NAME, MLFLOW_USER
    from mlflow.utils.uri import append_to_uri_path
    from mlflow.utils.validation import _validate_param

    if tags.get(MLFLOW_RUN_NAME, name) != name:
        raise ValueError("the run name and its mlflow.runName tag differ")  # the client refuses it
    params = params or {}
    for key, value in params.items():
        _validate_param(key, value)  # what log_batch refuses, the client's path reports
    run_id = run_id or uuid.uuid4().hex
    with store.ManagedSessionMaker(read_only=False) as session:
        stage, location = session.query(SqlExperiment.lifecycle_stage, SqlExperiment.artifact_location) \
            .filter(SqlExperiment.experiment_id == int(experiment_id)).one()
        if stage != "active":
            raise ValueError(f"experiment {experiment_id} is {stage}")
        artifact_uri = append_to_uri_path(location, run_id, "artifacts")  # as SqlAlchemyStore.create_run
        run = SqlRun(name=name, artifact_uri=artifact_uri, run_uuid=run_id, experiment_id=experiment_id,
                     source_type="UNKNOWN", source_name="", entry_point_name="",
                     user_id=tags.get(MLFLOW_USER, "unknown"), status="RUNNING", start_time=start_ms,
                     end_time=None, deleted_time=None, source_version="", lifecycle_stage="active")
        run.tags = [SqlTag(key=k, value=v) for k, v in {**tags, MLFLOW_RUN_NAME: name}.items()]
        run.params = [SqlParam(key=k, value=v) for k, v in params.items()]
        session.add(run)
    return StartedRun(run_id, artifact_uri, True)


def end_through_client(client: Any, end: RunEnd) -> None:
    """End one run through the public client API (any tracking store), or the API of a
    tracking store itself."""
    # lazy: mlflow (importing scanflow.track must not load it)
    from mlflow.entities import Metric, RunTag

    metrics = [Metric(k, float(v), end.end_ms, 0) for k, v in end.metrics.items()]
    tags = [RunTag(k, _tag(v)) for k, v in end.tags.items()]
    if hasattr(client, "set_terminated"):
        client.log_batch(end.run_id, metrics=metrics, tags=tags)
        client.set_terminated(end.run_id, end.status, end_time=end.end_ms)
        return
    # lazy: mlflow (importing scanflow.track must not load it)
    from mlflow.entities import RunStatus

    client.log_batch(end.run_id, metrics, [], tags)  # a tracking store (the journal's writer)
    client.update_run_info(end.run_id, RunStatus.from_string(end.status), end.end_ms, None)


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
            _add_metrics(store, session, end)


def _add_metrics(store: Any, session: Any, end: RunEnd) -> None:
    """The run's final metrics (step 0, at its end time), as the store's ``log_batch`` writes
    them: a row each, and the latest value per key updated by the store's own rule."""
    # lazy: mlflow (importing scanflow.track must not load it)
    from mlflow.store.tracking.dbmodels.models import SqlMetric

    if not end.metrics:
        return
    logged = set(session.query(SqlMetric.key, SqlMetric.value, SqlMetric.is_nan).filter(
        SqlMetric.run_uuid == end.run_id, SqlMetric.timestamp == end.end_ms, SqlMetric.step == 0))
    rows = []
    for key, value in end.metrics.items():
        is_nan, value = store.sanitize_metric_value(float(value))
        if (key, value, is_nan) not in logged:  # a replayed end: the store's log_batch skips it too
            rows.append(SqlMetric(run_uuid=end.run_id, key=key, value=value, timestamp=end.end_ms,
                                  step=0, is_nan=is_nan))
    if rows:
        session.add_all(rows)
        store._update_latest_metrics_if_necessary(rows, session)


def _tag(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    return text[:MAX_TAG_LENGTH]
