"""The label store: a durable queue of samples waiting for a human (or an oracle) to label them.

Samples go in with :meth:`LabelStore.enqueue`, labelers take them out with
:meth:`LabelStore.claim` and answer with :meth:`LabelStore.submit` / :meth:`LabelStore.skip`.
Every answer is committed before the call returns and is written to an audit log
(:meth:`LabelStore.history`) with who gave it, when, and whether the labeler was a human or
the ground-truth :class:`~scanflow.improve.labelers.OracleLabeler` used in experiments.

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

The store is written in three modules: :mod:`~scanflow.improve.label_schema` (the tables),
:mod:`~scanflow.improve.label_queue` (enqueue, claim, submit, skip, undo, release, requeue)
and :mod:`~scanflow.improve.label_reports` (progress, labeled samples, history); what a sample
is lives in :mod:`~scanflow.improve.label_items`. Its database is opened through
:mod:`scanflow.storage`: engines shared per URL, a versioned schema migrated on first open.

Example:
    >>> import numpy as np
    >>> store = LabelStore("sqlite://")            # in memory; pass a file path to keep it
    >>> ids = store.enqueue(np.zeros((3, 32, 32, 3), np.uint8), batch="b1", model_guess=[7, 1, 2])
    >>> [item] = store.claim("ana")
    >>> item.x.shape, item.model_guess
    ((32, 32, 3), 7)
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

import os
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine

from .label_items import (
    HUMAN,
    LABELED,
    LABELER_KINDS,
    ORACLE,
    PENDING,
    RECORD_DTYPE,
    RESERVED_META,
    SKIPPED,
    Item,
    LabelConflictError,
    LabelError,
    UnknownItemError,
    class_keys,
    class_names,
    format_value,
)
from .label_queue import LabelQueue
from .label_reports import LabelReports

__all__ = [
    "HUMAN",
    "LABELED",
    "LABELER_KINDS",
    "ORACLE",
    "PENDING",
    "RECORD_DTYPE",
    "RESERVED_META",
    "SKIPPED",
    "Item",
    "LabelConflictError",
    "LabelError",
    "LabelStore",
    "UnknownItemError",
    "class_keys",
    "class_names",
    "default_store_path",
    "format_value",
]


def default_store_path() -> Path:
    """``$SCANFLOW_HOME/labels.db``, else ``.scanflow/labels.db`` in the working directory."""
    home = os.environ.get("SCANFLOW_HOME")
    base = Path(home).expanduser() if home else Path.cwd() / ".scanflow"
    return base / "labels.db"



class LabelStore(LabelQueue, LabelReports):
    """A durable queue of samples awaiting labels, shared by every labeler.

    Args:
        url_or_path: a SQLAlchemy URL (``sqlite:///labels.db``, ``postgresql+psycopg://...``)
            or a file path for a SQLite database (created with its folder if missing).
            ``"sqlite://"`` is an in-memory store for a single object. Default:
            :func:`default_store_path`.
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
        super().__init__(url_or_path)

    @property
    def engine(self) -> Engine:
        """The writer engine of the store's database (prefer ``self.db.write`` / ``read``)."""
        return self.db.writer

    def close(self) -> None:
        """Release the database connections (the store reconnects if used again)."""
        self.db.dispose()

    def __enter__(self) -> LabelStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LabelStore({self.url!r}, n_classes={self.n_classes})"

    def _repr_html_(self) -> str:
        """Jupyter: progress per batch (labeled by people / the oracle, skipped, pending) as
        counts and a bar."""
        from ..html import render  # lazy: Jinja2, only in notebooks

        names = self.batches()
        rows = [(name, self.progress(name)) for name in names]
        if len(names) > 1:
            rows.append(("all", self.progress()))
        return render("label_queue.html.j2", url=self.url, rows=rows)
