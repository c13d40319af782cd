"""The label store: a durable queue of samples waiting for a human (or an oracle) to label them.

Samples go in with :meth:`LabelStore.enqueue`, labelers take them out with
:meth:`LabelStore.claim` and answer with :meth:`LabelStore.submit` / :meth:`LabelStore.skip`.
Every answer is committed before the call returns and is written to an audit log
(:meth:`LabelStore.history`) with who gave it, when, and whether the labeler was a human or
the ground-truth :class:`OracleLabeler` used in experiments.

What a sample is (never pickled):

* a **numeric array** (an image of any size and channel count, a float row, any tensor): raw
  little-endian bytes with their shape and dtype; :attr:`Item.x` gives it back exactly;
* a **record** (a row of a pandas DataFrame, or a dict): JSON ``{"columns": [...], "values":
  [...]}`` in the same ``data`` column, with dtype ``"json"`` and shape ``(n_columns,)``. Values
  are numbers, strings, booleans or None (NaN and pandas' missing values become None), so
  string and categorical columns survive; :attr:`Item.record` gives the dict back in column
  order and :meth:`LabelStore.labeled` a DataFrame.

Classes: a label is always the class *position* ``0..n_classes-1``. ``enqueue(...,
classes=model.classes_)`` records the model's class labels (JSON values, e.g. ``"class_0"``)
with every sample, in ``meta["classes"]``; those samples then have ``len(classes)`` classes,
whatever the store's ``n_classes`` (which applies to samples enqueued without classes). All the
samples of a batch share one list of classes. :meth:`Item.class_label` and
:meth:`LabelStore.label_of` turn stored positions back into class labels.

Claims are leases: a claimed sample is held for ``lease_seconds`` by its labeler, so two
labelers never see the same sample at once; when the lease runs out the sample is back in the
queue. The claim is an optimistic compare-and-set ``UPDATE ... WHERE claimed_by IS NULL OR
lease_until < now``, which is atomic on SQLite and PostgreSQL alike (only portable SQL).

Statuses: ``pending`` (waiting; maybe claimed), ``labeled``, ``skipped`` (a labeler could not
tell; :meth:`LabelStore.requeue_skipped` puts skipped samples back in the queue).

Example:
    >>> import numpy as np
    >>> store = LabelStore("sqlite://")            # in memory; pass a file path to keep it
    >>> ids = store.enqueue(np.zeros((3, 28, 28), np.uint8), batch="b1", model_guess=[7, 1, 2])
    >>> [item] = store.claim("ana")
    >>> item.x.shape, item.model_guess
    ((28, 28), 7)
    >>> store.submit(item.id, 3, "ana").label
    3
    >>> store.progress()["labeled"], store.progress()["pending"]
    (1, 2)
    >>> store.undo("ana").status
    'pending'

Records and class names:
    >>> import pandas as pd
    >>> rows = pd.DataFrame({"alcohol": [13.2, 12.4], "region": ["north", "south"]})
    >>> ids = store.enqueue(rows, batch="wine", classes=["class_0", "class_1", "class_2"],
    ...                     model_guess=["class_2", 0])
    >>> item = store.get(ids[0])
    >>> item.record, item.class_label(item.model_guess)
    ({'alcohol': 13.2, 'region': 'north'}, 'class_2')
    >>> store.submit(ids[0], 1, "ana").class_label()
    'class_1'
    >>> _, X, y = store.labeled("wine")
    >>> list(X.columns), X["region"].tolist(), store.label_of(y, batch="wine").tolist()
    (['alcohol', 'region'], ['north'], ['class_1'])
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

__all__ = [
    "Item",
    "LabelConflictError",
    "LabelError",
    "LabelStore",
    "OracleLabeler",
    "UnknownItemError",
    "class_keys",
    "class_names",
    "default_store_path",
    "format_value",
]

HUMAN = "human"
ORACLE = "oracle"
LABELER_KINDS = (HUMAN, ORACLE)

PENDING, LABELED, SKIPPED = "pending", "labeled", "skipped"

# Sample dtypes we store. Anything else (object, strings, complex) is refused at enqueue.
_ALLOWED_KINDS = "uif"  # unsigned int, signed int, float
# The dtype of a record row: its data is UTF-8 JSON, not an array (np.dtype("json") fails, so
# an array can never be mistaken for a record).
RECORD_DTYPE = "json"
# Keys of ``meta`` the store itself interprets (the UI does not list them as metadata).
RESERVED_META = ("columns", "classes")
_CHANNELS = (1, 3, 4)


class LabelError(ValueError):
    """A request the label store refuses; ``field`` names the culprit, ``fix`` says what to do.

    ``status_code`` is the HTTP status the web API answers with.
    """

    status_code = 422

    def __init__(self, field: str, message: str, fix: str = ""):
        self.field = field
        self.message = message
        self.fix = fix
        text = f"{field}: {message}"
        super().__init__(f"{text} ({fix})" if fix else text)

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message, "fix": self.fix}


class UnknownItemError(LabelError, LookupError):
    """No sample has this id."""

    status_code = 404


class LabelConflictError(LabelError):
    """The sample is held or was labeled by another labeler."""

    status_code = 409


@dataclass(frozen=True)
class Item:
    """One sample of the queue and its current state (a snapshot; the store is the truth)."""

    id: int
    batch: str
    position: int
    status: str
    shape: tuple[int, ...]
    dtype: str
    data: bytes = field(repr=False)
    meta: dict[str, Any]
    model_guess: int | None
    score: float | None
    label: int | None
    labeler: str | None
    labeler_kind: str | None
    labeled_at: datetime | None
    claimed_by: str | None
    lease_until: datetime | None
    created_at: datetime

    # ------------------------------------------------------------------ the sample
    @property
    def is_record(self) -> bool:
        """True for a record row (named columns, JSON values); see :attr:`record`."""
        return self.dtype == RECORD_DTYPE

    @property
    def record(self) -> dict[str, Any]:
        """A record row as ``{column: value}``, in column order."""
        if not self.is_record:
            raise LabelError(
                "record",
                f"sample {self.id} is a numeric array of shape {self.shape}, not a record",
                "read it with item.x",
            )
        columns, values = _decode_record(self.data)
        return dict(zip(columns, values, strict=True))

    @property
    def x(self) -> np.ndarray:
        """The sample as a numpy array with its original shape and dtype (read-only).

        For a record: its values in column order, float64 when every value is a number (None
        becomes NaN), an object array otherwise.
        """
        if self.is_record:
            values = _decode_record(self.data)[1]
            numeric = all(v is None or isinstance(v, int | float) for v in values)
            if numeric:
                return np.array([np.nan if v is None else v for v in values], np.float64)
            return np.array(values, dtype=object)
        return np.frombuffer(self.data, dtype=np.dtype(self.dtype)).reshape(self.shape)

    @property
    def image_layout(self) -> str | None:
        """``"HW"``, ``"HWC"`` or ``"CHW"`` (C in 1, 3, 4) for an image; None otherwise."""
        return None if self.is_record else _image_layout(self.shape)

    @property
    def is_image(self) -> bool:
        """True for a 2-D sample (H, W) or an image with channels (H, W, C) or (C, H, W)."""
        return self.image_layout is not None

    @property
    def image(self) -> np.ndarray:
        """The image as (H, W) or (H, W, 3|4), the way a PNG or a terminal shows it."""
        layout = self.image_layout
        if layout is None:
            raise LabelError(
                "image",
                f"sample {self.id} of shape {self.shape} is not an image",
                "read it with item.x or item.record",
            )
        a = self.x if layout != "CHW" else np.moveaxis(self.x, 0, -1)
        return a[..., 0] if a.ndim == 3 and a.shape[-1] == 1 else a

    @property
    def columns(self) -> list[str]:
        """Column names: a record's own; for an array ``meta["columns"]``, else ``x0, x1...``."""
        if self.is_record:
            return _decode_record(self.data)[0]
        cols = self.meta.get("columns")
        n = int(np.prod(self.shape)) if self.shape else 1
        if isinstance(cols, list) and len(cols) == n:
            return [str(c) for c in cols]
        return [f"x{i}" for i in range(n)]

    @property
    def values(self) -> list[Any]:
        """A row's values in column order: JSON values for a record, floats for an array."""
        if self.is_record:
            return _decode_record(self.data)[1]
        return [float(v) for v in np.asarray(self.x, dtype=np.float64).ravel()]

    # ------------------------------------------------------------------ classes
    @property
    def classes(self) -> list[Any] | None:
        """The model's class labels recorded with the sample (position → label), or None."""
        classes = self.meta.get("classes")
        return list(classes) if isinstance(classes, list) else None

    def class_label(self, position: int | None = None) -> Any:
        """The class label at ``position`` (default: the stored label); the position itself
        when no classes were recorded; None for no position."""
        position = self.label if position is None else position
        if position is None:
            return None
        classes = self.classes
        return int(position) if classes is None else classes[int(position)]


def default_store_path() -> Path:
    """``$SCANFLOW_HOME/labels.db``, else ``.scanflow/labels.db`` in the working directory."""
    home = os.environ.get("SCANFLOW_HOME")
    base = Path(home).expanduser() if home else Path.cwd() / ".scanflow"
    return base / "labels.db"


def _now_dt(clock: Callable[[], float]) -> datetime:
    # Naive UTC: SQLite keeps no time zone, and naive values compare the same on both databases.
    return datetime.fromtimestamp(clock(), tz=UTC).replace(tzinfo=None)


def _check_name(field_name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise LabelError(
            field_name,
            f"must be a non-empty string, got {value!r}",
            "pass who is labeling, e.g. labeler='ana'",
        )
    value = value.strip()
    if len(value) > 100:
        raise LabelError(field_name, f"is {len(value)} characters long", "use at most 100")
    return value


class LabelStore:
    """A durable queue of samples awaiting labels, shared by every labeler.

    Args:
        url_or_path: a SQLAlchemy URL (``sqlite:///labels.db``, ``postgresql+psycopg://...``)
            or a file path for a SQLite database (created with its folder if missing).
            ``"sqlite://"`` is an in-memory store for a single process.
        n_classes: labels are integers in ``[0, n_classes)`` for samples enqueued without
            ``classes`` (samples with classes have ``len(classes)`` classes).
        lease_seconds: how long a claim holds a sample before it returns to the queue.
        clock: returns the current time in seconds since the epoch (tests pass a fake one).
    """

    def __init__(
        self,
        url_or_path: str | os.PathLike[str] | None = None,
        *,
        n_classes: int = 10,
        lease_seconds: float = 300.0,
        clock: Callable[[], float] = time.time,
    ):
        if url_or_path is None:
            url_or_path = default_store_path()
        if not isinstance(n_classes, int) or n_classes < 2:
            raise LabelError("n_classes", f"must be an integer >= 2, got {n_classes!r}")
        if lease_seconds <= 0:
            raise LabelError("lease_seconds", f"must be > 0, got {lease_seconds!r}")
        self.url_or_path = url_or_path
        self.n_classes = n_classes
        self.lease_seconds = float(lease_seconds)
        self.clock = clock
        self.url = self._to_url(url_or_path)
        self.engine: Engine = self._make_engine(self.url)
        self._define_tables()
        self.metadata.create_all(self.engine)

    # ----------------------------------------------------------------------------- setup
    @staticmethod
    def _to_url(url_or_path: str | os.PathLike[str]) -> str:
        text = os.fspath(url_or_path)
        if "://" in text:
            return text
        path = Path(text).expanduser().resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}"

    @staticmethod
    def _make_engine(url: str) -> Engine:
        if not url.startswith("sqlite"):
            return sa.create_engine(url, pool_pre_ping=True)
        if url in ("sqlite://", "sqlite:///:memory:"):
            return sa.create_engine(
                url, connect_args={"check_same_thread": False}, poolclass=sa.pool.StaticPool
            )
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # WAL: readers never wait for the writer
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine

    def _define_tables(self) -> None:
        self.metadata = md = sa.MetaData()
        self.items = sa.Table(
            "scanflow_label_items",
            md,
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
        self.events = sa.Table(
            "scanflow_label_events",
            md,
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

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def __enter__(self) -> LabelStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LabelStore({self.url!r}, n_classes={self.n_classes})"

    # ----------------------------------------------------------------------------- writing
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
        rows = []
        for i, ((shape, dtype, data), m) in enumerate(zip(encoded, metas, strict=True)):
            rows.append(
                {
                    "batch": batch,
                    "position": i,
                    "status": PENDING,
                    "shape": shape,
                    "dtype": dtype,
                    "data": data,
                    "meta": _meta_json(m, i),
                    "model_guess": self._check_guess(guesses[i], m.get("classes"), i),
                    "score": None if score_list[i] is None else float(score_list[i]),
                    "created_at": now,
                }
            )
        with self.engine.begin() as conn:
            self._check_batch_classes(conn, batch, metas[0].get("classes"))
            # One INSERT per row keeps the returned ids exact on every backend.
            return [
                int(conn.execute(sa.insert(self.items).values(**row)).inserted_primary_key[0])
                for row in rows
            ]

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
        t = self.items.c
        now_f = self.clock()
        now = _now_dt(lambda: now_f)
        until = _now_dt(lambda: now_f + lease)
        scope = [t.status == PENDING]
        if batch is not None:
            scope.append(t.batch == batch)
        got: list[int] = []
        with self.engine.begin() as conn:
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
                got.extend(held)
        free = sa.or_(t.claimed_by.is_(None), t.lease_until < now)
        while len(got) < n:
            want = n - len(got)
            with self.engine.connect() as conn:
                candidates = (
                    conn.execute(
                        sa.select(t.id)
                        .where(*scope, free, t.id.notin_(got) if got else sa.true())
                        .order_by(sa.case((t.score.is_(None), 1), else_=0), t.score.desc(), t.id)
                        .limit(want * 4)
                    )
                    .scalars()
                    .all()
                )
            if not candidates:
                break
            for cid in candidates:
                with self.engine.begin() as conn:
                    # Compare-and-set: only one labeler's UPDATE can match a free sample.
                    res = conn.execute(
                        sa.update(self.items)
                        .where(t.id == cid, *scope, free)
                        .values(claimed_by=labeler, claimed_at=now, lease_until=until)
                    )
                if res.rowcount == 1:
                    got.append(cid)
                    if len(got) == n:
                        break
        return [self.get(i) for i in got]

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
        with self.engine.begin() as conn:
            self._submit(conn, int(item_id), label, labeler, kind)
        return self.get(item_id)

    def _classes_of_item(self, item_id: Any) -> list[Any] | None:
        t = self.items.c
        with self.engine.connect() as conn:
            meta = conn.execute(sa.select(t.meta).where(t.id == _item_id(item_id))).scalar()
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

    @staticmethod
    def _check_kind(kind: str) -> str:
        if kind not in LABELER_KINDS:
            raise LabelError("kind", f"is {kind!r}", f"use one of {', '.join(LABELER_KINDS)}")
        return kind

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
        with self.engine.begin() as conn:
            self._answer(conn, int(item_id), SKIPPED, None, labeler, kind, action="skip")
        return self.get(item_id)

    def undo(self, labeler: str, *, lease_seconds: float | None = None) -> Item | None:
        """Take back ``labeler``'s last label or skip; the sample goes back to them, pending.

        Returns the sample, or None when the labeler has nothing left to undo. Undo again to
        go further back. A label someone else has since overwritten is passed over.
        """
        labeler = _check_name("labeler", labeler)
        lease = self.lease_seconds if lease_seconds is None else float(lease_seconds)
        e, t = self.events.c, self.items.c
        now_f = self.clock()
        now = _now_dt(lambda: now_f)
        with self.engine.begin() as conn:
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
                    item_id = ev["item_id"]
                    break
        return self.get(item_id)

    def release(self, labeler: str) -> int:
        """Give back every sample ``labeler`` holds (e.g. when they log out); returns how many."""
        t = self.items.c
        with self.engine.begin() as conn:
            res = conn.execute(
                sa.update(self.items)
                .where(t.status == PENDING, t.claimed_by == labeler)
                .values(claimed_by=None, claimed_at=None, lease_until=None)
            )
        return res.rowcount

    def requeue_skipped(self, batch: str | None = None) -> int:
        """Put skipped samples back in the queue; returns how many."""
        t = self.items.c
        where = [t.status == SKIPPED] + ([t.batch == batch] if batch is not None else [])
        with self.engine.begin() as conn:
            res = conn.execute(
                sa.update(self.items)
                .where(*where)
                .values(status=PENDING, labeler=None, labeler_kind=None, labeled_at=None)
            )
        return res.rowcount

    # ----------------------------------------------------------------------------- reading
    def get(self, item_id: int) -> Item:
        """The sample with this id; :class:`UnknownItemError` if there is none."""
        item_id = _item_id(item_id)
        with self.engine.connect() as conn:
            row = (
                conn.execute(sa.select(self.items).where(self.items.c.id == item_id))
                .mappings()
                .first()
            )
        if row is None:
            raise _unknown_item(item_id)
        return _row_to_item(row)

    def items_of(self, batch: str | None = None, status: str | None = None) -> list[Item]:
        """Every sample (of a batch, with a status), in queue order."""
        t = self.items.c
        q = sa.select(self.items).order_by(t.id)
        if batch is not None:
            q = q.where(t.batch == batch)
        if status is not None:
            q = q.where(t.status == status)
        with self.engine.connect() as conn:
            return [_row_to_item(r) for r in conn.execute(q).mappings()]

    def batches(self) -> list[str]:
        """Batch names, in the order they were first enqueued."""
        t = self.items.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.batch, sa.func.min(t.id).label("first"))
                .group_by(t.batch)
                .order_by("first")
            ).all()
        return [r[0] for r in rows]

    def has_batch(self, batch: str) -> bool:
        """True when any sample was ever enqueued under ``batch`` (lets a restart skip a redo)."""
        t = self.items.c
        with self.engine.connect() as conn:
            return (
                conn.execute(sa.select(t.id).where(t.batch == batch).limit(1)).first() is not None
            )

    def batch_progress(self) -> dict[str, dict[str, int]]:
        """``{batch: {"total", "labeled", "skipped", "pending"}}`` for every batch, in one query.

        A batch is finished when ``labeled + skipped == total``.
        """
        t = self.items.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.batch, t.status, sa.func.count(), sa.func.min(t.id).label("first"))
                .group_by(t.batch, t.status)
                .order_by("first")
            ).all()
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
        with self.engine.connect() as conn:
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
        with self.engine.connect() as conn:
            rows = conn.execute(q.order_by(t.id)).all()
            if not rows:
                return self._no_labeled(conn, batch)
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
        with self.engine.connect() as conn:
            metas = conn.execute(sa.select(t.batch, t.meta).where(t.id.in_(firsts))).all()
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
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]


def _parse_shape(text: str) -> tuple[int, ...]:
    return tuple(int(s) for s in text.split(",") if s)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def _row_to_item(row: Any) -> Item:
    return Item(
        id=int(row["id"]),
        batch=row["batch"],
        position=int(row["position"]),
        status=row["status"],
        shape=_parse_shape(row["shape"]),
        dtype=row["dtype"],
        data=bytes(row["data"]),
        meta=json.loads(row["meta"]),
        model_guess=row["model_guess"],
        score=row["score"],
        label=row["label"],
        labeler=row["labeler"],
        labeler_kind=row["labeler_kind"],
        labeled_at=row["labeled_at"],
        claimed_by=row["claimed_by"],
        lease_until=row["lease_until"],
        created_at=row["created_at"],
    )


# ----------------------------------------------------------------------------- samples
def _image_layout(shape: tuple[int, ...]) -> str | None:
    if len(shape) == 2:
        return "HW"
    if len(shape) == 3 and shape[-1] in _CHANNELS:
        return "HWC"
    if len(shape) == 3 and shape[0] in _CHANNELS:
        return "CHW"
    return None


def _is_table(samples: Any) -> bool:
    """A pandas DataFrame, or a non-empty list of dict records."""
    if hasattr(samples, "columns") and hasattr(samples, "itertuples"):
        return True
    return (
        isinstance(samples, list | tuple)
        and len(samples) > 0
        and all(isinstance(r, Mapping) for r in samples)
    )


def _table_rows(samples: Any) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names (in order) and raw value tuples of a DataFrame or of dict records."""
    if hasattr(samples, "itertuples"):
        columns = [str(c) for c in samples.columns]
        rows = list(samples.itertuples(index=False, name=None))
    else:
        seen: dict[Any, None] = {}
        for rec in samples:  # the union of the keys, in the order they first appear
            seen.update(dict.fromkeys(rec))
        keys = list(seen)
        columns = [str(k) for k in keys]
        rows = [tuple(rec.get(k) for k in keys) for rec in samples]
    dupes = sorted({c for c in columns if columns.count(c) > 1})
    if dupes:
        raise LabelError(
            "samples", f"has the columns {dupes} more than once", "give each column one name"
        )
    return columns, rows


def _json_value(value: Any, where: str) -> Any:
    """A cell as a JSON value: number, string, boolean or None (NaN and NA become None)."""
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        f = float(value)
        if math.isnan(f):
            return None
        if math.isinf(f):
            raise LabelError(
                where, f"is {f}, which JSON cannot hold", "replace infinities with a number or None"
            )
        return f
    if isinstance(value, str):
        return str(value)
    raise LabelError(
        where,
        f"is a {type(value).__name__} ({value!r:.60}); a record holds numbers, strings, "
        "booleans and None",
        "convert the column first, e.g. df[col].astype(str) or pd.to_numeric(df[col])",
    )


def _encode_records(samples: Any) -> list[tuple[str, str, bytes]]:
    """``(shape, dtype, data)`` per row of a table: JSON columns and values, never pickle."""
    columns, rows = _table_rows(samples)
    out = []
    for i, row in enumerate(rows):
        values = [_json_value(v, f"samples[{i}][{c!r}]") for c, v in zip(columns, row, strict=True)]
        text = json.dumps({"columns": columns, "values": values}, allow_nan=False)
        out.append((str(len(columns)), RECORD_DTYPE, text.encode("utf-8")))
    return out


def _decode_record(data: bytes) -> tuple[list[str], list[Any]]:
    doc = json.loads(bytes(data).decode("utf-8"))
    return list(doc["columns"]), list(doc["values"])


def _encode_arrays(samples: Any) -> list[tuple[str, str, bytes]]:
    """``(shape, dtype, data)`` per first-axis entry of a numeric array: raw bytes."""
    arr = np.asarray(samples)
    if arr.dtype.kind not in _ALLOWED_KINDS:
        raise LabelError(
            "samples",
            f"has dtype {arr.dtype}, which cannot be stored as an array",
            "pass numeric images or rows; pass a pandas DataFrame for rows with text columns",
        )
    if arr.ndim < 2:
        raise LabelError(
            "samples",
            f"has shape {arr.shape}; expected (n_samples, ...)",
            "wrap a single sample as samples[None]",
        )
    dtype = arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype
    arr = np.ascontiguousarray(arr, dtype=dtype)
    shape = ",".join(str(s) for s in arr.shape[1:])
    return [(shape, dtype.str, arr[i].tobytes()) for i in range(arr.shape[0])]


# ----------------------------------------------------------------------------- classes
def _check_classes(classes: Any, where: str = "classes") -> list[Any] | None:
    """The class labels as a list of JSON scalars (at least two, all different), or None."""
    if classes is None:
        return None
    if isinstance(classes, str | bytes) or not hasattr(classes, "__iter__"):
        raise LabelError(
            where, f"must be a list of class labels, got {classes!r:.60}", "pass model.classes_"
        )
    out = []
    for i, c in enumerate(classes):
        value = _json_value(c, f"{where}[{i}]")
        if value is None:
            raise LabelError(f"{where}[{i}]", "is missing", "give every class a label")
        out.append(value)
    if len(out) < 2:
        raise LabelError(where, f"has {len(out)} class labels", "give at least two classes")
    dupes = sorted({str(c) for c in out if out.count(c) > 1})
    if dupes:
        raise LabelError(where, f"repeats {dupes}", "give each class one label")
    return out


def _classes_text(classes: list[Any] | None, n_classes: int) -> str:
    """``0..n-1`` or ``0=cat, 1=dog`` for error messages (the first ten)."""
    if classes is None:
        return f"0..{n_classes - 1}"
    shown = ", ".join(f"{i}={c}" for i, c in enumerate(classes[:10]))
    return f"0..{len(classes) - 1} ({shown}{', ...' if len(classes) > 10 else ''})"


def class_keys(names: Sequence[Any]) -> list[str | None]:
    """The keyboard key of each class in a labeling UI (None: no key).

    Classes named ``0, 1, 2, ...`` (digits) keep their own digit; any other classes get
    ``1``-``9`` then ``0`` for the first ten, in order.

    >>> class_keys(range(10))[:3], class_keys(["cat", "dog"])
    (['0', '1', '2'], ['1', '2'])
    """
    names = [str(n) for n in names]
    if all(name == str(i) for i, name in enumerate(names[:10])):
        return [str(i) if i < 10 else None for i in range(len(names))]
    return [str((i + 1) % 10) if i < 10 else None for i in range(len(names))]


def class_names(classes: Sequence[Any]) -> list[str]:
    """Class labels as a labeler reads them (see :func:`format_value`).

    >>> class_names(["brickface", 1, 2.0])
    ['brickface', '1', '2']
    """
    return [format_value(c) for c in classes]


def format_value(value: Any) -> str:
    """A cell as a labeler reads it: strings as they are, whole numbers in full, other numbers
    to 6 significant digits, None as a dash.

    >>> [format_value(v) for v in ("north", 13.2, 1065.0, 2/7, 3e-8, None, True, 1234567.0)]
    ['north', '13.2', '1065', '0.285714', '3e-08', '—', 'true', '1234567']
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        f = float(value)
        # Whole numbers in full, as JavaScript shows them (it cannot tell 2.0 from 2).
        return str(int(f)) if f.is_integer() and abs(f) < 1e15 else f"{f:.6g}"
    return str(value)


def _check_label_type(label: Any, classes: list[Any] | None, n: int) -> None:
    if isinstance(label, bool) or not isinstance(label, int | np.integer):
        raise LabelError(
            "label",
            f"must be an integer, got {label!r}",
            f"pass a class position in {_classes_text(classes, n)}",
        )


def _item_id(item_id: Any) -> int:
    try:
        return int(item_id)
    except (TypeError, ValueError):
        raise LabelError("item_id", f"must be an integer, got {item_id!r}") from None


def _unknown_item(item_id: Any) -> UnknownItemError:
    return UnknownItemError(
        "item_id",
        f"no sample has id {item_id}",
        "ask for the next sample with claim() or GET /api/next",
    )


def _meta_json(meta: dict[str, Any], i: int) -> str:
    try:
        return json.dumps(meta, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise LabelError(f"meta[{i}]", f"is not JSON-serialisable: {exc}") from exc


def _records_frame(datas: Sequence[bytes], columns: list[str] | None = None) -> Any:
    """A DataFrame of record rows; columns in order of first appearance."""
    import pandas as pd

    records, order = [], dict.fromkeys(columns or [])
    for data in datas:
        cols, values = _decode_record(data)
        order.update(dict.fromkeys(cols))
        records.append(dict(zip(cols, values, strict=True)))
    return pd.DataFrame.from_records(records, columns=list(order))


class OracleLabeler:
    """Answers from ground truth, for experiments and tests: NOT a human.

    Every label it writes to a store is recorded with labeler ``name`` and kind ``"oracle"``,
    so :meth:`LabelStore.progress` counts oracle and human labels apart.

    Args:
        y_true: the true class of every sample of the data set the queue was filled from:
            class positions, or class labels (``"class_0"``...) for samples enqueued with
            ``classes`` (the oracle stores their positions).
        name: the labeler name recorded in the store.

    Example:
        >>> import numpy as np
        >>> oracle = OracleLabeler(np.array([3, 1, 4, 1, 5]))
        >>> oracle.label([0, 2]).tolist()
        [3, 4]
        >>> store = LabelStore("sqlite://")
        >>> _ = store.enqueue(np.zeros((2, 4)), batch="b", meta=[{"index": 4}, {"index": 1}])
        >>> oracle.label_store(store, "b")
        2
        >>> store.labeled("b")[2].tolist(), store.progress()["oracle"]
        ([5, 1], 2)
    """

    def __init__(self, y_true: Sequence[Any] | np.ndarray, name: str = ORACLE):
        self.y_true = y_true
        self.name = name

    def label(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """The true labels of ``indices`` (positions in ``y_true``); integers as int64."""
        y = np.asarray(self.y_true)
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= len(y)):
            raise LabelError(
                "indices",
                f"must lie in [0, {len(y)}), got {idx.min()}..{idx.max()}",
                "pass indices into the data set y_true came from",
            )
        return y[idx].astype(np.int64) if y.dtype.kind in "iubf" else y[idx]

    def label_store(
        self,
        store: LabelStore,
        batch: str | None = None,
        *,
        limit: int | None = None,
        chunk: int = 256,
    ) -> int:
        """Claim and label the pending samples of ``batch`` (all batches if None) through the
        store, as labeler ``name``; returns how many it labeled.

        A sample's index into ``y_true`` is ``meta["index"]`` when present, else its position
        in the ``enqueue`` call that added it.
        """
        done = 0
        while limit is None or done < limit:
            want = chunk if limit is None else min(chunk, limit - done)
            items = store.claim(self.name, want, batch=batch)
            if not items:
                break
            truth = self.label([int(it.meta.get("index", it.position)) for it in items])
            positions = [_true_position(v, it.classes) for it, v in zip(items, truth, strict=True)]
            with store.engine.begin() as conn:  # one commit per chunk
                for it, pos in zip(items, positions, strict=True):
                    label = store._check_label(pos, it.classes)
                    store._submit(conn, it.id, label, self.name, ORACLE)
            done += len(items)
        return done


def _true_position(value: Any, classes: list[Any] | None) -> int:
    """A true class label as a position in ``classes`` (the value itself without classes)."""
    value = value.item() if isinstance(value, np.generic) else value
    if classes is None:
        return int(value)
    if value not in classes:
        raise LabelError(
            "y_true",
            f"holds {value!r}, which is not one of the samples' classes {classes}",
            "pass the true class labels of the data set the queue was filled from",
        )
    return classes.index(value)
