"""Named locks that several processes on one database take in turn: :class:`NamedLocks`.

Two agent runtimes may run the same agent (replicas, for availability): each step of an agent
must then be taken by one of them at a time, or both would handle the same message and run
its actions twice. The lock lives where the database lives, so that it holds across hosts
for PostgreSQL and across processes for a SQLite file:

* **PostgreSQL**: a session advisory lock (``pg_try_advisory_lock``) on one connection kept
  by this process for its locks. Nothing is written; a process that dies drops its connection
  and the server releases its locks at once (no lease to wait out).
* **SQLite file**: an exclusive ``flock`` on a file per name in ``<database>.locks/``, released
  by the kernel when the process dies.
* **in-memory SQLite**: a lock of this process (nobody else can reach the database).

A lock is reentrant for no one: within one process, a second ``try_lock`` of a held name
answers False, as it does in another process::

    >>> locks = NamedLocks("sqlite://", engine=None)
    >>> locks.try_lock("checker"), locks.try_lock("checker")
    (True, False)
    >>> locks.unlock("checker"); locks.try_lock("checker")
    True
"""

from __future__ import annotations

import threading
import zlib
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from .urls import is_memory, is_sqlite, sqlite_path

__all__ = ["NamedLocks"]

#: The first key of every advisory lock Scanflow takes (the name's CRC is the second).
_PG_NAMESPACE = zlib.crc32(b"scanflow.storage.locks") - 2**31


def _pg_keys(name: str) -> tuple[int, int]:
    return _PG_NAMESPACE, zlib.crc32(name.encode()) - 2**31  # signed int4, as PostgreSQL wants


class NamedLocks:
    """Try-locks by name on the database at ``url`` (see the module docstring).

    Args:
        url: the database's normalised URL.
        engine: its engine (PostgreSQL: the lock connection is taken from it).
    """

    def __init__(self, url: str, engine: sa.Engine | None):
        self.url = url
        self._engine = engine
        self._mutex = threading.Lock()
        self._held: dict[str, Any] = {}  # name -> the open lock file (SQLite) or True
        self._conn: sa.Connection | None = None
        self._kind = ("memory" if is_memory(url) else "file" if is_sqlite(url) else "postgresql")

    def try_lock(self, name: str) -> bool:
        """Take the lock ``name`` if nobody (here or elsewhere) holds it; never waits."""
        with self._mutex:
            if name in self._held:
                return False
            token = getattr(self, f"_take_{self._kind}")(name)
            if token is None:
                return False
            self._held[name] = token
            return True

    def unlock(self, name: str) -> None:
        """Give the lock back (nothing happens if this process does not hold it)."""
        with self._mutex:
            token = self._held.pop(name, None)
            if token is None:
                return
            if self._kind == "file":
                token.close()  # closing the file drops its flock
            elif self._kind == "postgresql":
                try:
                    self._connection().execute(sa.text("SELECT pg_advisory_unlock(:a, :b)"),
                                               dict(zip("ab", _pg_keys(name), strict=True)))
                except sa.exc.DBAPIError:
                    self._drop_connection()  # the session is gone, and its locks with it

    def held(self) -> list[str]:
        """The names this process holds now."""
        with self._mutex:
            return sorted(self._held)

    # -- per back-end ------------------------------------------------------------------------
    def _take_memory(self, name: str) -> bool:
        return True

    def _take_file(self, name: str) -> Any:
        import fcntl  # lazy: POSIX only, and only SQLite files need it

        folder = Path(f"{sqlite_path(self.url)}.locks")
        folder.mkdir(parents=True, exist_ok=True)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        handle = open(folder / f"{safe}-{zlib.crc32(name.encode()):08x}.lock", "a")  # noqa: SIM115
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return None
        return handle

    def _take_postgresql(self, name: str) -> bool | None:
        try:
            got = self._connection().execute(sa.text("SELECT pg_try_advisory_lock(:a, :b)"),
                                              dict(zip("ab", _pg_keys(name), strict=True))).scalar()
        except sa.exc.DBAPIError:
            self._drop_connection()
            raise
        return True if got else None

    def _connection(self) -> sa.Connection:
        """The session that holds this process's advisory locks (autocommit: no open transaction)."""
        if self._conn is None:
            assert self._engine is not None
            self._conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._conn

    def _drop_connection(self) -> None:
        """The lock session broke: its locks are gone, so this process holds none any more."""
        conn, self._conn = self._conn, None
        self._held.clear()
        if conn is not None:
            try:
                conn.invalidate()
            except Exception:  # pragma: no cover - already closed
                pass

    def forget_after_fork(self) -> None:
        """In a forked child: the parent's locks and lock session are not the child's."""
        self._mutex = threading.Lock()
        self._held = {}
        # Keep the parent's session referenced: collecting it here would reset it on the wire.
        self._orphans = [*getattr(self, "_orphans", []), self._conn]
        self._conn = None
