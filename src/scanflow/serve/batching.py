"""Adaptive micro-batching: concurrent single-input requests answered by one call on a batch.

A model answers 16 inputs in one forward pass much faster than in 16 (and so does the inline
check): :class:`MicroBatcher` puts the inputs of concurrent requests in a queue, and one worker
thread answers what has gathered with one call, then hands each request its own part.

The batch size adapts to the traffic. The worker never waits for a batch to fill when requests
come one at a time (a lone client sees no added latency); it waits up to ``max_wait`` seconds
after the first input of a batch arrived, for as many inputs as recent batches held (the
number of clients that are sending), and no longer: ``max_wait`` is the bound on the latency
that batching adds. Inputs that arrive while a batch runs form the next one.

Example, with a function that doubles a batch::

    >>> import numpy as np
    >>> batcher = MicroBatcher(lambda X, key: list(X * 2), max_batch=8)
    >>> batcher.call(np.array([[1.0]]), key="model-v1")
    [array([2.])]
    >>> batcher.stop()
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scanflow.errors import ScanflowError

__all__ = ["MicroBatchError", "MicroBatcher", "join_inputs"]

# A batch function: (the inputs of several requests joined, their key) -> one result per input.
BatchFunction = Callable[[Any, Any], Sequence[Any]]


class MicroBatchError(ScanflowError, ValueError):
    """Batching settings out of range, or a batch function that broke its contract."""


@dataclass
class _Item:
    X: Any
    key: Any
    arrived: float = field(default_factory=time.perf_counter)
    future: Future = field(default_factory=Future)


def join_inputs(parts: Sequence[Any]) -> Any:
    """The inputs of several requests as one batch: arrays stacked, DataFrames concatenated."""
    if len(parts) == 1:
        return parts[0]
    if all(isinstance(p, np.ndarray) for p in parts):
        return np.concatenate(parts)
    if all(hasattr(p, "columns") for p in parts):
        # lazy: pandas, slow to import; only table models send DataFrames
        import pandas as pd

        return pd.concat(parts, ignore_index=True)
    raise MicroBatchError(f"cannot join inputs of types {sorted({type(p).__name__ for p in parts})}: "
                          "send arrays or DataFrames")


class MicroBatcher:
    """Answers concurrent calls of ``fn`` on a few inputs with one call on all of them.

    Parameters
    ----------
    fn:
        ``fn(X, key) -> results``, one result per input of ``X`` (a batch: an array or a
        DataFrame), called from the batcher's worker thread. Only inputs submitted with the
        same ``key`` (e.g. the model version that answers them) share a batch.
    max_batch:
        The most inputs one call of ``fn`` gets.
    max_wait:
        The longest (seconds) the first input of a batch waits for others to join it.
    """

    def __init__(self, fn: BatchFunction, *, max_batch: int = 32, max_wait: float = 0.002):
        if max_batch < 1 or max_wait < 0:
            raise MicroBatchError(f"max_batch={max_batch}, max_wait={max_wait}: "
                                  "use max_batch >= 1 (1: no batching) and max_wait >= 0 seconds")
        self.fn = fn
        self.max_batch = max_batch
        self.max_wait = max_wait
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.expected_ = 1.0  # how many inputs a batch gathers now (a moving average)
        self.n_batches_ = 0
        self.n_inputs_ = 0

    # -- the caller's side --------------------------------------------------------------------
    def submit(self, X: Any, key: Any = None) -> Future:
        """Queue ``X`` (a batch of one or a few inputs); the future holds its list of results."""
        self._ensure_worker()
        item = _Item(X, key)
        self._queue.put(item)
        return item.future

    def call(self, X: Any, key: Any = None) -> list[Any]:
        """:meth:`submit` and wait: ``fn``'s results for ``X``, or the exception it raised."""
        return self.submit(X, key).result()

    def stop(self, timeout: float = 10.0) -> None:
        """Answer what is queued, then end the worker thread (a later call starts a new one)."""
        with self._lock:
            thread, self._thread = self._thread, None
            queued, self._queue = self._queue, queue.SimpleQueue()
        if thread is not None:
            queued.put(None)
            thread.join(timeout)

    def _ensure_worker(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, args=(self._queue,),
                                                name="scanflow-micro-batch", daemon=True)
                self._thread.start()

    # -- the worker ---------------------------------------------------------------------------
    def _work(self, q: queue.SimpleQueue) -> None:
        held: _Item | None = None  # taken from the queue for the next batch
        while True:
            first = held if held is not None else q.get()
            if first is None:
                return
            batch, held = self._gather(first, q)
            self._answer([b for b in batch if b is not None])
            if batch[-1] is None:
                return

    def _gather(self, first: _Item, q: queue.SimpleQueue) -> tuple[list[Any], _Item | None]:
        """``first`` and what joins it: all that is queued now, then (while fewer than recent
        batches held) what arrives before ``first`` has waited ``max_wait``; and the input
        taken for the next batch, if any. Ends with ``None`` when the batcher was stopped."""
        batch: list[Any] = [first]
        size = len(first.X)
        deadline = first.arrived + self.max_wait
        while size < self.max_batch:
            wait = deadline - time.perf_counter() if len(batch) < self.expected_ else 0.0
            try:
                item = q.get(timeout=wait) if wait > 0 else q.get_nowait()
            except queue.Empty:
                break
            if item is not None and ((item.key is not first.key and item.key != first.key) or size + len(item.X) > self.max_batch):
                return batch, item  # another model's input, or one too many: the next batch
            batch.append(item)
            if item is None:
                break
            size += len(item.X)
        return batch, None

    def _answer(self, items: list[_Item]) -> None:
        if not items:
            return
        self.expected_ += 0.3 * (len(items) - self.expected_)
        self.n_batches_ += 1
        self.n_inputs_ += sum(len(i.X) for i in items)
        self._run(items)

    def _run(self, items: list[_Item]) -> None:
        try:
            results = list(self.fn(join_inputs([i.X for i in items]), items[0].key))
        except Exception as exc:
            if len(items) == 1:
                items[0].future.set_exception(exc)
                return
            for item in items:  # one bad input must fail only its own request
                self._run([item])
            return
        if len(results) != sum(len(i.X) for i in items):
            error = MicroBatchError(f"the batch function gave {len(results)} results for "
                                 f"{sum(len(i.X) for i in items)} inputs")
            for item in items:
                item.future.set_exception(error)
            return
        start = 0
        for item in items:
            item.future.set_result(results[start : start + len(item.X)])
            start += len(item.X)
