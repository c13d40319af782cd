"""Baseline: Scanflow's tables as they were when the schema started to be versioned.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

It creates what is missing, so the same revision makes a new database and adopts one made by
an earlier Scanflow (its tables present, no version table), keeping its rows: a table that
exists is left as it is, and ``scanflow_predictions.record`` (added to that table before
versioning began) is added where it is absent.

The tables are frozen copies of the stores' definitions at this revision: a migration never
imports the stores, whose tables will move on.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Column, JSON, Float, Integer, String, Text = sa.Column, sa.JSON, sa.Float, sa.Integer, sa.String, sa.Text


def _agent_tables() -> None:
    """Outbox, agent state, sensor triggers."""
    _create("scanflow_agent_messages", [
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("key", String(512), nullable=False, unique=True),
        Column("sender", String(128), nullable=False),
        Column("recipient", String(128), nullable=False),
        Column("kind", String(128), nullable=False),
        Column("payload", JSON, nullable=False),
        Column("status", String(16), nullable=False),
        Column("attempts", Integer, nullable=False),
        Column("error", Text),
        Column("created_at", Float, nullable=False),
        Column("delivered_at", Float),
        Column("handled_at", Float),
    ], indexes={"ix_scanflow_agent_messages_inbox": ["recipient", "status", "id"]})
    _create("scanflow_agent_state", [
        Column("agent", String(128), primary_key=True),
        Column("paused", sa.Boolean, nullable=False),
        Column("memory", JSON, nullable=False),
        Column("cursors", JSON, nullable=False),
        Column("heartbeat_at", Float),
        Column("pid", Integer),
        Column("updated_at", Float, nullable=False),
    ])
    _create("scanflow_agent_triggers", [
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("agent", String(128), nullable=False),
        Column("sensor", String(128), nullable=False),
        Column("requested_at", Float, nullable=False),
        Column("consumed_at", Float),
    ])


def _agent_log_tables() -> None:
    """Decisions, actions, approvals."""
    _create("scanflow_agent_decisions", [
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("key", String(600), nullable=False, unique=True),
        Column("agent", String(128), nullable=False),
        Column("message_key", String(512), nullable=False),
        Column("rule", String(128), nullable=False),
        Column("decision", String(64), nullable=False),
        Column("reason", Text, nullable=False),
        Column("inputs", JSON, nullable=False),
        Column("actions", JSON, nullable=False),
        Column("memory", JSON, nullable=False),
        Column("created_at", Float, nullable=False),
    ], indexes={"ix_scanflow_agent_decisions_agent": ["agent"]})
    _create("scanflow_agent_actions", [
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("key", String(700), nullable=False, unique=True),
        Column("agent", String(128), nullable=False),
        Column("decision_key", String(600), nullable=False),
        Column("actuator", String(128), nullable=False),
        Column("params", JSON, nullable=False),
        Column("status", String(16), nullable=False),
        Column("attempts", Integer, nullable=False),
        Column("result", JSON),
        Column("error", Text),
        Column("started_at", Float, nullable=False),
        Column("finished_at", Float),
    ], indexes={"ix_scanflow_agent_actions_agent": ["agent"]})
    _create("scanflow_agent_approvals", [
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("key", String(700), nullable=False, unique=True),
        Column("agent", String(128), nullable=False),
        Column("subject", JSON, nullable=False),
        Column("reason", Text, nullable=False),
        Column("status", String(16), nullable=False),
        Column("requested_at", Float, nullable=False),
        Column("decided_at", Float),
        Column("decided_by", String(128)),
        Column("note", Text),
    ])


def _prediction_table() -> None:
    """The prediction log; older databases lack its ``record`` column."""
    created = _create("scanflow_predictions", [
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("service", String(128), nullable=False),
        Column("model", String(256)),
        Column("model_version", String(64)),
        Column("created_at", Float, nullable=False),
        Column("inputs", sa.LargeBinary),
        Column("record", JSON),
        Column("prediction", JSON),
        Column("confidence", Float),
        Column("outlier_score", Float),
        Column("is_outlier", sa.Boolean),
    ], indexes={"ix_scanflow_predictions_created_at": ["created_at"]})
    if not created and "record" not in _columns("scanflow_predictions"):
        op.add_column("scanflow_predictions", Column("record", JSON))


def _episode_tables() -> None:
    """Drift episodes, their sample pools, and the action keys already applied."""
    _create("scanflow_episodes", [
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("model", String(256), nullable=False),
        Column("status", String(16), nullable=False),
        Column("budget", Integer, nullable=False),
        Column("opened_at", Float, nullable=False),
        Column("closed_at", Float),
        Column("reason", Text, nullable=False),
        Column("info", JSON, nullable=False),
    ])
    _create("scanflow_episode_samples", [
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("episode_id", Integer, nullable=False),
        Column("prediction_id", Integer, nullable=False),
        Column("requested", String(200)),
        sa.UniqueConstraint("episode_id", "prediction_id", name="uq_scanflow_episode_sample"),
    ], indexes={"ix_scanflow_episode_samples_episode_id": ["episode_id"]})
    _create("scanflow_episode_keys", [
        Column("key", String(700), primary_key=True),
        Column("episode_id", Integer, nullable=False),
    ])


def _label_tables() -> None:
    """The label queue and its audit log."""
    _create("scanflow_label_items", [
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("batch", String(200), nullable=False),
        Column("position", Integer, nullable=False),
        Column("status", String(16), nullable=False),
        Column("shape", String(100), nullable=False),
        Column("dtype", String(16), nullable=False),
        Column("data", sa.LargeBinary, nullable=False),
        Column("meta", Text, nullable=False),
        Column("model_guess", Integer),
        Column("score", Float),
        Column("label", Integer),
        Column("labeler", String(100)),
        Column("labeler_kind", String(16)),
        Column("labeled_at", sa.DateTime),
        Column("claimed_by", String(100)),
        Column("claimed_at", sa.DateTime),
        Column("lease_until", sa.DateTime),
        Column("created_at", sa.DateTime, nullable=False),
    ], indexes={"ix_scanflow_label_items_batch": ["batch"],
                "ix_scanflow_label_items_status": ["status"]})
    _create("scanflow_label_events", [
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("item_id", Integer, sa.ForeignKey("scanflow_label_items.id"), nullable=False),
        Column("action", String(16), nullable=False),
        Column("label", Integer),
        Column("labeler", String(100), nullable=False),
        Column("labeler_kind", String(16), nullable=False),
        Column("undone", sa.Boolean, nullable=False),
        Column("at", sa.DateTime, nullable=False),
    ], indexes={"ix_scanflow_label_events_item_id": ["item_id"],
                "ix_scanflow_label_events_labeler": ["labeler"]})


def _create(name: str, columns: list, indexes: dict[str, list[str]] | None = None) -> bool:
    """Create the table and its indexes unless it exists; True when it was created."""
    if sa.inspect(op.get_bind()).has_table(name):
        return False
    op.create_table(name, *columns)
    for index, cols in (indexes or {}).items():
        op.create_index(index, name, cols)
    return True


def _columns(table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)}


def upgrade() -> None:
    """Create every table that is missing (all of them in a new database)."""
    _agent_tables()
    _agent_log_tables()
    _prediction_table()
    _episode_tables()
    _label_tables()


def downgrade() -> None:
    """Refused: this would drop every table and its rows."""
    # lazy: the migration module is loaded by Alembic; the store's error type is only needed here
    from scanflow.storage.schema import SchemaVersionError

    raise SchemaVersionError(
        "Scanflow does not downgrade its schema (the baseline holds every table and its rows): "
        "restore a backup of the database instead")
