"""The label queue's tables, and the base both halves of the store share.

``scanflow_label_items`` holds one row per sample and its current state;
``scanflow_label_events`` is the audit log (every label, skip and undo, who and when). The
tables are created and upgraded by Scanflow's schema migrations (:mod:`scanflow.storage.schema`)
when the store opens its database; these ``Table`` objects are how the store reads and writes
them (a test checks that both agree).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import sqlalchemy as sa

from scanflow.storage import Store

from .label_items import LABELER_KINDS, Item, LabelError, _item_id, _row_to_item, _unknown_item

__all__ = ["LabelTables", "events", "items", "metadata"]

metadata = sa.MetaData()

items = sa.Table(
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

events = sa.Table(
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


class LabelTables(Store):
    """What both halves of the label store stand on: the database (``self.db``, shared through
    :mod:`scanflow.storage`), the tables, the settings, and :meth:`get`.

    ``LabelStore.__init__`` sets the settings; see its docstring.
    """

    url_setting = "label store URL"
    accepts_paths = True  # a file path is a SQLite file

    metadata = metadata
    items = items
    events = events

    n_classes: int
    lease_seconds: float
    clock: Callable[[], float] = time.time

    def __init__(self, url_or_path: str | os.PathLike[str]):
        super().__init__(url_or_path)

    def get(self, item_id: int) -> Item:
        """The sample with this id; :class:`UnknownItemError` if there is none."""
        item_id = _item_id(item_id)
        q = sa.select(self.items).where(self.items.c.id == item_id)
        row = self.db.read(lambda conn: conn.execute(q).mappings().first())
        if row is None:
            raise _unknown_item(item_id)
        return _row_to_item(row)

    @staticmethod
    def _check_kind(kind: str) -> str:
        if kind not in LABELER_KINDS:
            raise LabelError("kind", f"is {kind!r}", f"use one of {', '.join(LABELER_KINDS)}")
        return kind
