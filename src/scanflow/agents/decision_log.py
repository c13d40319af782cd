"""The agents' crash-safety log: every decision a rule took and every action it ran.

* **decisions** are keyed by ``<message key>/<rule>``: a message replayed after a crash reuses
  the stored decision instead of deciding again (the first writer wins);
* **actions** are keyed too; each is committed ``started`` before the actuator runs and ``done``
  after it, with the messages it sends, in the same commit. A restarted agent finds ``started``
  actions and asks the actuator to re-check them rather than repeating them blindly.

>>> log = DecisionLog("sqlite://")
>>> log.start_action("m/r/0", "planner", "m/r", "notify", {}).status
'started'
>>> log.finish_action("m/r/0", "planner", {"ok": True}, [OutgoingMessage("ops", "note")])
True
>>> log.finish_action("m/r/0", "planner", {"ok": True})   # done already: nothing happens
False
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select, update

from scanflow.storage import Store

from .tables import actions, decisions, insert_message, jsonable

__all__ = ["ActionRecord", "DecisionLog", "DecisionRecord", "OutgoingMessage"]


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
class OutgoingMessage:
    """A message an action sends; stored in the same commit that marks the action done."""

    recipient: str
    kind: str
    payload: dict[str, Any] = field(default_factory=dict)
    key: str | None = None  # defaults to "<action key>-><recipient>"


class DecisionLog(Store):
    """Decisions and actions, keyed so that a replay after a crash repeats nothing.

    Args:
        url_or_db: the state database's URL, or the :class:`~scanflow.storage.Database` of
            another store on it.
    """

    url_setting = "state_url"

    # -- decisions --------------------------------------------------------------------------
    def decision(self, key: str) -> DecisionRecord | None:
        """The stored decision with this key, if any."""
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
                    reason=reason, inputs=jsonable(inputs, f"inputs of rule {rule!r}"),
                    actions=jsonable(actions_, f"actions of rule {rule!r}"),
                    memory=jsonable(memory, f"memory update of rule {rule!r}"), created_at=time.time()))
                row = conn.execute(select(decisions).where(decisions.c.key == key)).one()
            return DecisionRecord(**dict(row._mapping))
        return self._write(fn)

    def decisions(self, agent: str | None = None, limit: int = 100,
                  since_id: int = 0) -> list[DecisionRecord]:
        """The last ``limit`` decisions (of ``agent``, after ``since_id``), oldest first."""
        q = select(decisions).where(decisions.c.id > since_id).order_by(decisions.c.id.desc()).limit(limit)
        if agent:
            q = q.where(decisions.c.agent == agent)
        return self._read(lambda c: [DecisionRecord(**dict(r._mapping)) for r in c.execute(q)][::-1])

    # -- actions ----------------------------------------------------------------------------
    def action(self, key: str) -> ActionRecord | None:
        """The stored action with this key, if any."""
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
                    params=jsonable(params, f"parameters of actuator {actuator!r}"),
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
                insert_message(conn, mkey, sender, msg.recipient, msg.kind, msg.payload)
            conn.execute(update(actions).where(actions.c.key == key).values(
                status="done", result=jsonable(result, "actuator result"), finished_at=time.time(),
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
                    result=jsonable({**(row.result or {}), **note}, "action note")))
        self._write(fn)

    def fail_action(self, key: str, error: str) -> None:
        """Record that the action failed (the error's last 4000 characters)."""
        self._write(lambda c: c.execute(update(actions).where(actions.c.key == key).values(
            status="failed", error=error[-4000:], finished_at=time.time())))

    def actions(self, agent: str | None = None, status: str | None = None,
                limit: int = 1000) -> list[ActionRecord]:
        """The last ``limit`` actions (of ``agent``, with ``status``), oldest first."""
        q = select(actions).order_by(actions.c.id.desc()).limit(limit)
        if agent:
            q = q.where(actions.c.agent == agent)
        if status:
            q = q.where(actions.c.status == status)
        return self._read(lambda c: [ActionRecord(**dict(r._mapping)) for r in c.execute(q)][::-1])
