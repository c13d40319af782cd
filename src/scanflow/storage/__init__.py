"""Where Scanflow keeps its own state: one engine/session helper and one versioned schema.

Every store of Scanflow (the agents' outbox, state, decision log and approvals, the drift
episodes, the prediction log, the label queue) sits on this package:

* :mod:`~scanflow.storage.urls`: what a store is given made into one URL (a file path becomes
  ``sqlite:///<absolute path>``; ``sqlite://`` is a private in-memory database);
* :mod:`~scanflow.storage.engines`: the engines, with the SQLite pragmas (WAL, busy timeout,
  ``BEGIN IMMEDIATE`` writers) and PostgreSQL pool settings the stores rely on;
* :mod:`~scanflow.storage.database`: :func:`open_database` (one :class:`Database` per URL and
  process), its ``write(fn)`` / ``read(fn)`` transactions with retries, and :class:`Store`, the
  base class of the stores;
* :mod:`~scanflow.storage.schema`: the Alembic migrations in ``migrations/``, applied when a
  database is first opened (new: created; older: upgraded; newer: refused).

It imports nothing of Scanflow but :mod:`scanflow.errors`, so every package may use it.
"""

from .database import Database, Store, dispose_databases, open_database
from .schema import SchemaVersionError, head_revision, schema_revision, upgrade_schema
from .urls import DatabaseURLError, database_url

__all__ = [
    "Database",
    "DatabaseURLError",
    "SchemaVersionError",
    "Store",
    "database_url",
    "dispose_databases",
    "head_revision",
    "open_database",
    "schema_revision",
    "upgrade_schema",
]
