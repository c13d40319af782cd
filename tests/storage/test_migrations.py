"""Scanflow's versioned schema: a new database is created at head, an older one is upgraded with
its rows, a newer one is refused, a failed migration changes nothing, and processes opening a
new database at once create it once. Each test runs on a new SQLite file and on a new
PostgreSQL database (``store_url``, see tests/_postgres.py).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import textwrap
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
import storage_legacy
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from _postgres import run_threads
from scanflow.agents import episodes as episode_tables
from scanflow.agents import tables as agent_tables
from scanflow.agents.episodes import EpisodeStore
from scanflow.agents.store import StateStore
from scanflow.improve import label_schema
from scanflow.improve.labels import LabelStore
from scanflow.storage import (
    Database,
    SchemaVersionError,
    head_revision,
    open_database,
    schema_revision,
    upgrade_schema,
)
from scanflow.storage import schema as schema_module
from scanflow.track import predictions as prediction_tables

pytest_plugins = ["_postgres"]

SCANFLOW_TABLES = {
    "scanflow_agent_messages", "scanflow_agent_decisions", "scanflow_agent_actions",
    "scanflow_agent_state", "scanflow_agent_triggers", "scanflow_agent_approvals",
    "scanflow_predictions", "scanflow_episodes", "scanflow_episode_samples",
    "scanflow_episode_keys", "scanflow_label_items", "scanflow_label_events",
}


def _plain_engine(url: str) -> sa.Engine:
    """An engine that knows nothing of Scanflow (no pragmas, no migrations)."""
    return sa.create_engine(url, poolclass=sa.pool.NullPool)


def _tables(url: str) -> set[str]:
    engine = _plain_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _stores_metadata() -> sa.MetaData:
    """Every table the stores read and write, on one MetaData."""
    combined = sa.MetaData()
    for md in (agent_tables.metadata, episode_tables.metadata, prediction_tables.metadata,
               label_schema.metadata):
        for table in md.tables.values():
            table.to_metadata(combined)
    return combined


class SchemaCode:
    """The migrations the schema code uses: a copy a test may add revisions to, or the real ones."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.monkeypatch = monkeypatch

    def copy(self, tmp: Path) -> Path:
        """Use a copy of the packaged migrations (in ``tmp``) from now on; returns it."""
        copy = tmp / "migrations"
        shutil.copytree(schema_module.MIGRATIONS, copy,
                        ignore=shutil.ignore_patterns("__pycache__"))
        self.monkeypatch.setattr(schema_module, "MIGRATIONS", copy)
        schema_module._scripts.cache_clear()
        return copy

    def restore(self) -> None:
        """Back to the packaged migrations (the code as released)."""
        self.monkeypatch.undo()
        schema_module._scripts.cache_clear()


@pytest.fixture
def schema_code(monkeypatch):
    code = SchemaCode(monkeypatch)
    yield code
    code.restore()


def _add_revision(migrations: Path, revision: str, upgrade_body: str) -> None:
    """Write a revision after the current head whose ``upgrade()`` runs ``upgrade_body``."""
    body = textwrap.indent(textwrap.dedent(upgrade_body).strip(), "    ")
    (migrations / "versions" / f"{revision}_test.py").write_text(
        '"""A revision made by a test."""\n'
        "import sqlalchemy as sa\n"
        "from alembic import op\n\n"
        f"revision = {revision!r}\n"
        f"down_revision = {head_revision()!r}\n"
        "branch_labels = None\n"
        "depends_on = None\n\n\n"
        f"def upgrade():\n{body}\n\n\n"
        "def downgrade():\n    pass\n"
    )
    schema_module._scripts.cache_clear()  # the scripts were read before this one existed


# -- a new database ------------------------------------------------------------------------------
def test_a_new_database_is_created_at_the_head_revision(store_url):
    db = open_database(store_url)
    assert schema_revision(db) == head_revision() == "0001"
    tables = _tables(store_url)
    assert tables == SCANFLOW_TABLES | {"scanflow_alembic_version"}
    assert "alembic_version" not in tables  # MLflow's name: a shared database stays MLflow's


def test_the_migrated_schema_is_the_one_the_stores_use(store_url):
    open_database(store_url)
    engine = _plain_engine(store_url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={
            "compare_type": True,
            "include_name": lambda name, kind, _: kind != "table" or name != "scanflow_alembic_version",
        })
        diffs = compare_metadata(ctx, _stores_metadata())
    engine.dispose()
    assert diffs == [], "write a migration for this change of the stores' tables"


# -- an older database ---------------------------------------------------------------------------
def _fill_legacy(url: str, metadata: sa.MetaData) -> None:
    """A database as an older Scanflow left it: tables by create_all, rows, no version table."""
    engine = _plain_engine(url)
    metadata.create_all(engine)
    buf = io.BytesIO()
    np.save(buf, np.arange(4.0), allow_pickle=False)
    now = datetime(2025, 1, 1)
    t = metadata.tables
    with engine.begin() as conn:
        conn.execute(t["scanflow_agent_messages"].insert().values(
            key="m1", sender="tracker", recipient="checker", kind="drift", payload={"score": 0.7},
            status="pending", attempts=0, created_at=1.0))
        conn.execute(t["scanflow_agent_state"].insert().values(
            agent="checker", paused=True, memory={"seen": 3}, cursors={"tick": 9}, updated_at=1.0))
        conn.execute(t["scanflow_agent_decisions"].insert().values(
            key="m1/r", agent="checker", message_key="m1", rule="r", decision="alert",
            reason="old", inputs={}, actions=[], memory={}, created_at=1.0))
        conn.execute(t["scanflow_predictions"].insert().values(
            service="api", created_at=1.0, inputs=buf.getvalue(), prediction=7))
        conn.execute(t["scanflow_label_items"].insert().values(
            batch="old", position=0, status="labeled", shape="4", dtype="<f8",
            data=np.arange(4.0).tobytes(), meta="{}", label=2, labeler="ana",
            labeler_kind="human", labeled_at=now, created_at=now))
    engine.dispose()


@pytest.mark.parametrize("made_by", ["HEAD~5", "HEAD"])
def test_an_unversioned_database_of_an_older_scanflow_is_adopted_with_its_rows(store_url, made_by):
    # HEAD~5: the prediction log without its `record` column, no episode tables;
    # HEAD: every table of the code just before the schema was versioned.
    _fill_legacy(store_url, storage_legacy.metadata if made_by == "HEAD~5" else _stores_metadata())
    state = StateStore(store_url)
    assert schema_revision(state.db) == head_revision()
    assert _tables(store_url) == SCANFLOW_TABLES | {"scanflow_alembic_version"}
    [msg] = state.inbox("checker")
    assert (msg.key, msg.payload) == ("m1", {"score": 0.7})
    assert state.paused(["checker"]) == {"checker": True} and state.cursors("checker") == {"tick": 9}
    assert state.decision("m1/r").reason == "old"
    np.testing.assert_array_equal(state.predictions.prediction_inputs([1]), [np.arange(4.0)])
    [new] = state.predictions.record_predictions("api", [{"a": 1.0}], [0])  # needs `record`
    assert state.predictions.prediction_inputs([new])["a"].tolist() == [1.0]
    labels = LabelStore(store_url)
    assert (labels.get(1).label, labels.get(1).x.tolist()) == (2, [0.0, 1.0, 2.0, 3.0])
    assert EpisodeStore(state).open_or_join("m", [new], key="k", budget=5).budget == 5


# -- a newer database ----------------------------------------------------------------------------
def test_a_database_of_a_newer_scanflow_is_refused_naming_the_revision_and_the_fix(store_url):
    engine = _plain_engine(store_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE scanflow_alembic_version "
                             "(version_num VARCHAR(32) NOT NULL PRIMARY KEY)"))
        conn.execute(sa.text("INSERT INTO scanflow_alembic_version VALUES ('0099_future')"))
    engine.dispose()
    for _ in range(2):  # refused every time, not only on the first open
        with pytest.raises(SchemaVersionError, match=r"schema revision '0099_future'.*newest is "
                                                     r"'0001'.*upgrade Scanflow") as err:
            StateStore(store_url)
        assert isinstance(err.value, RuntimeError)
    assert _tables(store_url) == {"scanflow_alembic_version"}  # nothing was written


def test_a_database_is_upgraded_to_a_new_revision_keeping_its_rows_and_then_refused_by_older_code(
        store_url, tmp_path, schema_code):
    StateStore(store_url).send("m1", "a", "b", "note", {"x": 1})
    migrations = schema_code.copy(tmp_path)
    _add_revision(migrations, "0002", '''
        with op.batch_alter_table("scanflow_agent_messages") as batch:
            batch.add_column(sa.Column("note", sa.Text))
        ''')
    newer = Database(open_database(store_url).url)  # a process running the newer code
    upgrade_schema(newer)
    assert schema_revision(newer) == "0002"
    engine = _plain_engine(store_url)
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT key, note FROM scanflow_agent_messages")).one()
    engine.dispose()
    assert tuple(row) == ("m1", None)
    newer.dispose()
    schema_code.restore()
    with pytest.raises(SchemaVersionError, match="schema revision '0002'"):
        upgrade_schema(Database(open_database(store_url).url))  # this code knows only 0001


def test_a_failing_migration_changes_nothing(store_url, tmp_path, schema_code):
    db = open_database(store_url)
    migrations = schema_code.copy(tmp_path)
    _add_revision(migrations, "0002", '''
        op.create_table("scanflow_half_done", sa.Column("id", sa.Integer, primary_key=True))
        raise RuntimeError("a migration that fails half-way")
        ''')
    with pytest.raises(RuntimeError, match="half-way"):
        upgrade_schema(Database(db.url))
    assert schema_revision(db) == "0001"
    assert "scanflow_half_done" not in _tables(store_url)


# -- concurrency ---------------------------------------------------------------------------------
def test_threads_with_their_own_engines_opening_a_new_database_at_once_create_it_once(store_url):
    url = store_url
    seen: dict[str, str | None] = {}

    def first_open(name):
        db = Database(url)  # its own engines and connections, like another process
        upgrade_schema(db)
        seen[name] = schema_revision(db)
        db.dispose()

    run_threads(first_open, [f"t{i}" for i in range(4)])
    assert set(seen.values()) == {head_revision()}
    engine = _plain_engine(url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM scanflow_alembic_version")).scalar() == 1
    engine.dispose()


_OPENER = """
import os, sys, time
from pathlib import Path
barrier, n, url = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
from scanflow.storage import open_database, schema_revision  # imported before the start line
(barrier / str(os.getpid())).touch()
while len(list(barrier.iterdir())) < n:
    time.sleep(0.005)
print(schema_revision(open_database(url)))
"""


def test_processes_opening_a_new_database_at_once_create_it_once(store_url, tmp_path):
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    n = 3
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    procs = [subprocess.Popen([sys.executable, "-c", _OPENER, str(barrier), str(n), store_url],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(n)]
    deadline = time.time() + 240
    outputs = [p.communicate(timeout=max(1.0, deadline - time.time())) for p in procs]
    for p, (out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err[-2000:]
        assert out.strip() == head_revision()
    assert _tables(store_url) == SCANFLOW_TABLES | {"scanflow_alembic_version"}
