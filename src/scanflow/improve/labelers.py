"""Labelers: who answers "what class is this sample?" — one protocol, :class:`Labeler`.

A labeler has a ``name`` and a ``kind`` (``"human"`` or ``"oracle"``, as the label store
records them) and answers ``label(indices) -> labels`` for samples of a pool, one label per
index, ``-1`` (or None) for a sample it skipped:

* :class:`OracleLabeler` answers from ground truth (experiments, tests, the demo): NOT a
  person; it can also answer a label store's queue (:meth:`OracleLabeler.label_store`);
* :class:`StoreLabeler` queues the samples in a label store and waits until people label
  them (web UI, API or ``scanflow label``).

:func:`scanflow.improve.loop.run_round` takes any of them; the shared conformance suite is
``tests/improve/test_labeler_suite.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .labels import HUMAN, ORACLE, LabelError, LabelStore

__all__ = ["Labeler", "OracleLabeler", "StoreLabeler", "store_labeler_factory"]


@runtime_checkable
class Labeler(Protocol):
    """Gives the class of the pool samples at ``indices`` (negative or None: skipped)."""

    name: str
    kind: str  # "human" or "oracle"

    def label(self, indices: Sequence[int] | np.ndarray) -> np.ndarray: ...


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

    kind = ORACLE

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
            labels = [store._check_label(p, it.classes) for it, p in zip(items, positions, strict=True)]

            def answer(conn, items=items, labels=labels):
                for it, label in zip(items, labels, strict=True):
                    store._submit(conn, it.id, label, self.name, ORACLE)

            store.db.write(answer)  # one commit per chunk
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


class StoreLabeler:
    """Labels through the label store: queue the samples, wait until people label them.

    Its ``kind`` is ``"human"``: the answers are whatever people gave in the store.

    ``label(indices)`` enqueues ``X[indices]`` as one batch (with the model's guesses and the
    selection order as scores) and blocks until every sample is labeled or skipped (skipped
    samples come back as ``-1``), polling every ``poll`` seconds; ``timeout`` (seconds, None:
    wait forever) raises ``TimeoutError`` with what was labeled so far kept in the store.
    """

    kind = HUMAN

    def __init__(
        self,
        store,
        X,
        *,
        guesses=None,
        batch_prefix: str = "mnist-c",
        poll: float = 1.0,
        timeout: float | None = None,
        on_progress=None,
        name: str = "people",
    ):
        self.name = name
        self.store = store
        self.X = np.asarray(X)
        self.guesses = guesses
        self.batch_prefix = batch_prefix
        self.poll = poll
        self.timeout = timeout
        self.on_progress = on_progress
        self.batch_: str | None = None

    def label(self, indices) -> np.ndarray:
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self.X)):
            raise LabelError("indices", f"must lie in [0, {len(self.X)}), got {idx.min()}..{idx.max()}",
                             "pass positions in the pool X this labeler was made with")
        batch = self._enqueue(idx)
        self._wait_for(batch)
        labels = {
            int(it.meta["index"]): (it.label if it.status == "labeled" else -1)
            for it in self.store.items_of(batch)
        }
        return np.array([labels[int(i)] for i in idx], dtype=np.int64)

    def _enqueue(self, idx: np.ndarray) -> str:
        """Queue the samples as a new batch, first-selected first; return the batch name."""
        batch = f"{self.batch_prefix}-{time.strftime('%Y%m%d-%H%M%S')}"
        self.batch_ = batch
        guesses = None if self.guesses is None else [int(self.guesses[i]) for i in idx]
        self.store.enqueue(
            self.X[idx],
            batch=batch,
            meta=[{"index": int(i)} for i in idx],
            model_guess=guesses,
            scores=list(range(len(idx), 0, -1)),
        )
        return batch

    def _wait_for(self, batch: str) -> None:
        """Poll until nothing of ``batch`` is pending, reporting each change of progress."""
        start, last = time.monotonic(), None
        while True:
            prog = self.store.progress(batch)
            if prog != last and self.on_progress is not None:
                self.on_progress(prog)
            last = prog
            if prog["pending"] == 0:
                return
            if self.timeout is not None and time.monotonic() - start > self.timeout:
                raise TimeoutError(
                    f"labeling batch {batch!r}: {prog['labeled']} of {prog['total']} labeled "
                    f"after {self.timeout:.0f} s; the labels are kept in the store"
                )
            time.sleep(self.poll)


def store_labeler_factory(
    store,
    *,
    timeout: float | None = None,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
) -> Callable[[Any, Any], StoreLabeler]:
    """A ``labeler_factory`` for ``run_experiment``: each seed's pool is labeled through
    ``store``, shown with the base model's guesses."""

    def factory(data, base) -> StoreLabeler:
        from .classifier import predict  # lazy: the classifier imports torch

        return StoreLabeler(
            store,
            data.X_pool,
            batch_prefix=f"mnist-c-seed{data.seed}",
            timeout=timeout,
            guesses=predict(base, data.X_pool),
            on_progress=on_progress,
        )

    return factory
