"""SQLAlchemy engines for Scanflow's databases, set up the way every store needs them.

A store gets two engines on one database: a *writer* and a *reader*.

* **SQLite file**: WAL journal (readers never wait for the writer), ``synchronous=NORMAL``,
  a 60 s busy timeout. The writer opens every transaction with ``BEGIN IMMEDIATE``: it takes
  the write lock at once, so two processes never both read and then fail to upgrade to a write
  lock (which SQLite answers with an immediate "database is locked"). Readers stay deferred.
  The driver's own transaction handling is off (we issue ``BEGIN``), which also makes DDL
  transactional: a migration that fails leaves nothing behind.
* **in-memory SQLite**: one connection shared by every thread (``StaticPool``); writer and
  reader are the same engine (there is no second connection to a private memory database).
* **PostgreSQL** (any server URL): one engine, ``pool_pre_ping`` so that a connection the
  server dropped is replaced instead of failing a request. Read-modify-write code locks the
  rows it reads (``SELECT ... FOR UPDATE``); SQLite ignores that clause, its writers being
  serialised by ``BEGIN IMMEDIATE`` already.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine, event

from .urls import is_memory, is_sqlite

__all__ = ["BUSY_TIMEOUT_S", "create_engines", "switch_to_wal"]

#: How long a SQLite connection waits for another process's lock before "database is locked".
BUSY_TIMEOUT_S = 60


def create_engines(url: str) -> tuple[Engine, Engine]:
    """``(writer, reader)`` engines for ``url`` (the same engine twice where one is enough)."""
    if not is_sqlite(url):
        engine = sa.create_engine(url, pool_pre_ping=True)
        return engine, engine
    args: dict[str, Any] = {"timeout": BUSY_TIMEOUT_S, "check_same_thread": False}
    if is_memory(url):
        engine = sa.create_engine(url, connect_args=args, poolclass=sa.pool.StaticPool)
        _sqlite_setup(engine, immediate=False, wal=False)
        return engine, engine
    writer = sa.create_engine(url, connect_args=args)
    _sqlite_setup(writer, immediate=True, wal=True)
    reader = sa.create_engine(url, connect_args=args)
    _sqlite_setup(reader, immediate=False, wal=True)
    return writer, reader


def switch_to_wal(cur: sqlite3.Cursor, timeout_s: float = BUSY_TIMEOUT_S) -> None:
    """Switch the database to WAL, waiting out connections that switch it at the same moment.

    The switch needs an exclusive lock, and SQLite answers a contended switch with an immediate
    "database is locked" whatever the busy timeout (several first opens of a new file race for
    it), so this retries with a growing pause until ``timeout_s``. A database already in WAL
    (every open but the first) costs one read of the mode.
    """
    deadline = time.monotonic() + timeout_s
    pause = 0.001
    while True:
        try:
            if cur.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def _sqlite_setup(engine: Engine, *, immediate: bool, wal: bool) -> None:
    """Pragmas on every new connection; ``BEGIN IMMEDIATE`` (writers) or ``BEGIN`` ourselves."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record):  # pragma: no cover - driver plumbing
        dbapi_conn.isolation_level = None  # the driver issues no BEGIN: we do, below
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
        if wal:
            switch_to_wal(cur)
            cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):  # pragma: no cover - driver plumbing
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
