"""Pytest plugin: a fresh PostgreSQL database per test, for the stores' PostgreSQL tests.

Load it in a test module with ``pytest_plugins = ["_postgres"]`` (do not import from it: a
module imported before pytest registers it loses assertion rewriting) and ask for:

* ``postgres_url``: a SQLAlchemy URL to an empty database made for this test, dropped after it;
* ``store_url``: parametrised over :data:`BACKENDS`, so a store test runs once on a new SQLite
  file and once on a new PostgreSQL database.

The server comes from ``$SCANFLOW_TEST_POSTGRES_URL`` (any database on it; the user must be
allowed to CREATE DATABASE). Start a throwaway one with::

    eval "$(bash scripts/postgres-test-server.sh start)"

Without that variable the PostgreSQL tests are skipped, unless ``$SCANFLOW_REQUIRE_POSTGRES=1``
(CI), where they fail instead, so a broken server set-up cannot pass unnoticed.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

ENV_URL = "SCANFLOW_TEST_POSTGRES_URL"
ENV_REQUIRE = "SCANFLOW_REQUIRE_POSTGRES"

#: The store back-ends a parametrised ``store_url`` runs on.
BACKENDS = ["sqlite", "postgresql"]


def _unavailable(reason: str) -> None:
    """Skip the test, or fail it when PostgreSQL is required."""
    if os.environ.get(ENV_REQUIRE, "").strip() == "1":
        pytest.fail(f"{reason} ({ENV_REQUIRE}=1, so this is an error)", pytrace=False)
    pytest.skip(f'{reason}; start one with `eval "$(bash scripts/postgres-test-server.sh start)"`')


@dataclass
class PostgresServer:
    """The test server: an AUTOCOMMIT engine for CREATE/DROP DATABASE, and the options to use."""

    engine: sa.Engine
    create_options: str


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The server of ``$SCANFLOW_TEST_POSTGRES_URL``, checked once per session."""
    url = os.environ.get(ENV_URL, "").strip()
    if not url:
        _unavailable(f"no PostgreSQL server: ${ENV_URL} is not set")
    try:
        engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            version = int(conn.execute(sa.text("SHOW server_version_num")).scalar_one())
    except Exception as exc:  # a missing driver, a refused connection, bad credentials
        _unavailable(f"cannot reach PostgreSQL at ${ENV_URL}={url!r}: {type(exc).__name__}: {exc}")
    # FILE_COPY (PostgreSQL 15+) copies the template's files: faster than WAL-logging them.
    yield PostgresServer(engine, " STRATEGY = FILE_COPY" if version >= 150000 else "")
    engine.dispose()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A SQLAlchemy URL to a new, empty PostgreSQL database, dropped after the test."""
    name = f"scanflow_test_{uuid.uuid4().hex[:16]}"
    engine = postgres_server.engine
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"{postgres_server.create_options}'))
    try:
        yield engine.url.set(database=name).render_as_string(hide_password=False)
    finally:
        # WITH (FORCE) ends connections the stores' pools still hold (PostgreSQL 13+).
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store URL, once per back-end: a new SQLite file in ``tmp_path``, then a new
    PostgreSQL database (skipped without a server, see the module docstring)."""
    if request.param == "sqlite":
        path = tmp_path / "store" / "state.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}"
    return request.getfixturevalue("postgres_url")


def run_threads(target, names, timeout=60.0):
    """Start one thread per name at the same moment; re-raise the first error any of them hit."""
    barrier = threading.Barrier(len(names))
    errors: list[BaseException] = []

    def run(name):
        try:
            barrier.wait(timeout=timeout)
            target(name)
        except BaseException as exc:  # handed to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
    assert not any(t.is_alive() for t in threads), "a worker thread hung"
    if errors:
        raise errors[0]
