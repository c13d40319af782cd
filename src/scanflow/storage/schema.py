"""Scanflow's versioned schema: Alembic migrations, applied when a store opens a database.

All of Scanflow's tables (``scanflow_agent_*``, ``scanflow_predictions``, ``scanflow_episode*``,
``scanflow_label_*``) form one schema with one revision history, in ``migrations/versions/``
inside this package. :func:`scanflow.storage.open_database` calls :func:`upgrade_schema` the
first time a process opens a URL, so users never run Alembic themselves (no ``alembic.ini``):

* a **new** database is created at the newest (head) revision;
* an **older** database is upgraded, in one transaction: either all its migrations apply or
  none does. A database made before the schema was versioned (Scanflow tables, no version
  table) is adopted by the baseline revision, which creates only what is missing; its rows
  are kept;
* a database at a revision this code does not know (a **newer** Scanflow upgraded it) is
  refused with :class:`SchemaVersionError`, before anything is written.

The revision is kept in the table ``scanflow_alembic_version`` (not ``alembic_version``: the
database may be shared with MLflow, which has its own).

Concurrency: the upgrade holds the database's write lock from the moment it reads the
revision until it commits. On SQLite that is the writer's ``BEGIN IMMEDIATE``; on PostgreSQL a
transaction-scoped advisory lock (``pg_advisory_xact_lock``). So when several processes open a
new database at once, one creates the tables and the others wait, then find it at head.

Writing a migration: add ``migrations/versions/NNNN_<what>.py`` with ``down_revision`` set to
the current head, using ``op.batch_alter_table`` for SQLite-incompatible changes, and change
the store's ``Table`` to match; ``tests/storage/test_schema.py`` fails while the migrated schema
and the stores' tables differ.
"""

from __future__ import annotations

import functools
import logging
import zlib
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection

from scanflow.errors import ScanflowError

from .urls import printable

if TYPE_CHECKING:
    from .database import Database

__all__ = [
    "VERSION_TABLE",
    "SchemaVersionError",
    "alembic_config",
    "head_revision",
    "schema_revision",
    "upgrade_schema",
]

log = logging.getLogger("scanflow.storage")

#: The table that holds a database's schema revision.
VERSION_TABLE = "scanflow_alembic_version"
#: Where the migration scripts are (shipped inside the package).
MIGRATIONS = Path(__file__).with_name("migrations")
#: The PostgreSQL advisory lock key that serialises schema upgrades (any constant bigint).
_PG_LOCK_KEY = zlib.crc32(b"scanflow.storage.schema")


class SchemaVersionError(ScanflowError, RuntimeError):
    """The database's schema is at a revision this Scanflow does not know (a newer one)."""


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic ``Config`` built in code: the packaged scripts, and the connection to use."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


@functools.cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The newest revision this code knows."""
    head = _scripts().get_current_head()
    assert head is not None, f"no migration scripts in {MIGRATIONS}"
    return head


def current_revisions(conn: Connection) -> tuple[str, ...]:
    """The revision(s) stored in the database; ``()`` when it is unversioned (new or legacy)."""
    ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    return tuple(ctx.get_current_heads())


def schema_revision(db: Database) -> str | None:
    """The database's schema revision, or None when it has none yet."""
    revisions = db.read(current_revisions)
    return revisions[0] if revisions else None


def upgrade_schema(db: Database) -> None:
    """Bring the database to the head revision (see the module docstring); idempotent."""
    head = head_revision()
    found = db.read(current_revisions)
    if found == (head,):
        return
    _refuse_unknown(db, found)
    with db.writer.begin() as conn:
        _lock_schema(conn)
        found = current_revisions(conn)  # again, now that no one else can change it
        if found == (head,):
            return
        _refuse_unknown(db, found)
        _log_start(db, conn, found, head)
        command.upgrade(alembic_config(conn), "head")


def _lock_schema(conn: Connection) -> None:
    """Hold the schema lock until the transaction ends (SQLite: ``BEGIN IMMEDIATE`` holds it)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})


def _refuse_unknown(db: Database, found: Sequence[str]) -> None:
    """Raise :class:`SchemaVersionError` for a revision no script of ours has."""
    for revision in found:
        try:
            known = _scripts().get_revision(revision)
        except CommandError:
            known = None
        if known is None:
            raise SchemaVersionError(
                f"the database {printable(db.url)} has schema revision {revision!r}, which this "
                f"Scanflow ({_version()}) does not know; its newest is {head_revision()!r}. A newer "
                "Scanflow upgraded it: upgrade Scanflow (`pip install -U scanflow`) to open it "
                "(Scanflow never downgrades a schema), or point this one at another database.")


def _log_start(db: Database, conn: Connection, found: Sequence[str], head: str) -> None:
    if found:
        log.info("upgrading the schema of %s from %s to %s", printable(db.url), found[0], head)
        return
    tables = [t for t in sa.inspect(conn).get_table_names() if t.startswith("scanflow_")]
    if tables:
        log.info("adopting %s, made before Scanflow versioned its schema (%d tables), at %s",
                 printable(db.url), len(tables), head)
    else:
        log.info("creating Scanflow's tables in %s at schema %s", printable(db.url), head)


def _version() -> str:
    try:
        return f"version {version('scanflow')}"
    except PackageNotFoundError:
        return "an uninstalled copy"
