"""The agents' tables in Scanflow's state database, and the row helpers their stores share.

The schema itself is created and upgraded by the migrations of :mod:`scanflow.storage.schema`;
these ``Table`` objects say how the stores read and write it (and a test checks that both
agree). Every name starts with ``scanflow_agent_`` so the database can be shared.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
)

__all__ = ["actions", "agent_state", "approvals", "decisions", "ensure_agent", "insert_message",
           "jsonable", "messages", "metadata", "triggers"]

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


def insert_message(conn: Connection, key: str, sender: str, recipient: str, kind: str,
                   payload: dict[str, Any]) -> tuple[int, bool]:
    """Store a message once per idempotency ``key``, in the caller's transaction.

    Returns ``(id, created)``. Two writers racing on one key: the later insert fails on the
    unique key, its transaction is retried (:meth:`scanflow.storage.Database.write`) and then
    finds the row.
    """
    row = conn.execute(select(messages.c.id).where(messages.c.key == key)).first()
    if row is not None:
        return row.id, False
    res = conn.execute(insert(messages).values(
        key=key, sender=sender, recipient=recipient, kind=kind,
        payload=jsonable(payload, f"payload of message {kind!r}"), status="pending",
        attempts=0, created_at=time.time()))
    return res.inserted_primary_key[0], True


def ensure_agent(conn: Connection, agent: str) -> None:
    """Create the agent's state row (not paused, empty memory and cursors) if it has none."""
    if conn.execute(select(agent_state.c.agent).where(agent_state.c.agent == agent)).first() is None:
        conn.execute(insert(agent_state).values(agent=agent, paused=False, memory={}, cursors={},
                                                updated_at=time.time()))


def jsonable(value: Any, what: str) -> Any:
    """``value`` as plain JSON data (numpy scalars and arrays converted); TypeError names ``what``."""
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
