"""The agents' state database: outbox/inbox messages, decisions, actions, cursors, predictions.

One SQLAlchemy 2.x store, portable SQL only: a SQLite file by default
(``sqlite:///<app.state_path>/scanflow.db``, see :func:`default_state_url`), any PostgreSQL URL
in production. Every table name starts with ``scanflow_`` so the database can be shared with
the label store and other rooms.

What makes agents crash-safe lives here, as transactions. Every read-modify-write locks the
row it reads (``SELECT ... FOR UPDATE``; SQLite, whose writers take the whole database with
``BEGIN IMMEDIATE``, ignores the clause), so concurrent writers on PostgreSQL never lose an
update:

* **messages** carry a unique idempotency ``key``; sending the same key twice stores one
  message. Status goes ``pending -> delivered -> handled`` (or ``failed`` after too many tries).
* a sensor firing is stored as a message to its own agent *in the same commit* that advances
  the sensor's cursor, so an event is never lost nor produced twice.
* **decisions** are keyed by ``<message key>/<rule>``: a message replayed after a crash reuses
  the stored decision instead of deciding again.
* **actions** are keyed too; each is committed ``started`` before the actuator runs and ``done``
  after it (with the messages it sends, in the same commit). A restarted agent finds ``started``
  actions and asks the actuator to re-check them rather than repeating them blindly.

The prediction log belongs to serving and tracking (:class:`scanflow.track.PredictionLog`, the
``scanflow_predictions`` table of the same database); the store's prediction methods delegate to
one on the same engines, so agents can read it as ``ctx.store.predictions_since(...)``::

    >>> import numpy as np
    >>> store = StateStore("sqlite://")
    >>> store.record_predictions("api", np.zeros((2, 3)), [1, 7], confidences=[0.9, 0.4])
    [1, 2]
    >>> [p.prediction for p in store.predictions_since(0)]
    [1, 7]
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError

from scanflow.track.predictions import PredictionLog, PredictionRecord

__all__ = [
    "ActionRecord",
    "ApprovalRecord",
    "DecisionRecord",
    "MessageRecord",
    "PredictionRecord",
    "StateStore",
    "default_state_url",
    "record_predictions",
]

metadata = MetaData()

messages = Table(
    "scanflow_agent_messages", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(512), nullable=False, unique=True),
    Column("sender", String(128), nullable=False),
    Column("recipient", String(128), nullable=False),
    Column("kind", String(128), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("status", String(16), nullable=False, default="pending"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("error", Text),
    Column("created_at", Float, nullable=False),
    Column("delivered_at", Float),
    Column("handled_at", Float),
    Index("ix_scanflow_agent_messages_inbox", "recipient", "status", "id"),
)

decisions = Table(
    "scanflow_agent_decisions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(600), nullable=False, unique=True),
    Column("agent", String(128), nullable=False, index=True),
    Column("message_key", String(512), nullable=False),
    Column("rule", String(128), nullable=False),
    Column("decision", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("inputs", JSON, nullable=False),
    Column("actions", JSON, nullable=False),
    Column("memory", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
)

actions = Table(
    "scanflow_agent_actions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(700), nullable=False, unique=True),
    Column("agent", String(128), nullable=False, index=True),
    Column("decision_key", String(600), nullable=False),
    Column("actuator", String(128), nullable=False),
    Column("params", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=1),
    Column("result", JSON),
    Column("error", Text),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float),
)

agent_state = Table(
    "scanflow_agent_state", metadata,
    Column("agent", String(128), primary_key=True),
    Column("paused", Boolean, nullable=False, default=False),
    Column("memory", JSON, nullable=False),
    Column("cursors", JSON, nullable=False),
    Column("heartbeat_at", Float),
    Column("pid", Integer),
    Column("updated_at", Float, nullable=False),
)

triggers = Table(
    "scanflow_agent_triggers", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("agent", String(128), nullable=False),
    Column("sensor", String(128), nullable=False),
    Column("requested_at", Float, nullable=False),
    Column("consumed_at", Float),
)

approvals = Table(
    "scanflow_agent_approvals", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(700), nullable=False, unique=True),
    Column("agent", String(128), nullable=False),
    Column("subject", JSON, nullable=False),
    Column("reason", Text, nullable=False),
    Column("status", String(16), nullable=False),  # pending | approved | rejected
    Column("requested_at", Float, nullable=False),
    Column("decided_at", Float),
    Column("decided_by", String(128)),
    Column("note", Text),
)

def default_state_url(app_or_path: Any) -> str:
    """``sqlite:///<state dir>/scanflow.db`` for an Application (or a state directory path)."""
    path = Path(app_or_path.state_path if hasattr(app_or_path, "state_path") else app_or_path)
    path.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(path / 'scanflow.db').resolve()}"


@dataclass
class MessageRecord:
    id: int
    key: str
    sender: str
    recipient: str
    kind: str
    payload: dict[str, Any]
    status: str
    attempts: int
    created_at: float
    handled_at: float | None = None
    error: str | None = None


@dataclass
class DecisionRecord:
    id: int
    key: str
    agent: str
    message_key: str
    rule: str
    decision: str
    reason: str
    inputs: dict[str, Any]
    actions: list[dict[str, Any]]
    memory: dict[str, Any]
    created_at: float


@dataclass
class ActionRecord:
    id: int
    key: str
    agent: str
    decision_key: str
    actuator: str
    params: dict[str, Any]
    status: str
    attempts: int
    result: Any
    error: str | None
    started_at: float
    finished_at: float | None


@dataclass
class ApprovalRecord:
    id: int
    key: str
    agent: str
    subject: dict[str, Any]
    reason: str
    status: str
    requested_at: float
    decided_at: float | None
    decided_by: str | None
    note: str | None


@dataclass
class OutgoingMessage:
    """A message an action sends; stored in the same commit that marks the action done."""

    recipient: str
    kind: str
    payload: dict[str, Any] = field(default_factory=dict)
    key: str | None = None  # defaults to "<action key>-><recipient>"


T = TypeVar("T")

_ENGINES: dict[str, tuple[Engine, Engine]] = {}
_ENGINES_LOCK = threading.Lock()


def _engines(url: str) -> tuple[Engine, Engine]:
    """(writer, reader) engines for ``url``, shared per process.

    SQLite writers open their transactions with ``BEGIN IMMEDIATE`` so that two processes never
    both read and then fail to upgrade to a write lock; readers stay deferred (WAL mode lets
    them run beside a writer).
    """
    with _ENGINES_LOCK:
        if url in _ENGINES:
            return _ENGINES[url]
        if url.startswith("sqlite"):
            memory = url in ("sqlite://", "sqlite:///:memory:")
            kwargs: dict[str, Any] = {"connect_args": {"timeout": 60, "check_same_thread": False}}
            if memory:
                from sqlalchemy.pool import StaticPool

                kwargs["poolclass"] = StaticPool
            writer = create_engine(url, **kwargs)
            _sqlite_setup(writer, immediate=not memory)
            reader = writer if memory else create_engine(url, **kwargs)
            if not memory:
                _sqlite_setup(reader, immediate=False)
        else:
            writer = create_engine(url, pool_pre_ping=True)
            reader = writer
        metadata.create_all(writer)
        _ENGINES[url] = (writer, reader)
        return writer, reader


def _sqlite_setup(engine: Engine, immediate: bool) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record):  # pragma: no cover - driver plumbing
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):  # pragma: no cover - driver plumbing
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _jsonable(value: Any, what: str) -> Any:
    try:
        return json.loads(json.dumps(value, default=_json_default))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must be JSON data (dicts, lists, numbers, strings): {exc}") from None


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class StateStore:
    """Scanflow's state database as seen by the agents (and the serving layer).

    Args:
        url: a SQLAlchemy URL; ``sqlite:///path/scanflow.db`` or ``postgresql+psycopg://...``.
            ``sqlite://`` is an in-memory database (tests).
    """

    def __init__(self, url: str):
        if not isinstance(url, str) or "://" not in url:
            raise ValueError(
                f"state_url {url!r} is not a database URL: use 'sqlite:///path/to/scanflow.db' "
                "or 'postgresql+psycopg://user:pass@host/db'"
            )
        if url.startswith("sqlite:///") and url not in ("sqlite:///:memory:",):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.url = url
        self._writer, self._reader = _engines(url)
        # The prediction log shares this database (and creates its table with the others).
        self.predictions = PredictionLog(url, engines=(self._writer, self._reader))

    # -- plumbing ---------------------------------------------------------------------------
    def _write(self, fn: Callable[[Any], T], retries: int = 5) -> T:
        """Run ``fn(conn)`` in one write transaction, retrying lock timeouts and key races."""
        for attempt in range(retries):
            try:
                with self._writer.begin() as conn:
                    return fn(conn)
            except OperationalError as exc:
                if "locked" not in str(exc).lower() or attempt == retries - 1:
                    raise
            except IntegrityError:
                # Another process inserted the same idempotency key between our read and write;
                # the retry reads it and does nothing.
                if attempt == retries - 1:
                    raise
            time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    def _read(self, fn: Callable[[Any], T]) -> T:
        with self._reader.connect() as conn:
            return fn(conn)

    # -- messages ---------------------------------------------------------------------------
    @staticmethod
    def _insert_message(conn, key: str, sender: str, recipient: str, kind: str,
                        payload: dict[str, Any]) -> tuple[int, bool]:
        row = conn.execute(select(messages.c.id).where(messages.c.key == key)).first()
        if row is not None:
            return row.id, False
        res = conn.execute(insert(messages).values(
            key=key, sender=sender, recipient=recipient, kind=kind,
            payload=_jsonable(payload, f"payload of message {kind!r}"), status="pending",
            attempts=0, created_at=time.time()))
        return res.inserted_primary_key[0], True

    def send(self, key: str, sender: str, recipient: str, kind: str,
             payload: dict[str, Any] | None = None) -> tuple[int, bool]:
        """Store a message once per ``key``; returns ``(id, created)``."""
        return self._write(lambda c: self._insert_message(c, key, sender, recipient, kind, payload or {}))

    def inbox(self, agent: str, limit: int = 100) -> list[MessageRecord]:
        """Messages for ``agent`` not handled yet (pending, or delivered before a crash), oldest first."""
        q = (select(messages).where(messages.c.recipient == agent,
                                    messages.c.status.in_(("pending", "delivered")))
             .order_by(messages.c.id).limit(limit))
        return self._read(lambda c: [MessageRecord(**_msg(r)) for r in c.execute(q)])

    def mark_delivered(self, message_id: int) -> None:
        self._write(lambda c: c.execute(update(messages).where(messages.c.id == message_id).values(
            status="delivered", delivered_at=time.time(), attempts=messages.c.attempts + 1)))

    def mark_handled(self, message_id: int, agent: str, memory: dict[str, Any] | None) -> None:
        """Close a message and, in the same commit, store the agent's memory after it."""
        def fn(conn):
            conn.execute(update(messages).where(messages.c.id == message_id).values(
                status="handled", handled_at=time.time(), error=None))
            if memory is not None:
                self._ensure_agent(conn, agent)
                conn.execute(update(agent_state).where(agent_state.c.agent == agent).values(
                    memory=_jsonable(memory, f"memory of agent {agent!r}"), updated_at=time.time()))
        self._write(fn)

    def mark_failed(self, message_id: int, error: str, final: bool) -> None:
        self._write(lambda c: c.execute(update(messages).where(messages.c.id == message_id).values(
            status="failed" if final else "delivered", error=error[-4000:])))

    def retry_message(self, message_id: int) -> None:
        """Put a failed message back in its recipient's inbox."""
        self._write(lambda c: c.execute(update(messages).where(messages.c.id == message_id).values(
            status="pending", attempts=0, error=None)))

    def messages(self, agent: str | None = None, status: str | None = None,
                 limit: int = 1000) -> list[MessageRecord]:
        q = select(messages).order_by(messages.c.id.desc()).limit(limit)
        if agent:
            q = q.where((messages.c.recipient == agent) | (messages.c.sender == agent))
        if status:
            q = q.where(messages.c.status == status)
        return self._read(lambda c: [MessageRecord(**_msg(r)) for r in c.execute(q)][::-1])

    def count_messages(self, agents: Iterable[str] | None = None,
                       statuses: Sequence[str] = ("pending", "delivered")) -> int:
        q = select(func.count()).select_from(messages).where(messages.c.status.in_(tuple(statuses)))
        if agents is not None:
            q = q.where(messages.c.recipient.in_(tuple(agents)))
        return self._read(lambda c: c.execute(q).scalar_one())

    # -- sensors ----------------------------------------------------------------------------
    def fire(self, agent: str, sensor: str, cursor: Any, key: str, kind: str,
             payload: dict[str, Any], trigger_id: int | None = None) -> bool:
        """Store a sensor's event for its agent and advance the cursor, in one commit."""
        def fn(conn):
            _, created = self._insert_message(conn, key, agent, agent, kind, payload)
            self._ensure_agent(conn, agent)
            # FOR UPDATE: on PostgreSQL two sensors of one agent firing at once would otherwise
            # both read the old cursors and the later commit would drop the other's cursor.
            row = conn.execute(select(agent_state.c.cursors).where(agent_state.c.agent == agent)
                               .with_for_update()).one()
            cursors = dict(row.cursors or {})
            cursors[sensor] = cursor
            conn.execute(update(agent_state).where(agent_state.c.agent == agent).values(
                cursors=_jsonable(cursors, "sensor cursor"), updated_at=time.time()))
            if trigger_id is not None:
                conn.execute(update(triggers).where(triggers.c.id == trigger_id).values(
                    consumed_at=time.time()))
            return created
        return self._write(fn)

    def cursors(self, agent: str) -> dict[str, Any]:
        q = select(agent_state.c.cursors).where(agent_state.c.agent == agent)
        row = self._read(lambda c: c.execute(q).first())
        return dict(row.cursors or {}) if row else {}

    def request_trigger(self, agent: str, sensor: str) -> int:
        return self._write(lambda c: c.execute(insert(triggers).values(
            agent=agent, sensor=sensor, requested_at=time.time())).inserted_primary_key[0])

    def pending_triggers(self, agents: Iterable[str]) -> list[tuple[int, str, str]]:
        q = (select(triggers.c.id, triggers.c.agent, triggers.c.sensor)
             .where(triggers.c.consumed_at.is_(None), triggers.c.agent.in_(tuple(agents)))
             .order_by(triggers.c.id))
        return self._read(lambda c: [(r.id, r.agent, r.sensor) for r in c.execute(q)])

    def consume_trigger(self, trigger_id: int) -> None:
        self._write(lambda c: c.execute(update(triggers).where(triggers.c.id == trigger_id).values(
            consumed_at=time.time())))

    # -- agent state ------------------------------------------------------------------------
    @staticmethod
    def _ensure_agent(conn, agent: str) -> None:
        if conn.execute(select(agent_state.c.agent).where(agent_state.c.agent == agent)).first() is None:
            conn.execute(insert(agent_state).values(agent=agent, paused=False, memory={}, cursors={},
                                                    updated_at=time.time()))

    def set_paused(self, agent: str, paused: bool) -> None:
        def fn(conn):
            self._ensure_agent(conn, agent)
            conn.execute(update(agent_state).where(agent_state.c.agent == agent).values(
                paused=paused, updated_at=time.time()))
        self._write(fn)

    def paused(self, agents: Iterable[str]) -> dict[str, bool]:
        names = tuple(agents)
        q = select(agent_state.c.agent, agent_state.c.paused).where(agent_state.c.agent.in_(names))
        found = self._read(lambda c: {r.agent: bool(r.paused) for r in c.execute(q)})
        return {n: found.get(n, False) for n in names}

    def memory(self, agent: str) -> dict[str, Any]:
        q = select(agent_state.c.memory).where(agent_state.c.agent == agent)
        row = self._read(lambda c: c.execute(q).first())
        return dict(row.memory or {}) if row else {}

    def heartbeat(self, agents: Iterable[str]) -> None:
        def fn(conn):
            for agent in agents:
                self._ensure_agent(conn, agent)
                conn.execute(update(agent_state).where(agent_state.c.agent == agent).values(
                    heartbeat_at=time.time(), pid=os.getpid()))
        self._write(fn)

    def clear_heartbeat(self, agents: Iterable[str]) -> None:
        """Say that no runtime runs these agents any more (a clean stop)."""
        names = tuple(agents)
        self._write(lambda c: c.execute(update(agent_state).where(agent_state.c.agent.in_(names)).values(
            heartbeat_at=None, pid=None)))

    def agent_rows(self) -> dict[str, dict[str, Any]]:
        return self._read(lambda c: {r.agent: dict(r._mapping) for r in c.execute(select(agent_state))})

    # -- decisions --------------------------------------------------------------------------
    def decision(self, key: str) -> DecisionRecord | None:
        row = self._read(lambda c: c.execute(select(decisions).where(decisions.c.key == key)).first())
        return DecisionRecord(**dict(row._mapping)) if row else None

    def record_decision(self, key: str, agent: str, message_key: str, rule: str, decision: str,
                        reason: str, inputs: dict[str, Any], actions_: list[dict[str, Any]],
                        memory: dict[str, Any]) -> DecisionRecord:
        """Store a decision once per key and return the stored one (the first writer wins)."""
        def fn(conn):
            row = conn.execute(select(decisions).where(decisions.c.key == key)).first()
            if row is None:
                conn.execute(insert(decisions).values(
                    key=key, agent=agent, message_key=message_key, rule=rule, decision=decision,
                    reason=reason, inputs=_jsonable(inputs, f"inputs of rule {rule!r}"),
                    actions=_jsonable(actions_, f"actions of rule {rule!r}"),
                    memory=_jsonable(memory, f"memory update of rule {rule!r}"), created_at=time.time()))
                row = conn.execute(select(decisions).where(decisions.c.key == key)).one()
            return DecisionRecord(**dict(row._mapping))
        return self._write(fn)

    def decisions(self, agent: str | None = None, limit: int = 100,
                  since_id: int = 0) -> list[DecisionRecord]:
        q = select(decisions).where(decisions.c.id > since_id).order_by(decisions.c.id.desc()).limit(limit)
        if agent:
            q = q.where(decisions.c.agent == agent)
        return self._read(lambda c: [DecisionRecord(**dict(r._mapping)) for r in c.execute(q)][::-1])

    # -- actions ----------------------------------------------------------------------------
    def action(self, key: str) -> ActionRecord | None:
        row = self._read(lambda c: c.execute(select(actions).where(actions.c.key == key)).first())
        return ActionRecord(**dict(row._mapping)) if row else None

    def start_action(self, key: str, agent: str, decision_key: str, actuator: str,
                     params: dict[str, Any]) -> ActionRecord:
        """Commit ``started`` before the actuator runs (a retry bumps ``attempts``)."""
        def fn(conn):
            row = conn.execute(select(actions).where(actions.c.key == key).with_for_update()).first()
            if row is None:
                conn.execute(insert(actions).values(
                    key=key, agent=agent, decision_key=decision_key, actuator=actuator,
                    params=_jsonable(params, f"parameters of actuator {actuator!r}"),
                    status="started", attempts=1, started_at=time.time()))
            elif row.status != "done":
                conn.execute(update(actions).where(actions.c.key == key).values(
                    status="started", attempts=actions.c.attempts + 1, error=None))
            return ActionRecord(**dict(conn.execute(select(actions).where(actions.c.key == key)).one()._mapping))
        return self._write(fn)

    def finish_action(self, key: str, sender: str, result: Any,
                      outgoing: Sequence[OutgoingMessage] = ()) -> bool:
        """Commit ``done`` and the messages the action sends, together. False if already done."""
        def fn(conn):
            # FOR UPDATE: a second finisher waits for the first commit and then sees "done".
            row = conn.execute(select(actions.c.status).where(actions.c.key == key).with_for_update()).one()
            if row.status == "done":
                return False
            for i, msg in enumerate(outgoing):
                mkey = msg.key or (f"{key}->{msg.recipient}" + (f"#{i}" if i else ""))
                self._insert_message(conn, mkey, sender, msg.recipient, msg.kind, msg.payload)
            conn.execute(update(actions).where(actions.c.key == key).values(
                status="done", result=_jsonable(result, "actuator result"), finished_at=time.time(),
                error=None))
            return True
        return self._write(fn)

    def note_action(self, key: str, note: dict[str, Any]) -> None:
        """Commit what a running action learned (e.g. its run id) so a restart can find it."""
        def fn(conn):
            row = conn.execute(select(actions.c.result, actions.c.status).where(actions.c.key == key)
                               .with_for_update()).one()
            if row.status == "started":
                conn.execute(update(actions).where(actions.c.key == key).values(
                    result=_jsonable({**(row.result or {}), **note}, "action note")))
        self._write(fn)

    def fail_action(self, key: str, error: str) -> None:
        self._write(lambda c: c.execute(update(actions).where(actions.c.key == key).values(
            status="failed", error=error[-4000:], finished_at=time.time())))

    def actions(self, agent: str | None = None, status: str | None = None,
                limit: int = 1000) -> list[ActionRecord]:
        q = select(actions).order_by(actions.c.id.desc()).limit(limit)
        if agent:
            q = q.where(actions.c.agent == agent)
        if status:
            q = q.where(actions.c.status == status)
        return self._read(lambda c: [ActionRecord(**dict(r._mapping)) for r in c.execute(q)][::-1])

    # -- approvals --------------------------------------------------------------------------
    def request_approval(self, key: str, agent: str, subject: dict[str, Any], reason: str) -> ApprovalRecord:
        def fn(conn):
            row = conn.execute(select(approvals).where(approvals.c.key == key)).first()
            if row is None:
                conn.execute(insert(approvals).values(
                    key=key, agent=agent, subject=_jsonable(subject, "approval subject"),
                    reason=reason, status="pending", requested_at=time.time()))
                row = conn.execute(select(approvals).where(approvals.c.key == key)).one()
            return ApprovalRecord(**dict(row._mapping))
        return self._write(fn)

    def approval(self, approval_id: int) -> ApprovalRecord | None:
        q = select(approvals).where(approvals.c.id == approval_id)
        row = self._read(lambda c: c.execute(q).first())
        return ApprovalRecord(**dict(row._mapping)) if row else None

    def approvals(self, status: str | None = None, agent: str | None = None) -> list[ApprovalRecord]:
        q = select(approvals).order_by(approvals.c.id)
        if status:
            q = q.where(approvals.c.status == status)
        if agent:
            q = q.where(approvals.c.agent == agent)
        return self._read(lambda c: [ApprovalRecord(**dict(r._mapping)) for r in c.execute(q)])

    def decide_approval(self, approval_id: int, approved: bool, by: str = "",
                        note: str = "") -> ApprovalRecord:
        """Record a person's answer and tell the asking agent, in one commit (before replying)."""
        def fn(conn):
            row = conn.execute(select(approvals).where(approvals.c.id == approval_id)
                               .with_for_update()).first()
            if row is None:
                raise KeyError(f"no approval request #{approval_id}: list them with "
                               "`scanflow agents approvals APP`")
            if row.status != "pending":
                raise ValueError(f"approval #{approval_id} was already {row.status} "
                                 f"by {row.decided_by or 'someone'}; nothing changed")
            status = "approved" if approved else "rejected"
            conn.execute(update(approvals).where(approvals.c.id == approval_id).values(
                status=status, decided_at=time.time(), decided_by=by or None, note=note or None))
            self._insert_message(conn, f"approval/{approval_id}", by or "person", row.agent,
                                 "approval.decided",
                                 {"approval_id": approval_id, "approved": approved, "by": by,
                                  "note": note, "subject": row.subject, "request_key": row.key})
            return ApprovalRecord(**dict(conn.execute(
                select(approvals).where(approvals.c.id == approval_id)).one()._mapping))
        return self._write(fn)

    # -- predictions: delegated to the prediction log of the same database ------------------
    def record_predictions(self, service: str, inputs: Any, predictions_: Sequence[Any],
                           **kwargs: Any) -> list[int]:
        """See :meth:`scanflow.track.PredictionLog.record_predictions`."""
        return self.predictions.record_predictions(service, inputs, predictions_, **kwargs)

    def predictions_since(self, cursor: int, limit: int | None = None,
                          service: str | None = None) -> list[PredictionRecord]:
        return self.predictions.predictions_since(cursor, limit=limit, service=service)

    def predictions_between(self, first_id: int, last_id: int) -> list[PredictionRecord]:
        return self.predictions.predictions_between(first_id, last_id)

    def prediction_window(self, last_id: int, size: int | None = None,
                          seconds: float | None = None) -> list[PredictionRecord]:
        return self.predictions.prediction_window(last_id, size=size, seconds=seconds)

    def prediction_inputs(self, ids: Sequence[int]) -> Any:
        """The stored inputs: a stacked array, or a DataFrame for table rows."""
        return self.predictions.prediction_inputs(ids)

    def last_prediction_id(self) -> int:
        return self.predictions.last_prediction_id()


def _msg(row) -> dict[str, Any]:
    m = dict(row._mapping)
    m.pop("delivered_at", None)
    return m


def record_predictions(state_url: str, service: str, inputs: Any, predictions_: Sequence[Any],
                       **kwargs: Any) -> list[int]:
    """Shortcut for the serving layer: ``StateStore(state_url).record_predictions(...)``."""
    return StateStore(state_url).record_predictions(service, inputs, predictions_, **kwargs)
