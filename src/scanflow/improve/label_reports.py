"""The label queue's reading half: progress (:meth:`~LabelReports.progress`,
:meth:`~LabelReports.batch_progress`), the labeled samples as ``(ids, X, y)``
(:meth:`~LabelReports.labeled`), the audit log (:meth:`~LabelReports.history`), the samples of a
batch (:meth:`~LabelReports.items_of`) and their classes.

:class:`scanflow.improve.labels.LabelStore` is this and :class:`~.label_queue.LabelQueue`.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy import Connection

from .label_items import (
    HUMAN,
    LABELED,
    ORACLE,
    PENDING,
    RECORD_DTYPE,
    SKIPPED,
    Item,
    LabelError,
    _decode_record,
    _now_dt,
    _parse_shape,
    _records_frame,
    _row_to_item,
)
from .label_schema import LabelTables

__all__ = ["LabelReports"]


class LabelReports(LabelTables):
    """Counting and reading back what was labeled (mixed into ``LabelStore``)."""

    def items_of(self, batch: str | None = None, status: str | None = None) -> list[Item]:
        """Every sample (of a batch, with a status), in queue order."""
        t = self.items.c
        q = sa.select(self.items).order_by(t.id)
        if batch is not None:
            q = q.where(t.batch == batch)
        if status is not None:
            q = q.where(t.status == status)
        return self.db.read(lambda conn: [_row_to_item(r) for r in conn.execute(q).mappings()])

    def batches(self) -> list[str]:
        """Batch names, in the order they were first enqueued."""
        t = self.items.c
        q = sa.select(t.batch, sa.func.min(t.id).label("first")).group_by(t.batch).order_by("first")
        return [r[0] for r in self.db.read(lambda conn: conn.execute(q).all())]

    def has_batch(self, batch: str) -> bool:
        """True when any sample was ever enqueued under ``batch`` (lets a restart skip a redo)."""
        q = sa.select(self.items.c.id).where(self.items.c.batch == batch).limit(1)
        return self.db.read(lambda conn: conn.execute(q).first()) is not None

    def batch_progress(self) -> dict[str, dict[str, int]]:
        """``{batch: {"total", "labeled", "skipped", "pending"}}`` for every batch, in one query.

        A batch is finished when ``labeled + skipped == total``.
        """
        t = self.items.c
        q = (
            sa.select(t.batch, t.status, sa.func.count(), sa.func.min(t.id).label("first"))
            .group_by(t.batch, t.status)
            .order_by("first")
        )
        rows = self.db.read(lambda conn: conn.execute(q).all())
        out: dict[str, dict[str, int]] = {}
        for name, status, count, _ in rows:
            b = out.setdefault(name, {"total": 0, LABELED: 0, SKIPPED: 0, PENDING: 0})
            b[status] = int(count)
            b["total"] += int(count)
        return out

    def progress(self, batch: str | None = None) -> dict[str, Any]:
        """Counts: ``total``, ``labeled``, ``skipped``, ``pending`` (of which ``in_progress``
        are held right now), labels by ``human`` and by ``oracle``, and ``by_labeler``."""
        t = self.items.c
        where = [t.batch == batch] if batch is not None else []
        now = _now_dt(self.clock)

        def count(conn: Connection) -> tuple[dict, int, dict, dict]:
            by_status = dict(
                conn.execute(
                    sa.select(t.status, sa.func.count()).where(*where).group_by(t.status)
                ).all()
            )
            in_progress = conn.execute(
                sa.select(sa.func.count()).where(
                    *where, t.status == PENDING, t.claimed_by.is_not(None), t.lease_until >= now
                )
            ).scalar_one()
            by_kind = dict(
                conn.execute(
                    sa.select(t.labeler_kind, sa.func.count())
                    .where(*where, t.status == LABELED)
                    .group_by(t.labeler_kind)
                ).all()
            )
            by_labeler = dict(
                conn.execute(
                    sa.select(t.labeler, sa.func.count())
                    .where(*where, t.status == LABELED)
                    .group_by(t.labeler)
                ).all()
            )
            return by_status, in_progress, by_kind, by_labeler

        by_status, in_progress, by_kind, by_labeler = self.db.read(count)
        labeled, skipped, pending = (int(by_status.get(s, 0)) for s in (LABELED, SKIPPED, PENDING))
        return {
            "total": labeled + skipped + pending,
            "labeled": labeled,
            "skipped": skipped,
            "pending": pending,
            "in_progress": int(in_progress),
            "human": int(by_kind.get(HUMAN, 0)),
            "oracle": int(by_kind.get(ORACLE, 0)),
            "by_labeler": {k: int(v) for k, v in sorted(by_labeler.items())},
        }

    def labeled(
        self, batch: str | None = None, *, kind: str | None = None
    ) -> tuple[np.ndarray, Any, np.ndarray]:
        """``(ids, X, y)`` of the labeled samples (of a batch; by ``kind`` of labeler), in
        queue order; ``y`` holds class positions (see :meth:`label_of` for the labels).

        ``X`` is a numpy array for array samples (all must share one shape and dtype: pass
        ``batch`` otherwise) and a pandas DataFrame for records (columns in order; a column
        missing from some records is None there).
        """
        t = self.items.c
        q = sa.select(t.id, t.shape, t.dtype, t.data, t.label).where(t.status == LABELED)
        if batch is not None:
            q = q.where(t.batch == batch)
        if kind is not None:
            q = q.where(t.labeler_kind == self._check_kind(kind))

        def fetch(conn: Connection) -> tuple[list, Any]:
            rows = conn.execute(q.order_by(t.id)).all()
            return rows, (None if rows else self._no_labeled(conn, batch))

        rows, empty = self.db.read(fetch)
        if not rows:
            return empty
        ids = np.array([r.id for r in rows], np.int64)
        y = np.array([r.label for r in rows], np.int64)
        kinds = {(r.shape, r.dtype) for r in rows}
        n_records = sum(r.dtype == RECORD_DTYPE for r in rows)
        if n_records == len(rows):
            return ids, _records_frame([r.data for r in rows]), y
        if len(kinds) > 1:
            raise LabelError(
                "batch",
                f"labeled samples have several shapes/dtypes {sorted(kinds)}",
                "pass batch=... to read one batch at a time",
            )
        shape, dtype = _parse_shape(rows[0].shape), np.dtype(rows[0].dtype)
        X = np.stack([np.frombuffer(r.data, dtype=dtype).reshape(shape) for r in rows])
        return ids, X, y

    def _no_labeled(
        self, conn: Connection, batch: str | None
    ) -> tuple[np.ndarray, Any, np.ndarray]:
        """Empty ``(ids, X, y)``, ``X`` shaped like the batch's first sample."""
        t = self.items.c
        first = conn.execute(
            sa.select(t.shape, t.dtype, t.data)
            .where(*([t.batch == batch] if batch is not None else []))
            .order_by(t.id)
            .limit(1)
        ).first()
        empty = np.empty(0, np.int64)
        if first is not None and first.dtype == RECORD_DTYPE:
            return empty, _records_frame([], _decode_record(first.data)[0]), empty.copy()
        shape = (0,) + (_parse_shape(first.shape) if first else ())
        return empty, np.empty(shape, np.dtype(first.dtype) if first else float), empty.copy()

    def classes(self, batch: str | None = None) -> list[Any] | None:
        """The class labels recorded with the samples of ``batch`` (None: none recorded).

        Without ``batch``, every batch must record the same classes.
        """
        t = self.items.c
        firsts = sa.select(sa.func.min(t.id)).group_by(t.batch)
        if batch is not None:
            firsts = firsts.where(t.batch == batch)
        q = sa.select(t.batch, t.meta).where(t.id.in_(firsts))
        metas = self.db.read(lambda conn: conn.execute(q).all())
        found = {b: json.loads(m).get("classes") for b, m in metas}
        distinct = {json.dumps(c) for c in found.values()}
        if len(distinct) > 1:
            raise LabelError(
                "batch",
                f"batches record different classes: {found}",
                "pass batch=... to read one batch at a time",
            )
        return next(iter(found.values()), None)

    def label_of(self, positions: Any, batch: str | None = None) -> np.ndarray:
        """The class labels at stored ``positions`` (the positions when no classes were
        recorded), like ``ModelAdapter.label_of``: ``store.label_of(y, batch)``."""
        idx = np.asarray(positions, dtype=np.int64)
        classes = self.classes(batch)
        if classes is None:
            return idx
        mixed = len({type(c) for c in classes}) > 1
        return np.asarray(classes, dtype=object if mixed else None)[idx]

    def history(self, *, item_id: int | None = None, labeler: str | None = None) -> list[dict]:
        """The audit log: every label, skip and undo with who did it and when, oldest first."""
        e = self.events.c
        q = sa.select(
            e.id, e.item_id, e.action, e.label, e.labeler, e.labeler_kind, e.undone, e.at
        ).order_by(e.id)
        if item_id is not None:
            q = q.where(e.item_id == int(item_id))
        if labeler is not None:
            q = q.where(e.labeler == labeler)
        return self.db.read(lambda conn: [dict(r) for r in conn.execute(q).mappings()])
