"""The tables of Scanflow before its schema was versioned, copied verbatim from
``git show HEAD~5:src/scanflow/agents/store.py`` and ``...:src/scanflow/improve/labels.py``
(commit 7aa267d): the agents' tables with the prediction log (no ``record`` column yet), the
label queue; no episode tables. A test builds a database with them, as that Scanflow did
(``metadata.create_all``), and checks that today's stores adopt it and keep its rows.
"""

import sqlalchemy as sa
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

messages = Table(
    "scanflow_agent_messages", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(512), nullable=False, unique=True),
    Column("sender", String(128), nullable=False),
    Column("recipient", String(128), nullable=False),
    Column("kind", String(128), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("status", String(16), nullable=False, default="pending"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("error", Text),
    Column("created_at", Float, nullable=False),
    Column("delivered_at", Float),
    Column("handled_at", Float),
    Index("ix_scanflow_agent_messages_inbox", "recipient", "status", "id"),
)

decisions = Table(
    "scanflow_agent_decisions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(600), nullable=False, unique=True),
    Column("agent", String(128), nullable=False, index=True),
    Column("message_key", String(512), nullable=False),
    Column("rule", String(128), nullable=False),
    Column("decision", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("inputs", JSON, nullable=False),
    Column("actions", JSON, nullable=False),
    Column("memory", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
)

actions = Table(
    "scanflow_agent_actions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(700), nullable=False, unique=True),
    Column("agent", String(128), nullable=False, index=True),
    Column("decision_key", String(600), nullable=False),
    Column("actuator", String(128), nullable=False),
    Column("params", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=1),
    Column("result", JSON),
    Column("error", Text),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float),
)

agent_state = Table(
    "scanflow_agent_state", metadata,
    Column("agent", String(128), primary_key=True),
    Column("paused", Boolean, nullable=False, default=False),
    Column("memory", JSON, nullable=False),
    Column("cursors", JSON, nullable=False),
    Column("heartbeat_at", Float),
    Column("pid", Integer),
    Column("updated_at", Float, nullable=False),
)

triggers = Table(
    "scanflow_agent_triggers", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("agent", String(128), nullable=False),
    Column("sensor", String(128), nullable=False),
    Column("requested_at", Float, nullable=False),
    Column("consumed_at", Float),
)

approvals = Table(
    "scanflow_agent_approvals", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(700), nullable=False, unique=True),
    Column("agent", String(128), nullable=False),
    Column("subject", JSON, nullable=False),
    Column("reason", Text, nullable=False),
    Column("status", String(16), nullable=False),  # pending | approved | rejected
    Column("requested_at", Float, nullable=False),
    Column("decided_at", Float),
    Column("decided_by", String(128)),
    Column("note", Text),
)

predictions = Table(
    "scanflow_predictions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("service", String(128), nullable=False),
    Column("model", String(256)),
    Column("model_version", String(64)),
    Column("created_at", Float, nullable=False, index=True),
    Column("inputs", LargeBinary),  # one sample as .npy bytes (read with allow_pickle=False)
    Column("prediction", JSON),
    Column("confidence", Float),
    Column("outlier_score", Float),
    Column("is_outlier", Boolean),
)


# LabelStore._define_tables of that commit, on the same metadata (one database for all).
label_items = sa.Table(
    "scanflow_label_items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("batch", sa.String(200), nullable=False, index=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("shape", sa.String(100), nullable=False),
    sa.Column("dtype", sa.String(16), nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("meta", sa.Text, nullable=False),
    sa.Column("model_guess", sa.Integer),
    sa.Column("score", sa.Float),
    sa.Column("label", sa.Integer),
    sa.Column("labeler", sa.String(100)),
    sa.Column("labeler_kind", sa.String(16)),
    sa.Column("labeled_at", sa.DateTime),
    sa.Column("claimed_by", sa.String(100)),
    sa.Column("claimed_at", sa.DateTime),
    sa.Column("lease_until", sa.DateTime),
    sa.Column("created_at", sa.DateTime, nullable=False),
)
label_events = sa.Table(
    "scanflow_label_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "item_id",
        sa.Integer,
        sa.ForeignKey("scanflow_label_items.id"),
        nullable=False,
        index=True,
    ),
    sa.Column("action", sa.String(16), nullable=False),  # label | skip | undo
    sa.Column("label", sa.Integer),
    sa.Column("labeler", sa.String(100), nullable=False, index=True),
    sa.Column("labeler_kind", sa.String(16), nullable=False),
    sa.Column("undone", sa.Boolean, nullable=False, default=False),
    sa.Column("at", sa.DateTime, nullable=False),
)
