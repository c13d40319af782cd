"""Drift episodes: one record per shift the loop handles, with its sample pool and label budget.

The first drift alarm *opens* an episode; further alarms while it is open *join* it (their
samples go to its pool) instead of filing labeling batches of their own. The improver spends the
episode's label budget across its whole pool, in rounds; the planner promotes a candidate; the
checker then accepts the shifted data as normal (the episode is *settling*) and the next batch
it accepts ends the episode (*resolved*). A person may also *close* an episode. States::

    open ──promotion (final)──▶ settling ──data accepted──▶ resolved
      │                                                        ▲
      └───────────────── closed by a person ───────────────────┘

Every change is keyed by the action that made it (``key``), so a replay after a crash changes
nothing twice. Label counts per episode come from the label store (batches named by the
episode); what each round trained on and held out is recorded here.

>>> from scanflow.agents.store import StateStore
>>> eps = EpisodeStore(StateStore("sqlite://"))
>>> e = eps.open_or_join("m", [1, 2, 3], key="a1", budget=100)
>>> eps.open_or_join("m", [3, 4], key="a2").id == e.id, len(eps.pool(e.id))
(True, 4)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    insert,
    select,
    update,
)

from scanflow.errors import ScanflowError
from scanflow.storage import Database, open_database

__all__ = ["ACTIVE", "CLOSED", "OPEN", "RESOLVED", "SETTLING", "Episode", "EpisodeError", "EpisodeStore",
           "label_accounting"]

OPEN, SETTLING, RESOLVED, CLOSED = "open", "settling", "resolved", "closed"
ACTIVE = (OPEN, SETTLING)

metadata = MetaData()

episodes = Table(
    "scanflow_episodes", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(256), nullable=False),
    Column("status", String(16), nullable=False),
    Column("budget", Integer, nullable=False),
    Column("opened_at", Float, nullable=False),
    Column("closed_at", Float),
    Column("reason", Text, nullable=False, default=""),
    Column("info", JSON, nullable=False),  # rounds, candidates, promotions, accounting
)

episode_samples = Table(
    "scanflow_episode_samples", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("episode_id", Integer, nullable=False, index=True),
    Column("prediction_id", Integer, nullable=False),
    Column("requested", String(200)),  # the labeling batch it went to, if any
    UniqueConstraint("episode_id", "prediction_id", name="uq_scanflow_episode_sample"),
)

episode_keys = Table(  # the action keys already applied: replays change nothing
    "scanflow_episode_keys", metadata,
    Column("key", String(700), primary_key=True),
    Column("episode_id", Integer, nullable=False),
)


class EpisodeError(ScanflowError, LookupError):
    """No such episode, or a change its state does not allow."""


@dataclass
class Episode:
    """One drift episode (a snapshot; the store is the truth)."""

    id: int
    model: str
    status: str
    budget: int
    opened_at: float
    closed_at: float | None = None
    reason: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def rounds(self) -> list[dict[str, Any]]:
        return list(self.info.get("rounds", []))

    @property
    def requested(self) -> int:
        return int(sum(r.get("requested", 0) for r in self.rounds))

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "model": self.model, "status": self.status, "budget": self.budget,
                "opened_at": self.opened_at, "closed_at": self.closed_at, "reason": self.reason,
                **self.info}


def _episode(row: Any) -> Episode:
    return Episode(row.id, row.model, row.status, int(row.budget), row.opened_at, row.closed_at,
                   row.reason or "", dict(row.info or {}))


class EpisodeStore:
    """Episodes in the agents' state database.

    Args:
        store: the :class:`~scanflow.agents.store.StateStore` (or any store) whose database
            holds them, a :class:`~scanflow.storage.Database`, or the database's URL. The
            tables come with Scanflow's schema (:mod:`scanflow.storage.schema`).
    """

    def __init__(self, store: Any):
        self.store = store
        if isinstance(store, Database):
            self.db = store
        elif isinstance(getattr(store, "db", None), Database):
            self.db = store.db
        else:
            self.db = open_database(store, what="state_url", allow_path=False)

    # -- reading ---------------------------------------------------------------------------
    def get(self, episode_id: int) -> Episode:
        """The episode with this id; :class:`EpisodeError` if there is none."""
        row = self.db.read(lambda c: c.execute(
            select(episodes).where(episodes.c.id == int(episode_id))).first())
        if row is None:
            raise EpisodeError(f"no episode {episode_id}; list them with `scanflow episodes list APP`")
        return _episode(row)

    def active(self, model: str | None = None) -> Episode | None:
        """The open or settling episode (of ``model``), if any."""
        q = select(episodes).where(episodes.c.status.in_(ACTIVE)).order_by(episodes.c.id.desc())
        if model is not None:
            q = q.where(episodes.c.model == model)
        row = self.db.read(lambda c: c.execute(q.limit(1)).first())
        return None if row is None else _episode(row)

    def list(self, status: str | None = None, limit: int = 100) -> list[Episode]:
        """The last ``limit`` episodes (with ``status``), newest first."""
        q = select(episodes).order_by(episodes.c.id.desc()).limit(limit)
        if status is not None:
            q = q.where(episodes.c.status == status)
        return self.db.read(lambda c: [_episode(r) for r in c.execute(q)])

    def pool(self, episode_id: int, *, unrequested: bool = False) -> list[int]:
        """The prediction ids in the episode's pool, oldest first."""
        s = episode_samples.c
        q = select(s.prediction_id).where(s.episode_id == int(episode_id)).order_by(s.id)
        if unrequested:
            q = q.where(s.requested.is_(None))
        return self.db.read(lambda c: [int(r[0]) for r in c.execute(q)])

    # -- writing (each change keyed by the action that made it) ------------------------------
    def _once(self, conn, key: str, episode_id: int) -> bool:
        if conn.execute(select(episode_keys.c.key).where(episode_keys.c.key == key)).first():
            return False
        conn.execute(insert(episode_keys).values(key=key, episode_id=episode_id))
        return True

    def _add_samples(self, conn, episode_id: int, ids: Sequence[int]) -> None:
        have = {int(r[0]) for r in conn.execute(select(episode_samples.c.prediction_id).where(
            episode_samples.c.episode_id == episode_id))}
        new = [{"episode_id": episode_id, "prediction_id": int(i)} for i in dict.fromkeys(ids)
               if int(i) not in have]
        if new:
            conn.execute(insert(episode_samples), new)

    def open_or_join(self, model: str, prediction_ids: Sequence[int], *, key: str,
                     budget: int = 0, reason: str = "", by: str = "") -> Episode:
        """Add the samples to the model's active episode, or open one (idempotent by ``key``)."""
        def fn(conn):
            done = conn.execute(select(episode_keys.c.episode_id).where(episode_keys.c.key == key)).first()
            if done is not None:
                return done[0]
            row = conn.execute(select(episodes.c.id).where(
                episodes.c.model == model, episodes.c.status.in_(ACTIVE))
                .order_by(episodes.c.id.desc()).with_for_update()).first()
            if row is None:
                eid = conn.execute(insert(episodes).values(
                    model=model, status=OPEN, budget=int(budget), opened_at=time.time(),
                    reason=reason, info={"rounds": [], "checker": by, "events": [
                        {"at": time.time(), "event": "opened", "reason": reason}]})).inserted_primary_key[0]
            else:
                eid = row[0]
            self._once(conn, key, eid)
            self._add_samples(conn, eid, prediction_ids)
            return eid
        return self.get(self.db.write(fn))

    def set_budget(self, episode_id: int, budget: int) -> None:
        """The episode's label budget (set by the agent that spends it)."""
        self.db.write(lambda c: c.execute(update(episodes).where(
            episodes.c.id == int(episode_id)).values(budget=int(budget))))

    def mark_requested(self, episode_id: int, prediction_ids: Sequence[int], batch: str,
                       *, key: str) -> None:
        """Record that these pool samples went to labeling batch ``batch`` (one round)."""
        s = episode_samples.c

        def fn(conn):
            if not self._once(conn, key, episode_id):
                return
            conn.execute(update(episode_samples).where(
                s.episode_id == int(episode_id), s.prediction_id.in_([int(i) for i in prediction_ids]))
                .values(requested=batch))
            self._append(conn, episode_id, "rounds", {"batch": batch, "requested": len(prediction_ids),
                                                      "at": time.time()})
        self.db.write(fn)

    def note(self, episode_id: int, event: str, *, key: str, **data: Any) -> None:
        """Add an event (candidate, promotion, settle...) to the episode's history, once per key."""
        def fn(conn):
            if self._once(conn, key, episode_id):
                self._append(conn, episode_id, "events", {"at": time.time(), "event": event, **data})
        self.db.write(fn)

    def set_status(self, episode_id: int, status: str, *, key: str, reason: str = "",
                   only_from: Sequence[str] | None = None) -> Episode:
        """Move the episode to ``status`` (``settling``, ``resolved``, ``closed``, back to ``open``).

        ``only_from``: the states it may leave (checked in the same transaction, so a person's
        close cannot overwrite the agents' ``resolved`` that landed a moment before); from any
        other, :class:`EpisodeError` and nothing changes."""
        def fn(conn):
            now = conn.execute(select(episodes.c.status).where(
                episodes.c.id == int(episode_id)).with_for_update()).scalar_one()
            if only_from is not None and now not in only_from:
                raise EpisodeError(f"episode {episode_id} is already {now}: only an episode that "
                                   f"is {' or '.join(only_from)} can become {status}")
            if not self._once(conn, key, episode_id):
                return
            values: dict[str, Any] = {"status": status}
            if status in (RESOLVED, CLOSED):
                values["closed_at"] = time.time()
            conn.execute(update(episodes).where(episodes.c.id == int(episode_id)).values(**values))
            self._append(conn, episode_id, "events", {"at": time.time(), "event": status,
                                                      "reason": reason})
        self.get(episode_id)
        self.db.write(fn)
        return self.get(episode_id)

    def update_info(self, episode_id: int, *, key: str, **values: Any) -> None:
        """Set top-level ``info`` entries (accounting of a round, the zero-label candidate...)."""
        def fn(conn):
            if not self._once(conn, key, episode_id):
                return
            info = dict(conn.execute(select(episodes.c.info).where(
                episodes.c.id == int(episode_id)).with_for_update()).scalar_one() or {})
            info.update(values)
            conn.execute(update(episodes).where(episodes.c.id == int(episode_id)).values(info=info))
        self.db.write(fn)

    @staticmethod
    def _append(conn, episode_id: int, field_name: str, entry: dict[str, Any]) -> None:
        info = dict(conn.execute(select(episodes.c.info).where(
            episodes.c.id == int(episode_id)).with_for_update()).scalar_one() or {})
        info[field_name] = [*info.get(field_name, []), entry]
        conn.execute(update(episodes).where(episodes.c.id == int(episode_id)).values(info=info))


def label_accounting(episode: Episode, labels: Any) -> dict[str, int]:
    """The episode's labels: requested, answered (by people, by the oracle), skipped, pending,
    and what the last improvement trained on and held out for the gate."""
    out = {"requested": 0, "answered": 0, "human": 0, "oracle": 0, "skipped": 0, "pending": 0}
    for r in episode.rounds:
        p = labels.progress(r["batch"])
        out["requested"] += int(p["total"])
        out["answered"] += int(p["labeled"])
        out["human"] += int(p.get("human", 0))
        out["oracle"] += int(p.get("oracle", 0))
        out["skipped"] += int(p["skipped"])
        out["pending"] += int(p["pending"])
    out["trained_on"] = int(episode.info.get("trained_on", 0))
    out["held_out"] = int(episode.info.get("held_out", 0))
    return out


def episode_report(store: Any, labels: Any, status: str | None = None) -> list[dict[str, Any]]:
    """Every episode (newest first) as a JSON-ready row: status, pool, labels, promotions."""
    episodes = EpisodeStore(store)
    rows = []
    for ep in episodes.list(status=status):
        events = ep.info.get("events", [])
        rows.append({**ep.to_dict(), "pool": len(episodes.pool(ep.id)),
                     "labels": label_accounting(ep, labels),
                     "promotions": [e for e in events if e.get("event") == "promoted"]})
    return rows
