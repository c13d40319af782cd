"""One :class:`Database` per URL and process: its engines, its schema, its transactions.

Every Scanflow store (agents' outbox and logs, episodes, the prediction log, the label queue)
opens its database with :func:`open_database` and runs its SQL through :meth:`Database.write`
and :meth:`Database.read`, so that they all share the same engines, pragmas, retries and
versioned schema::

    >>> db = open_database("sqlite://")
    >>> db.write(lambda conn: conn.exec_driver_sql("SELECT 1").scalar())
    1

A file or server URL gives one :class:`Database` per process, whoever opens it; an in-memory
URL (``sqlite://``) gives a new, private database each time (tests, doctests): stores that must
share one pass it on (``Outbox(store.db)``)::

    >>> open_database("sqlite://") is db
    False
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from .engines import create_engines
from .locks import NamedLocks
from .schema import upgrade_schema
from .urls import database_url, is_memory, is_sqlite, printable, sqlite_path

__all__ = ["Database", "Store", "dispose_databases", "open_database"]

log = logging.getLogger("scanflow.storage")

T = TypeVar("T")

#: PostgreSQL errors worth running the whole transaction again for: serialization failure,
#: deadlock, lock timeout.
_RETRY_SQLSTATES = {"40001", "40P01", "55P03"}


class Database:
    """A database Scanflow keeps its state in: ``writer`` and ``reader`` engines on one URL.

    Build it with :func:`open_database` (which also brings its schema up to date), not
    directly. ``url`` is the normalised URL (``sqlite://`` for memory, an absolute path for a
    SQLite file).
    """

    def __init__(self, url: str):
        self.url = url
        self.is_sqlite = is_sqlite(url)
        self.is_memory = is_memory(url)
        self.writer, self.reader = create_engines(url)
        #: try-locks by name shared by every process on this database (e.g. one agent's steps)
        self.locks = NamedLocks(url, self.writer)
        self.schema_ready = False  # set by open_database once the schema is at head
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Database({printable(self.url)!r})"

    def write(self, fn: Callable[[Connection], T], *, retries: int = 5) -> T:
        """Run ``fn(conn)`` in one write transaction and commit; return what it returns.

        The transaction is run again (``fn`` must be re-runnable: it is, since the failed
        attempt was rolled back) when the database says to try later: a SQLite lock held past
        the busy timeout, a PostgreSQL deadlock, serialization failure or lock timeout, and an
        ``IntegrityError``, which is how two writers racing to insert the same idempotency key
        meet: the retry reads the row the other one stored.
        """
        for attempt in range(retries):
            try:
                with self.writer.begin() as conn:
                    return fn(conn)
            except DBAPIError as exc:
                if attempt == retries - 1 or not _worth_retrying(exc):
                    raise
                log.debug("retrying a write on %s after %s", self, type(exc).__name__)
            time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    def read(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn(conn)`` on a reader connection (one consistent snapshot on SQLite)."""
        with self.reader.connect() as conn:
            return fn(conn)

    def dispose(self) -> None:
        """Close the pooled connections (the engines stay usable and reconnect on demand).

        An in-memory database is kept: closing its one connection would delete it.
        """
        if self.is_memory:
            return
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()

    def _forget_pool_after_fork(self) -> None:
        """In a forked child: drop (do not close) the parent's connections."""
        if not self.is_memory:
            for engine in {self.writer, self.reader}:
                engine.dispose(close=False)
        self.locks.forget_after_fork()


def _worth_retrying(exc: DBAPIError) -> bool:
    if isinstance(exc, IntegrityError):
        return True
    if isinstance(exc, OperationalError) and "locked" in str(exc.orig).lower():
        return True
    orig = exc.orig
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return state in _RETRY_SQLSTATES


_DATABASES: dict[str, Database] = {}
_DATABASES_LOCK = threading.Lock()


def _cache_key(url: str) -> str:
    path = sqlite_path(url)
    return f"sqlite:///{path.resolve()}" if path is not None else url


def open_database(url_or_path: str | os.PathLike[str], *, what: str = "database URL",
                  allow_path: bool = True) -> Database:
    """The process's :class:`Database` for ``url_or_path``, its schema at the newest revision.

    The first open in a process creates the engines and applies the schema migrations (see
    :mod:`scanflow.storage.schema`: a new database is created, an older one upgraded, a newer
    one refused); later opens of the same URL return the same object at once. An in-memory URL
    (``sqlite://``) is a new private database each time. ``what`` names the setting in errors;
    ``allow_path=False`` refuses bare file paths.
    """
    url = database_url(url_or_path, what=what, allow_path=allow_path)
    if is_memory(url):
        db = Database(url)  # private: nobody else can reach it, so no cache and no lock
        upgrade_schema(db)
        db.schema_ready = True
        return db
    key = _cache_key(url)
    with _DATABASES_LOCK:
        db = _DATABASES.get(key)
        if db is None:
            db = _DATABASES[key] = Database(url)
    if not db.schema_ready:
        with db._lock:
            if not db.schema_ready:
                upgrade_schema(db)
                db.schema_ready = True
    return db


def dispose_databases() -> None:
    """Close the pooled connections of every database this process opened.

    The databases stay usable (the next query reconnects). Long-running processes that open many
    short-lived databases (a test session, a benchmark grid) call it so that idle SQLite files do
    not hold file descriptors.
    """
    with _DATABASES_LOCK:
        databases = list(_DATABASES.values())
    for db in databases:
        db.dispose()


def _after_fork_in_child() -> None:  # pragma: no cover - runs in forked children
    for db in list(_DATABASES.values()):
        db._forget_pool_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Store:
    """Base class of Scanflow's stores: ``self.db`` (a shared :class:`Database`) and ``self.url``.

    Args:
        url_or_db: a SQLAlchemy URL (``sqlite:///path.db``, ``postgresql+psycopg://...``,
            ``sqlite://`` for memory), or a :class:`Database` another store already opened
            (several small stores then share one set of engines).
    """

    #: How errors name the URL setting of this store.
    url_setting = "database URL"
    #: Whether a bare file path is accepted (as a SQLite file).
    accepts_paths = False

    def __init__(self, url_or_db: str | os.PathLike[str] | Database):
        if isinstance(url_or_db, Database):
            self.db = url_or_db
            self.url = url_or_db.url
        else:
            self.url = database_url(url_or_db, what=self.url_setting, allow_path=self.accepts_paths)
            self.db = open_database(self.url)

    def _write(self, fn: Callable[[Connection], T], **kwargs: Any) -> T:
        return self.db.write(fn, **kwargs)

    def _read(self, fn: Callable[[Connection], T]) -> T:
        return self.db.read(fn)
