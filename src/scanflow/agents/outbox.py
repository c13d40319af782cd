"""The agents' messages: a durable outbox/inbox with idempotency keys.

Every message carries a unique ``key``: sending the same key twice stores one message (the
first). A message's status goes ``pending -> delivered -> handled``, or ``failed`` after too
many tries (:meth:`Outbox.retry_message` puts it back). Marking a message handled stores the
recipient's memory in the same commit, so a crash never separates the two::

    >>> box = Outbox("sqlite://")
    >>> box.send("hello/1", "tracker", "checker", "note", {"n": 1})[1]
    True
    >>> box.send("hello/1", "tracker", "checker", "note", {"n": 2})[1]   # the same key: kept once
    False
    >>> [(m.key, m.payload) for m in box.inbox("checker")]
    [('hello/1', {'n': 1})]
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update

from scanflow.storage import Store

from .tables import agent_state, ensure_agent, insert_message, jsonable, messages

__all__ = ["MessageRecord", "Outbox"]


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


def _record(row: Any) -> MessageRecord:
    m = dict(row._mapping)
    m.pop("delivered_at", None)
    return MessageRecord(**m)


class Outbox(Store):
    """Messages between agents (and from sensors, people and services to agents).

    Args:
        url_or_db: the state database's URL, or the :class:`~scanflow.storage.Database` of
            another store on it.
    """

    url_setting = "state_url"

    def send(self, key: str, sender: str, recipient: str, kind: str,
             payload: dict[str, Any] | None = None) -> tuple[int, bool]:
        """Store a message once per ``key``; returns ``(id, created)``."""
        return self._write(lambda c: insert_message(c, key, sender, recipient, kind, payload or {}))

    def inbox(self, agent: str, limit: int = 100) -> list[MessageRecord]:
        """Messages for ``agent`` not handled yet (pending, or delivered before a crash), oldest first."""
        q = (select(messages).where(messages.c.recipient == agent,
                                    messages.c.status.in_(("pending", "delivered")))
             .order_by(messages.c.id).limit(limit))
        return self._read(lambda c: [_record(r) for r in c.execute(q)])

    def mark_delivered(self, message_id: int) -> None:
        """Count a delivery attempt (a message delivered but not handled is re-delivered)."""
        self._write(lambda c: c.execute(update(messages).where(messages.c.id == message_id).values(
            status="delivered", delivered_at=time.time(), attempts=messages.c.attempts + 1)))

    def mark_handled(self, message_id: int, agent: str, memory: dict[str, Any] | None) -> None:
        """Close a message and, in the same commit, store the agent's memory after it."""
        def fn(conn):
            conn.execute(update(messages).where(messages.c.id == message_id).values(
                status="handled", handled_at=time.time(), error=None))
            if memory is not None:
                ensure_agent(conn, agent)
                conn.execute(update(agent_state).where(agent_state.c.agent == agent).values(
                    memory=jsonable(memory, f"memory of agent {agent!r}"), updated_at=time.time()))
        self._write(fn)

    def mark_failed(self, message_id: int, error: str, final: bool) -> None:
        """Record a failure: ``failed`` when ``final``, else back to ``delivered`` for a retry."""
        self._write(lambda c: c.execute(update(messages).where(messages.c.id == message_id).values(
            status="failed" if final else "delivered", error=error[-4000:])))

    def retry_message(self, message_id: int) -> None:
        """Put a failed message back in its recipient's inbox."""
        self._write(lambda c: c.execute(update(messages).where(messages.c.id == message_id).values(
            status="pending", attempts=0, error=None)))

    def messages(self, agent: str | None = None, status: str | None = None,
                 limit: int = 1000) -> list[MessageRecord]:
        """The last ``limit`` messages (to or from ``agent``, with ``status``), oldest first."""
        q = select(messages).order_by(messages.c.id.desc()).limit(limit)
        if agent:
            q = q.where((messages.c.recipient == agent) | (messages.c.sender == agent))
        if status:
            q = q.where(messages.c.status == status)
        return self._read(lambda c: [_record(r) for r in c.execute(q)][::-1])

    def count_messages(self, agents: Iterable[str] | None = None,
                       statuses: Sequence[str] = ("pending", "delivered")) -> int:
        """How many messages (for ``agents``) have one of ``statuses``."""
        q = select(func.count()).select_from(messages).where(messages.c.status.in_(tuple(statuses)))
        if agents is not None:
            q = q.where(messages.c.recipient.in_(tuple(agents)))
        return self._read(lambda c: c.execute(q).scalar_one())
