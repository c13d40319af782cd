"""The engine/session helper every store shares: URLs, engines, pragmas, transactions, retries.

``store_url`` runs a test on a new SQLite file and on a new PostgreSQL database (see
tests/_postgres.py).
"""

from __future__ import annotations

import sqlite3
import threading

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from scanflow.storage import Database, DatabaseURLError, Store, database_url, open_database
from scanflow.storage.engines import BUSY_TIMEOUT_S

pytest_plugins = ["_postgres"]

scratch = sa.Table(
    "scratch_values", sa.MetaData(),
    sa.Column("key", sa.String(50), primary_key=True),
    sa.Column("value", sa.Integer, nullable=False),
)


@pytest.fixture
def db(store_url):
    db = open_database(store_url)
    scratch.create(db.writer, checkfirst=True)
    return db


def _value(db: Database, key: str) -> int | None:
    q = sa.select(scratch.c.value).where(scratch.c.key == key)
    return db.read(lambda conn: conn.execute(q).scalar())


# -- URLs --------------------------------------------------------------------------------------
def test_a_file_path_becomes_an_absolute_sqlite_url_and_its_folder_is_made(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert database_url("state/labels.db") == f"sqlite:///{tmp_path / 'state' / 'labels.db'}"
    assert (tmp_path / "state").is_dir()


def test_every_spelling_of_in_memory_sqlite_is_one_url():
    assert database_url("sqlite://") == database_url("sqlite:///:memory:") == "sqlite://"


def test_a_setting_that_must_be_a_url_refuses_a_path_naming_the_setting_and_the_fix():
    with pytest.raises(DatabaseURLError, match=r"state_url 'scanflow\.db' is not a database URL: "
                                               r"use 'sqlite:///path/to/scanflow\.db'"):
        database_url("scanflow.db", what="state_url", allow_path=False)
    with pytest.raises(ValueError, match="cannot be parsed"):  # still a ValueError for callers
        database_url("not a url://")


def test_a_store_names_its_own_setting_in_url_errors():
    class Things(Store):
        url_setting = "things_url"

    with pytest.raises(DatabaseURLError, match="things_url 'things.db'"):
        Things("things.db")


# -- one Database per URL ------------------------------------------------------------------------
def test_one_database_per_url_and_process(tmp_path):
    path = tmp_path / "one.db"
    db = open_database(f"sqlite:///{path}")
    assert open_database(str(path)) is db  # the path and the URL name the same file
    assert open_database(f"sqlite:///{tmp_path / 'two.db'}") is not db


def test_stores_on_one_database_share_its_engines(store_url):
    class A(Store):
        pass

    a = A(store_url)
    assert A(store_url).db is a.db and A(a.db).db is a.db


def test_in_memory_sqlite_is_private_to_its_opener_and_survives_dispose():
    db = open_database("sqlite://")
    assert db.writer is db.reader and isinstance(db.writer.pool, sa.pool.StaticPool)
    scratch.create(db.writer)
    db.write(lambda c: c.execute(sa.insert(scratch).values(key="m", value=1)))
    db.dispose()  # closing its only connection would delete it: kept
    assert _value(db, "m") == 1
    other = open_database("sqlite:///:memory:")
    assert other is not db and not sa.inspect(other.reader).has_table("scratch_values")


def test_stores_share_an_in_memory_database_by_passing_it_on():
    class A(Store):
        pass

    a = A("sqlite://")
    assert A(a.db).db is a.db and A("sqlite://").db is not a.db


# -- transactions --------------------------------------------------------------------------------
def test_write_commits_and_returns_what_the_function_returns(db):
    got = db.write(lambda c: c.execute(sa.insert(scratch).values(key="a", value=1)) and "done")
    assert got == "done" and _value(db, "a") == 1


def test_a_failing_write_leaves_nothing_and_is_not_retried(db):
    calls = []

    def fn(conn):
        calls.append(1)
        conn.execute(sa.insert(scratch).values(key="b", value=1))
        raise KeyError("no such thing")

    with pytest.raises(KeyError):
        db.write(fn)
    assert calls == [1] and _value(db, "b") is None


def test_an_idempotency_key_race_is_retried_and_the_retry_sees_the_winner(db):
    db.write(lambda c: c.execute(sa.insert(scratch).values(key="k", value=1)))
    attempts = []

    def insert_once(conn):  # the first attempt inserts blindly, as a racing writer would
        attempts.append(1)
        if len(attempts) > 1 and conn.execute(sa.select(scratch).where(scratch.c.key == "k")).first():
            return "found"
        conn.execute(sa.insert(scratch).values(key="k", value=2))
        return "inserted"

    assert db.write(insert_once) == "found" and len(attempts) == 2
    assert _value(db, "k") == 1


def test_a_conflict_that_persists_is_raised_after_the_retries(db):
    db.write(lambda c: c.execute(sa.insert(scratch).values(key="dup", value=1)))
    with pytest.raises(IntegrityError):
        db.write(lambda c: c.execute(sa.insert(scratch).values(key="dup", value=2)), retries=2)


def test_concurrent_read_modify_writes_with_row_locks_lose_no_update(db):
    db.write(lambda c: c.execute(sa.insert(scratch).values(key="n", value=0)))

    def bump(conn):
        # FOR UPDATE on PostgreSQL; on SQLite the writer's BEGIN IMMEDIATE serialises it.
        v = conn.execute(sa.select(scratch.c.value).where(scratch.c.key == "n")
                         .with_for_update()).scalar_one()
        conn.execute(sa.update(scratch).where(scratch.c.key == "n").values(value=v + 1))

    def worker():
        for _ in range(20):
            db.write(bump)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert _value(db, "n") == 80


# -- SQLite specifics ----------------------------------------------------------------------------
def test_sqlite_files_use_wal_and_a_long_busy_timeout(tmp_path):
    db = open_database(tmp_path / "w.db")
    with db.reader.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == BUSY_TIMEOUT_S * 1000


def test_a_sqlite_writer_takes_the_write_lock_when_it_begins(tmp_path):
    path = tmp_path / "lock.db"
    db = open_database(path)
    with db.writer.begin():  # nothing written yet: BEGIN IMMEDIATE holds the lock already
        other = sqlite3.connect(path, timeout=0.1, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.close()


def test_a_sqlite_reader_is_not_blocked_by_an_open_write(tmp_path):
    db = open_database(tmp_path / "rw.db")
    scratch.create(db.writer, checkfirst=True)
    db.write(lambda c: c.execute(sa.insert(scratch).values(key="r", value=1)))
    with db.writer.begin() as conn:
        conn.execute(sa.update(scratch).values(value=2))
        assert _value(db, "r") == 1  # WAL: the old value, at once
    assert _value(db, "r") == 2


def test_postgres_engines_ping_their_connections(postgres_url):
    db = open_database(postgres_url)
    assert db.writer is db.reader and db.writer.pool._pre_ping
