"""The prediction log: what a served model was asked and what it answered, one row per sample.

The prediction API writes every answer here (:meth:`PredictionLog.record_predictions`); the
tracker and checker agents read it back (:meth:`~PredictionLog.predictions_since`,
:meth:`~PredictionLog.prediction_inputs`). One SQLAlchemy table, ``scanflow_predictions``, in
Scanflow's state database: by default the SQLite file ``<state>/scanflow.db`` (see
:func:`default_url`), any PostgreSQL URL in production.

Inputs are kept so that the checker agent can re-read them, and nothing is ever pickled:

* arrays (images, tensors) as ``.npy`` bytes per sample, read with ``allow_pickle=False``;
* table rows as JSON records, column → value, in the model's column order.

``prediction_inputs(ids)`` gives back the stacked array, or a pandas DataFrame for table rows::

    >>> import numpy as np, pandas as pd
    >>> log = PredictionLog("sqlite://")
    >>> log.record_predictions("api", np.zeros((2, 3)), [1, 7], confidences=[0.9, 0.4])
    [1, 2]
    >>> log.record_predictions("wine", pd.DataFrame({"alcohol": [13.2], "hue": [1.0]}), ["red"])
    [3]
    >>> [p.prediction for p in log.predictions_since(0)]
    [1, 7, 'red']
    >>> log.prediction_inputs([3]).columns.tolist(), log.prediction_inputs([1, 2]).shape
    (['alcohol', 'hue'], (2, 3))
"""

from __future__ import annotations

import io
import json
import math
import os
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    func,
    insert,
    select,
    text,
)

from scanflow.storage import Database, Store

__all__ = ["PredictionLog", "PredictionRecord", "default_url"]

metadata = MetaData()

predictions = Table(
    "scanflow_predictions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("service", String(128), nullable=False),
    Column("model", String(256)),
    Column("model_version", String(64)),
    Column("created_at", Float, nullable=False, index=True),
    Column("inputs", LargeBinary),  # one sample as .npy bytes (read with allow_pickle=False)
    Column("record", JSON),  # or one table row as a JSON object, column -> value
    Column("prediction", JSON),
    Column("confidence", Float),
    Column("outlier_score", Float),
    Column("is_outlier", Boolean),
)

#: The columns of a :class:`PredictionRecord` (everything but the stored inputs).
_ROW_COLUMNS = [c for c in predictions.c if c.name not in ("inputs", "record")]


@dataclass
class PredictionRecord:
    """One logged prediction (its input is read separately, :meth:`PredictionLog.prediction_inputs`)."""

    id: int
    service: str
    model: str | None
    model_version: str | None
    created_at: float
    prediction: Any
    confidence: float | None
    outlier_score: float | None
    is_outlier: bool | None


def default_url(app_or_path: Any) -> str:
    """``sqlite:///<state dir>/scanflow.db`` for an Application (or a state directory path)."""
    path = Path(app_or_path.state_path if hasattr(app_or_path, "state_path") else app_or_path)
    path.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(path / 'scanflow.db').resolve()}"


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def _from_npy(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False)


def _plain(value: Any) -> Any:
    """A JSON value: numpy scalars unwrapped, NaN and infinities as null (JSON has neither)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _jsonable(value: Any, what: str) -> Any:
    try:
        return json.loads(json.dumps(value, default=_json_default))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must be JSON data (dicts, lists, numbers, strings): {exc}") from None


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _is_frame(X: Any) -> bool:
    return hasattr(X, "columns") and hasattr(X, "iloc")


def _per_sample(inputs: Any, n: int) -> list[dict[str, Any]]:
    """One column for each sample: ``{"inputs": npy}`` or ``{"record": {...}}`` (or nothing)."""
    if inputs is None:
        return [{} for _ in range(n)]
    if _is_frame(inputs) or (isinstance(inputs, list) and inputs and isinstance(inputs[0], dict)):
        rows = inputs.to_dict("records") if _is_frame(inputs) else list(inputs)
        if len(rows) != n:
            raise ValueError(f"inputs has {len(rows)} rows but predictions has {n}: pass one "
                             "input row per prediction")
        return [{"record": _jsonable({str(k): _plain(v) for k, v in r.items()}, "an input row")}
                for r in rows]
    arr = np.asarray(inputs)
    if arr.dtype == object:
        raise TypeError("inputs must be a numeric array, a DataFrame or a list of dicts; an "
                        "object array would need pickle")
    if len(arr) != n:
        raise ValueError(f"inputs has {len(arr)} samples but predictions has {n}: pass one "
                         "input row per prediction")
    return [{"inputs": _npy(arr[i])} for i in range(n)]


def _check_lengths(n: int, **columns: Sequence[Any] | None) -> None:
    for name, seq in columns.items():
        if seq is not None and len(seq) != n:
            raise ValueError(f"{name} has {len(seq)} values but predictions has {n}")


class PredictionLog(Store):
    """The ``scanflow_predictions`` table of a state database.

    Args:
        url_or_db: a SQLAlchemy URL: ``sqlite:///path/scanflow.db`` (see :func:`default_url`),
            ``postgresql+psycopg://...``; ``sqlite://`` is an in-memory database (tests). Or the
            :class:`~scanflow.storage.Database` another store of the same database opened (the
            agents' ``StateStore`` passes its own).

    The table is created (or an older one upgraded) with the rest of Scanflow's schema when the
    database is first opened (:mod:`scanflow.storage.schema`).
    """

    url_setting = "prediction log URL"

    def __init__(self, url_or_db: str | os.PathLike[str] | Database):
        super().__init__(url_or_db)

    def _records(self, q) -> list[PredictionRecord]:
        return self._read(lambda c: [PredictionRecord(**dict(r._mapping)) for r in c.execute(q)])

    # -- writing ----------------------------------------------------------------------------
    def record_predictions(self, service: str, inputs: Any, predictions_: Sequence[Any], *,
                           model: str | None = None, model_version: str | int | None = None,
                           confidences: Sequence[float | None] | None = None,
                           outlier_scores: Sequence[float] | None = None,
                           is_outlier: Sequence[bool] | None = None,
                           created_at: float | None = None) -> list[int]:
        """Append one row per prediction; returns their ids (increasing). One commit.

        ``inputs`` is the batch the model saw, first axis = samples: an array (stored per
        sample as ``.npy`` bytes), a DataFrame or a list of dicts (stored as JSON records);
        ``None`` logs the outputs only. A prediction may be any JSON value (a class index, a
        string label...).
        """
        n = len(predictions_)
        _check_lengths(n, confidences=confidences, outlier_scores=outlier_scores,
                       is_outlier=is_outlier)
        stored = _per_sample(inputs, n)
        now = time.time() if created_at is None else created_at

        def number(seq, i):
            return None if seq is None or seq[i] is None else _plain(float(seq[i]))

        rows = [{
            "service": service, "model": model,
            "model_version": None if model_version is None else str(model_version),
            "created_at": now, **stored[i],
            "prediction": _jsonable(_plain(predictions_[i]), "prediction"),
            "confidence": number(confidences, i),
            "outlier_score": number(outlier_scores, i),
            "is_outlier": None if is_outlier is None else bool(is_outlier[i]),
        } for i in range(n)]

        def fn(conn):
            _commit_in_id_order(conn)
            # One row at a time so that ids come back on every backend; still one commit.
            return [conn.execute(insert(predictions).values(**r)).inserted_primary_key[0] for r in rows]
        return self._write(fn)

    # -- reading ----------------------------------------------------------------------------
    def predictions_since(self, cursor: int, limit: int | None = None,
                          service: str | None = None) -> list[PredictionRecord]:
        """Predictions with ``id > cursor``, oldest first (no inputs; see :meth:`prediction_inputs`)."""
        q = select(*_ROW_COLUMNS).where(predictions.c.id > cursor).order_by(predictions.c.id)
        if service:
            q = q.where(predictions.c.service == service)
        if limit:
            q = q.limit(limit)
        return self._records(q)

    def predictions_between(self, first_id: int, last_id: int,
                            service: str | None = None) -> list[PredictionRecord]:
        """Predictions with ``first_id <= id <= last_id`` (of ``service``), oldest first."""
        q = (select(*_ROW_COLUMNS).where(predictions.c.id >= first_id, predictions.c.id <= last_id)
             .order_by(predictions.c.id))
        if service:
            q = q.where(predictions.c.service == service)
        return self._records(q)

    def prediction_window(self, last_id: int, size: int | None = None,
                          seconds: float | None = None,
                          service: str | None = None) -> list[PredictionRecord]:
        """The window ending at ``last_id`` (of ``service``): its last ``size`` rows and/or
        last ``seconds``."""
        scope = [predictions.c.id <= last_id, *([predictions.c.service == service] if service else [])]
        q = select(*_ROW_COLUMNS).where(*scope).order_by(predictions.c.id.desc())
        if seconds is not None:
            end = self._read(lambda c: c.execute(
                select(predictions.c.created_at).where(*scope)
                .order_by(predictions.c.id.desc()).limit(1)).scalar())
            if end is None:
                return []
            q = q.where(predictions.c.created_at > end - seconds)
        if size is not None:
            q = q.limit(size)
        return self._records(q)[::-1]

    def prediction_inputs(self, ids: Sequence[int]) -> Any:
        """The stored inputs of the given predictions, in the order asked: the stacked array for
        array rows, a pandas DataFrame (columns in their logged order) for table rows."""
        ids = [int(i) for i in ids]
        if not ids:
            return np.empty((0,))
        found: dict[int, tuple[bytes | None, dict | None]] = {}
        cols = (predictions.c.id, predictions.c.inputs, predictions.c.record)
        for start in range(0, len(ids), 500):
            q = select(*cols).where(predictions.c.id.in_(ids[start:start + 500]))
            found.update(self._read(lambda c, q=q: {r.id: (r.inputs, r.record) for r in c.execute(q)}))
        missing = [i for i in ids if found.get(i, (None, None)) == (None, None)]
        if missing:
            raise KeyError(f"no stored inputs for predictions {missing[:5]}: the serving layer must "
                           "pass `inputs` to record_predictions")
        records = [found[i][1] for i in ids]
        if all(r is not None for r in records):
            return _frame(records)
        if any(r is not None for r in records):
            raise ValueError(f"predictions {ids[:3]}... mix table rows and arrays: ask for the "
                             "ids of one model input kind at a time (filter by service or model)")
        return np.stack([_from_npy(found[i][0]) for i in ids])

    def last_prediction_id(self) -> int:
        """The newest prediction's id (0 when the log is empty)."""
        return self._read(lambda c: c.execute(select(func.max(predictions.c.id))).scalar() or 0)


def _frame(records: list[dict[str, Any]]):
    """Records as a DataFrame, columns in the order first seen (as logged)."""
    # lazy: pandas, slow to import; only this DataFrame needs it
    import pandas as pd

    columns: dict[str, None] = {}
    for r in records:
        columns.update(dict.fromkeys(r))
    return pd.DataFrame.from_records(records, columns=list(columns))


#: The PostgreSQL advisory lock that orders the writers of the prediction log (any constant).
_PG_ORDER_LOCK = zlib.crc32(b"scanflow.track.predictions") - 2**31


def _commit_in_id_order(conn: Any) -> None:
    """Make concurrent writers commit their rows in id order (PostgreSQL).

    Readers follow the log with a cursor (``id > cursor``). A PostgreSQL sequence hands out ids
    when rows are inserted, not when they commit: a writer holding ids 1-10 may commit after
    one holding 11-20, and a reader that saw 11-20 first moves its cursor past 1-10 for good.
    A transaction-scoped advisory lock taken before the first insert serialises the writers,
    so ids become visible in order. SQLite's writers are serialised already.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_ORDER_LOCK})
