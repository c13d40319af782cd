"""The label queue's writing half: samples in (:meth:`~LabelQueue.enqueue`), claims, answers
(:meth:`~LabelQueue.submit`, :meth:`~LabelQueue.skip`), and taking them back
(:meth:`~LabelQueue.undo`, :meth:`~LabelQueue.release`, :meth:`~LabelQueue.requeue_skipped`).

Every answer is committed, with its audit event, before the call returns. A claim is a lease:
an optimistic compare-and-set ``UPDATE ... WHERE claimed_by IS NULL OR lease_until < now``,
atomic on SQLite and PostgreSQL alike, so two labelers never hold the same sample.
:class:`scanflow.improve.labels.LabelStore` is this and :class:`~.label_reports.LabelReports`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy import Connection

from .label_items import (
    HUMAN,
    LABELED,
    PENDING,
    SKIPPED,
    Item,
    LabelConflictError,
    LabelError,
    _check_classes,
    _check_label_type,
    _check_name,
    _classes_text,
    _encode_arrays,
    _encode_records,
    _is_table,
    _item_id,
    _meta_json,
    _now_dt,
    _unknown_item,
)
from .label_schema import LabelTables

__all__ = ["LabelQueue"]


class LabelQueue(LabelTables):
    """Adding samples, claiming them, answering and undoing (mixed into ``LabelStore``)."""

    def enqueue(
        self,
        samples: Any,
        *,
        batch: str = "default",
        meta: Sequence[dict[str, Any]] | None = None,
        model_guess: Sequence[Any] | None = None,
        scores: Sequence[float] | None = None,
        classes: Sequence[Any] | None = None,
    ) -> list[int]:
        """Add samples to the queue and return their ids, in order.

        Args:
            samples: a numeric array ``(n, ...)``, one sample per first-axis entry (images of
                any size as ``(n, H, W)``, ``(n, H, W, C)`` or ``(n, C, H, W)``; ``(n, d)``
                rows), or a table: a pandas DataFrame or a list of dicts, one record per row
                (columns kept in order; numbers, strings, booleans and None).
            batch: a name grouping these samples (e.g. the drift alarm that selected them).
            meta: one JSON-serialisable dict per sample. ``meta[i]["index"]`` is the sample's
                index in your data set (the oracle uses it); ``meta[i]["columns"]`` names the
                columns of a numeric row.
            model_guess: the model's predicted class per sample, shown to the labeler: a class
                position, or (with ``classes``) a class label that is not an integer.
            scores: informativeness per sample; higher scores are handed out first.
            classes: the model's class labels (``model.classes_``), kept with every sample in
                ``meta["classes"]``; labels of these samples are positions in this list. All
                the samples of a batch share one list of classes.
        """
        encoded = _encode_records(samples) if _is_table(samples) else _encode_arrays(samples)
        n = len(encoded)
        if n == 0:
            return []
        batch = _check_name("batch", batch)
        metas = self._metas(self._per_sample("meta", meta, n), _check_classes(classes))
        guesses = self._per_sample("model_guess", model_guess, n)
        score_list = self._per_sample("scores", scores, n)
        now = _now_dt(self.clock)
        rows = [
            {"batch": batch, "position": i, "status": PENDING, "shape": shape, "dtype": dtype,
             "data": data, "meta": _meta_json(m, i),
             "model_guess": self._check_guess(guesses[i], m.get("classes"), i),
             "score": None if score_list[i] is None else float(score_list[i]), "created_at": now}
            for i, ((shape, dtype, data), m) in enumerate(zip(encoded, metas, strict=True))
        ]

        def insert(conn: Connection) -> list[int]:
            self._check_batch_classes(conn, batch, metas[0].get("classes"))
            # One INSERT per row keeps the returned ids exact on every backend.
            return [
                int(conn.execute(sa.insert(self.items).values(**row)).inserted_primary_key[0])
                for row in rows
            ]

        return self.db.write(insert)

    @staticmethod
    def _metas(metas: list[Any], classes: list[Any] | None) -> list[dict[str, Any]]:
        """One dict per sample, with ``classes`` set; every sample has the same classes."""
        out: list[dict[str, Any]] = []
        for i, m in enumerate(metas):
            m = {} if m is None else m
            if not isinstance(m, dict):
                raise LabelError(f"meta[{i}]", f"must be a dict, got {type(m).__name__}")
            given = _check_classes(m.get("classes"), f"meta[{i}].classes")
            if classes is not None and given is not None and given != classes:
                raise LabelError(
                    f"meta[{i}].classes", f"is {given}, not classes={classes}", "give one of them"
                )
            m = dict(m)
            if classes is not None or given is not None:
                m["classes"] = classes if classes is not None else given
            if out and m.get("classes") != out[0].get("classes"):
                raise LabelError(
                    f"meta[{i}].classes",
                    f"is {m.get('classes')}, but sample 0 has {out[0].get('classes')}",
                    "samples with other classes go in another batch",
                )
            out.append(m)
        return out

    def _check_guess(self, guess: Any, classes: list[Any] | None, i: int) -> int | None:
        """A model guess as a class position (a non-integer class label is looked up)."""
        if guess is None:
            return None
        guess = guess.item() if isinstance(guess, np.generic) else guess
        n = self.n_classes if classes is None else len(classes)
        if classes is not None and not isinstance(guess, int | float) and guess in classes:
            return classes.index(guess)
        if isinstance(guess, float) and guess.is_integer():
            guess = int(guess)
        if not isinstance(guess, int) or not 0 <= guess < n:
            raise LabelError(
                f"model_guess[{i}]",
                f"is {guess!r}, outside {_classes_text(classes, n)}",
                "pass class positions, e.g. model.label_index(model.predict(X))",
            )
        return int(guess)

    def _check_batch_classes(self, conn: Connection, batch: str, classes: Any) -> None:
        """Refuse samples whose classes differ from those already in ``batch``."""
        t = self.items.c
        first = conn.execute(
            sa.select(t.meta).where(t.batch == batch).order_by(t.id).limit(1)
        ).scalar()
        if first is None:
            return
        existing = json.loads(first).get("classes")
        if existing != classes:
            raise LabelError(
                "classes",
                f"are {classes}, but batch {batch!r} already holds samples with classes {existing}",
                "enqueue them in a new batch, or with the same classes",
            )

    @staticmethod
    def _per_sample(name: str, values: Sequence[Any] | None, n: int) -> list[Any]:
        if values is None:
            return [None] * n
        values = list(values)
        if len(values) != n:
            raise LabelError(
                name,
                f"has {len(values)} entries for {n} samples",
                "give one entry per sample, or None",
            )
        return values

    def claim(
        self,
        labeler: str,
        n: int = 1,
        *,
        lease_seconds: float | None = None,
        batch: str | None = None,
    ) -> list[Item]:
        """Hand up to ``n`` samples to ``labeler``, held for ``lease_seconds``.

        The samples this labeler already holds come first (most recently claimed first, so a
        reloaded page shows the same sample and an undone one comes straight back), then new
        ones by descending score and queue order. Returns fewer than ``n`` (maybe none) when
        the queue runs dry.
        """
        labeler = _check_name("labeler", labeler)
        if n < 1:
            raise LabelError("n", f"must be >= 1, got {n}")
        lease = self.lease_seconds if lease_seconds is None else float(lease_seconds)
        if lease <= 0:
            raise LabelError("lease_seconds", f"must be > 0, got {lease}")
        now_f = self.clock()
        now, until = _now_dt(lambda: now_f), _now_dt(lambda: now_f + lease)
        scope = [self.items.c.status == PENDING]
        if batch is not None:
            scope.append(self.items.c.batch == batch)
        got = self._renew_held(labeler, n, scope, now, until)
        if len(got) < n:
            got += self._claim_free(labeler, n - len(got), scope, now, until, taken=got)
        return [self.get(i) for i in got]

    def _renew_held(self, labeler: str, n: int, scope: list, now: datetime,
                    until: datetime) -> list[int]:
        """The samples ``labeler`` holds (newest claim first), their leases renewed to ``until``."""
        t = self.items.c

        def renew(conn: Connection) -> list[int]:
            held = (
                conn.execute(
                    sa.select(t.id)
                    .where(*scope, t.claimed_by == labeler, t.lease_until >= now)
                    .order_by(t.claimed_at.desc(), t.id)
                    .limit(n)
                )
                .scalars()
                .all()
            )
            if held:
                conn.execute(sa.update(self.items).where(t.id.in_(held)).values(lease_until=until))
            return list(held)

        return self.db.write(renew)

    def _claim_free(self, labeler: str, n: int, scope: list, now: datetime, until: datetime,
                    *, taken: list[int]) -> list[int]:
        """Up to ``n`` free samples (best score first) claimed for ``labeler``, one
        compare-and-set each, so two labelers racing for a sample never both get it."""
        t = self.items.c
        free = sa.or_(t.claimed_by.is_(None), t.lease_until < now)
        got: list[int] = []
        while len(got) < n:
            skip = [*taken, *got]
            q = (
                sa.select(t.id)
                .where(*scope, free, t.id.notin_(skip) if skip else sa.true())
                .order_by(sa.case((t.score.is_(None), 1), else_=0), t.score.desc(), t.id)
                .limit((n - len(got)) * 4)
            )
            candidates = self.db.read(lambda conn, q=q: conn.execute(q).scalars().all())
            if not candidates:
                break
            for cid in candidates:
                # Compare-and-set: only one labeler's UPDATE can match a free sample.
                cas = (
                    sa.update(self.items)
                    .where(t.id == cid, *scope, free)
                    .values(claimed_by=labeler, claimed_at=now, lease_until=until)
                )
                if self.db.write(lambda conn, cas=cas: conn.execute(cas).rowcount) == 1:
                    got.append(cid)
                    if len(got) == n:
                        break
        return got

    def submit(self, item_id: int, label: int, labeler: str, *, kind: str = HUMAN) -> Item:
        """Record ``label`` (a class position) for a sample; committed before it returns.

        Allowed when the sample is free, held by ``labeler``, skipped, or already labeled by
        ``labeler`` (a correction). Raises :class:`LabelConflictError` when another labeler
        holds it or labeled it, :class:`UnknownItemError` for an unknown id and
        :class:`LabelError` for a label outside ``[0, n_classes)`` (the sample's classes).
        """
        labeler = _check_name("labeler", labeler)
        # The type first: a malformed request costs no query.
        _check_label_type(label, None, self.n_classes)
        label = self._check_label(label, self._classes_of_item(item_id))
        kind = self._check_kind(kind)
        self.db.write(lambda conn: self._submit(conn, int(item_id), label, labeler, kind))
        return self.get(item_id)

    def _classes_of_item(self, item_id: Any) -> list[Any] | None:
        q = sa.select(self.items.c.meta).where(self.items.c.id == _item_id(item_id))
        meta = self.db.read(lambda conn: conn.execute(q).scalar())
        if meta is None:
            raise _unknown_item(item_id)
        return json.loads(meta).get("classes")

    def _check_label(self, label: Any, classes: list[Any] | None) -> int:
        n = self.n_classes if classes is None else len(classes)
        _check_label_type(label, classes, n)
        if not 0 <= int(label) < n:
            raise LabelError(
                "label",
                f"is {label}, outside 0..{n - 1}",
                f"pass a class position in {_classes_text(classes, n)}",
            )
        return int(label)

    def _submit(self, conn: Connection, item_id: int, label: int, labeler: str, kind: str) -> None:
        self._answer(conn, item_id, LABELED, label, labeler, kind, action="label")

    def _answer(
        self,
        conn: Connection,
        item_id: int,
        status: str,
        label: int | None,
        labeler: str,
        kind: str,
        *,
        action: str,
    ) -> None:
        """Record a label or a skip and its audit event, in the caller's transaction."""
        t = self.items.c
        now = _now_dt(self.clock)
        res = conn.execute(
            sa.update(self.items)
            .where(t.id == item_id, self._may_answer(labeler, now, allow_relabel=action == "label"))
            .values(
                status=status,
                label=label,
                labeler=labeler,
                labeler_kind=kind,
                labeled_at=now,
                claimed_by=None,
                claimed_at=None,
                lease_until=None,
            )
        )
        if res.rowcount != 1:
            self._explain_refusal(conn, item_id, labeler, now, action)
        conn.execute(
            sa.insert(self.events).values(
                item_id=item_id,
                action=action,
                label=label,
                labeler=labeler,
                labeler_kind=kind,
                undone=False,
                at=now,
            )
        )

    def _may_answer(self, labeler: str, now: datetime, *, allow_relabel: bool):
        t = self.items.c
        free_or_mine = sa.or_(t.claimed_by.is_(None), t.claimed_by == labeler, t.lease_until < now)
        ok = [
            sa.and_(t.status == PENDING, free_or_mine),
            sa.and_(t.status == SKIPPED, t.labeler == labeler),
        ]
        if allow_relabel:
            ok.append(sa.and_(t.status == SKIPPED, free_or_mine))
            ok.append(sa.and_(t.status == LABELED, t.labeler == labeler))
        return sa.or_(*ok)

    def _explain_refusal(
        self, conn: Connection, item_id: int, labeler: str, now: datetime, action: str
    ) -> None:
        row = (
            conn.execute(sa.select(self.items).where(self.items.c.id == item_id)).mappings().first()
        )
        if row is None:
            raise _unknown_item(item_id)
        if row["status"] == LABELED:
            raise LabelConflictError(
                "item_id",
                f"sample {item_id} was already labeled by {row['labeler']!r}",
                "only that labeler can change it; ask for the next sample",
            )
        if row["status"] == SKIPPED:
            raise LabelConflictError(
                "item_id",
                f"sample {item_id} was already skipped by {row['labeler']!r}",
                "label it instead, or ask for the next sample",
            )
        raise LabelConflictError(
            "item_id",
            f"sample {item_id} is held by {row['claimed_by']!r} until "
            f"{row['lease_until']:%H:%M:%S} UTC",
            f"{action} another sample; ask for the next one",
        )

    def skip(self, item_id: int, labeler: str, *, kind: str = HUMAN) -> Item:
        """Mark a sample as skipped (the labeler could not tell); it leaves the queue."""
        labeler = _check_name("labeler", labeler)
        kind = self._check_kind(kind)
        self.db.write(
            lambda conn: self._answer(conn, int(item_id), SKIPPED, None, labeler, kind, action="skip")
        )
        return self.get(item_id)

    def undo(self, labeler: str, *, lease_seconds: float | None = None) -> Item | None:
        """Take back ``labeler``'s last label or skip; the sample goes back to them, pending.

        Returns the sample, or None when the labeler has nothing left to undo. Undo again to
        go further back. A label someone else has since overwritten is passed over.
        """
        labeler = _check_name("labeler", labeler)
        lease = self.lease_seconds if lease_seconds is None else float(lease_seconds)
        now_f = self.clock()
        item_id = self.db.write(lambda conn: self._undo_last(conn, labeler, now_f, lease))
        return None if item_id is None else self.get(item_id)

    def _undo_last(self, conn: Connection, labeler: str, now_f: float, lease: float) -> int | None:
        """Undo the labeler's newest answer still in force; the sample's id, or None."""
        e, t = self.events.c, self.items.c
        now = _now_dt(lambda: now_f)
        while True:
            ev = (
                conn.execute(
                    sa.select(e.id, e.item_id, e.action, e.labeler_kind)
                    .where(
                        e.labeler == labeler,
                        e.action.in_(("label", "skip")),
                        e.undone.is_(False),
                    )
                    .order_by(e.id.desc())
                    .limit(1)
                )
                .mappings()
                .first()
            )
            if ev is None:
                return None
            conn.execute(sa.update(self.events).where(e.id == ev["id"]).values(undone=True))
            status = LABELED if ev["action"] == "label" else SKIPPED
            res = conn.execute(
                sa.update(self.items)
                .where(t.id == ev["item_id"], t.status == status, t.labeler == labeler)
                .values(
                    status=PENDING,
                    label=None,
                    labeler=None,
                    labeler_kind=None,
                    labeled_at=None,
                    claimed_by=labeler,
                    claimed_at=now,
                    lease_until=_now_dt(lambda: now_f + lease),
                )
            )
            if res.rowcount == 1:
                conn.execute(
                    sa.insert(self.events).values(
                        item_id=ev["item_id"],
                        action="undo",
                        label=None,
                        labeler=labeler,
                        labeler_kind=ev["labeler_kind"],
                        undone=False,
                        at=now,
                    )
                )
                return int(ev["item_id"])

    def release(self, labeler: str) -> int:
        """Give back every sample ``labeler`` holds (e.g. when they log out); returns how many."""
        t = self.items.c
        q = (
            sa.update(self.items)
            .where(t.status == PENDING, t.claimed_by == labeler)
            .values(claimed_by=None, claimed_at=None, lease_until=None)
        )
        return self.db.write(lambda conn: conn.execute(q).rowcount)

    def requeue_skipped(self, batch: str | None = None) -> int:
        """Put skipped samples back in the queue; returns how many."""
        t = self.items.c
        where = [t.status == SKIPPED] + ([t.batch == batch] if batch is not None else [])
        q = (
            sa.update(self.items)
            .where(*where)
            .values(status=PENDING, labeler=None, labeler_kind=None, labeled_at=None)
        )
        return self.db.write(lambda conn: conn.execute(q).rowcount)
