"""The agents' state database, as one object: :class:`StateStore`.

One SQLAlchemy 2.x database, portable SQL only: a SQLite file by default
(``sqlite:///<app.state_path>/scanflow.db``, see :func:`default_state_url`), any PostgreSQL URL
in production. Its schema is versioned and migrated by :mod:`scanflow.storage` when a store
first opens it. What makes agents crash-safe lives in four small stores, one per concern,
each usable alone on a URL or on the database of another:

=================================  ===========================================================
:class:`~.outbox.Outbox`           messages with idempotency keys: send, inbox, mark_*, retry
:class:`~.agent_state.AgentStateStore`  sensor cursors and triggers, pause, memory, heartbeats
:class:`~.decision_log.DecisionLog`     decisions and actions (started -> done), replay-safe
:class:`~.approvals.Approvals`     a person's approvals, answered with a message in one commit
=================================  ===========================================================

:class:`StateStore` is all four on one database (it inherits their methods, so the runtime,
the CLI and the services call ``store.send(...)``, ``store.fire(...)``, ...), plus the
prediction log of the same database as ``store.predictions`` (a
:class:`scanflow.track.PredictionLog`, which belongs to serving and tracking)::

    >>> import numpy as np
    >>> store = StateStore("sqlite://")
    >>> store.send("m1", "tracker", "checker", "drift", {"score": 0.7})[1]
    True
    >>> store.predictions.record_predictions("api", np.zeros((2, 3)), [1, 7])
    [1, 2]
    >>> [m.kind for m in store.inbox("checker")], Outbox(store.db).count_messages(["checker"])
    (['drift'], 1)

Every read-modify-write locks the row it reads (``SELECT ... FOR UPDATE``; SQLite, whose
writers take the whole database with ``BEGIN IMMEDIATE``, ignores the clause), so concurrent
writers on PostgreSQL never lose an update.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scanflow.storage import Database
from scanflow.track.predictions import PredictionLog, PredictionRecord

from .agent_state import AgentStateStore
from .approvals import ApprovalRecord, Approvals
from .decision_log import ActionRecord, DecisionLog, DecisionRecord, OutgoingMessage
from .outbox import MessageRecord, Outbox

__all__ = [
    "ActionRecord",
    "AgentStateStore",
    "ApprovalRecord",
    "Approvals",
    "DecisionLog",
    "DecisionRecord",
    "MessageRecord",
    "OutgoingMessage",
    "Outbox",
    "PredictionRecord",
    "StateStore",
    "default_state_url",
    "record_predictions",
]


def default_state_url(app_or_path: Any) -> str:
    """``sqlite:///<state dir>/scanflow.db`` for an Application (or a state directory path)."""
    path = Path(app_or_path.state_path if hasattr(app_or_path, "state_path") else app_or_path)
    path.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(path / 'scanflow.db').resolve()}"


class StateStore(Outbox, AgentStateStore, DecisionLog, Approvals):
    """Scanflow's state database as seen by the agents (and the serving layer).

    Args:
        url: a SQLAlchemy URL; ``sqlite:///path/scanflow.db`` or ``postgresql+psycopg://...``.
            ``sqlite://`` is a private in-memory database (tests), or pass the
            :class:`~scanflow.storage.Database` of another store.

    Attributes:
        db: the shared :class:`~scanflow.storage.Database` (give it to another store to use
            the same engines, e.g. ``EpisodeStore(store)``, ``Outbox(store.db)``).
        predictions: the prediction log in this database.
    """

    url_setting = "state_url"

    def __init__(self, url: str | os.PathLike[str] | Database):
        super().__init__(url)
        self.predictions = PredictionLog(self.db)

    # -- predictions: shortcuts to ``self.predictions`` (kept for existing callers) -----------
    def record_predictions(self, service: str, inputs: Any, predictions_: Sequence[Any],
                           **kwargs: Any) -> list[int]:
        """See :meth:`scanflow.track.PredictionLog.record_predictions`."""
        return self.predictions.record_predictions(service, inputs, predictions_, **kwargs)

    def predictions_since(self, cursor: int, limit: int | None = None,
                          service: str | None = None) -> list[PredictionRecord]:
        """See :meth:`scanflow.track.PredictionLog.predictions_since`."""
        return self.predictions.predictions_since(cursor, limit=limit, service=service)

    def predictions_between(self, first_id: int, last_id: int,
                            service: str | None = None) -> list[PredictionRecord]:
        """See :meth:`scanflow.track.PredictionLog.predictions_between`."""
        return self.predictions.predictions_between(first_id, last_id, service=service)

    def prediction_window(self, last_id: int, size: int | None = None,
                          seconds: float | None = None,
                          service: str | None = None) -> list[PredictionRecord]:
        """See :meth:`scanflow.track.PredictionLog.prediction_window`."""
        return self.predictions.prediction_window(last_id, size=size, seconds=seconds,
                                                  service=service)

    def prediction_inputs(self, ids: Sequence[int]) -> Any:
        """The stored inputs: a stacked array, or a DataFrame for table rows."""
        return self.predictions.prediction_inputs(ids)

    def last_prediction_id(self) -> int:
        """See :meth:`scanflow.track.PredictionLog.last_prediction_id`."""
        return self.predictions.last_prediction_id()


def record_predictions(state_url: str, service: str, inputs: Any, predictions_: Sequence[Any],
                       **kwargs: Any) -> list[int]:
    """Shortcut for the serving layer: ``PredictionLog(state_url).record_predictions(...)``."""
    return PredictionLog(state_url).record_predictions(service, inputs, predictions_, **kwargs)
