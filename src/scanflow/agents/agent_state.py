"""What each agent carries between steps: sensor cursors, manual triggers, pause, memory and
the heartbeat of the runtime that runs it.

A sensor firing is stored as a message to its own agent *in the same commit* that advances
the sensor's cursor (:meth:`AgentStateStore.fire`), so an event is never lost nor produced
twice::

    >>> state = AgentStateStore("sqlite://")
    >>> state.fire("clock", "tick", 5, "clock/tick/5", "sensor.tick", {"slot": 5})
    True
    >>> state.fire("clock", "tick", 5, "clock/tick/5", "sensor.tick", {"slot": 5})  # replayed
    False
    >>> state.cursors("clock")
    {'tick': 5}
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import insert, select, update

from scanflow.storage import Store

from .tables import agent_state, ensure_agent, insert_message, jsonable, triggers

__all__ = ["AgentStateStore"]


class AgentStateStore(Store):
    """Per-agent state: cursors, triggers, pause, memory, heartbeats.

    Args:
        url_or_db: the state database's URL, or the :class:`~scanflow.storage.Database` of
            another store on it.
    """

    url_setting = "state_url"

    # -- sensors ----------------------------------------------------------------------------
    def fire(self, agent: str, sensor: str, cursor: Any, key: str, kind: str,
             payload: dict[str, Any], trigger_id: int | None = None) -> bool:
        """Store a sensor's event for its agent and advance the cursor, in one commit."""
        def fn(conn):
            _, created = insert_message(conn, key, agent, agent, kind, payload)
            ensure_agent(conn, agent)
            # FOR UPDATE: on PostgreSQL two sensors of one agent firing at once would otherwise
            # both read the old cursors and the later commit would drop the other's cursor.
            row = conn.execute(select(agent_state.c.cursors).where(agent_state.c.agent == agent)
                               .with_for_update()).one()
            cursors = dict(row.cursors or {})
            cursors[sensor] = cursor
            conn.execute(update(agent_state).where(agent_state.c.agent == agent).values(
                cursors=jsonable(cursors, "sensor cursor"), updated_at=time.time()))
            if trigger_id is not None:
                conn.execute(update(triggers).where(triggers.c.id == trigger_id).values(
                    consumed_at=time.time()))
            return created
        return self._write(fn)

    def cursors(self, agent: str) -> dict[str, Any]:
        """Each sensor's last cursor for ``agent``."""
        q = select(agent_state.c.cursors).where(agent_state.c.agent == agent)
        row = self._read(lambda c: c.execute(q).first())
        return dict(row.cursors or {}) if row else {}

    def request_trigger(self, agent: str, sensor: str) -> int:
        """Ask for ``sensor`` of ``agent`` to be polled at its next step (e.g. from the CLI)."""
        return self._write(lambda c: c.execute(insert(triggers).values(
            agent=agent, sensor=sensor, requested_at=time.time())).inserted_primary_key[0])

    def pending_triggers(self, agents: Iterable[str]) -> list[tuple[int, str, str]]:
        """``(id, agent, sensor)`` of the triggers not consumed yet, oldest first."""
        q = (select(triggers.c.id, triggers.c.agent, triggers.c.sensor)
             .where(triggers.c.consumed_at.is_(None), triggers.c.agent.in_(tuple(agents)))
             .order_by(triggers.c.id))
        return self._read(lambda c: [(r.id, r.agent, r.sensor) for r in c.execute(q)])

    def consume_trigger(self, trigger_id: int) -> None:
        """Mark a trigger done (a firing consumes its trigger itself, see :meth:`fire`)."""
        self._write(lambda c: c.execute(update(triggers).where(triggers.c.id == trigger_id).values(
            consumed_at=time.time())))

    # -- pause, memory, heartbeats ----------------------------------------------------------
    def set_paused(self, agent: str, paused: bool) -> None:
        """Pause or resume ``agent`` (its runtime checks before every step)."""
        def fn(conn):
            ensure_agent(conn, agent)
            conn.execute(update(agent_state).where(agent_state.c.agent == agent).values(
                paused=paused, updated_at=time.time()))
        self._write(fn)

    def paused(self, agents: Iterable[str]) -> dict[str, bool]:
        """``{agent: paused}`` for every agent named (False for one never seen)."""
        names = tuple(agents)
        q = select(agent_state.c.agent, agent_state.c.paused).where(agent_state.c.agent.in_(names))
        found = self._read(lambda c: {r.agent: bool(r.paused) for r in c.execute(q)})
        return {n: found.get(n, False) for n in names}

    def memory(self, agent: str) -> dict[str, Any]:
        """The agent's memory as of its last handled message."""
        q = select(agent_state.c.memory).where(agent_state.c.agent == agent)
        row = self._read(lambda c: c.execute(q).first())
        return dict(row.memory or {}) if row else {}

    def heartbeat(self, agents: Iterable[str]) -> None:
        """Say that this process runs these agents, now."""
        def fn(conn):
            for agent in agents:
                ensure_agent(conn, agent)
                conn.execute(update(agent_state).where(agent_state.c.agent == agent).values(
                    heartbeat_at=time.time(), pid=os.getpid()))
        self._write(fn)

    def clear_heartbeat(self, agents: Iterable[str]) -> None:
        """Say that no runtime runs these agents any more (a clean stop)."""
        names = tuple(agents)
        self._write(lambda c: c.execute(update(agent_state).where(agent_state.c.agent.in_(names)).values(
            heartbeat_at=None, pid=None)))

    def agent_rows(self) -> dict[str, dict[str, Any]]:
        """Every agent's state row, by name."""
        return self._read(lambda c: {r.agent: dict(r._mapping) for r in c.execute(select(agent_state))})
