"""Checks run right after the answer: an ordered, bounded queue and the thread that works it.

A prediction service answers a request first and checks its inputs right after (the default,
``check="deferred"``): the request puts its inputs on a :class:`CheckQueue` (a list append) and
is answered; one worker thread checks what was queued with one call (one forward pass of the
detector for many requests), in the order the requests were answered. It lets the first queued
input wait up to ``max_wait`` seconds for others (a check can wait; a request should not), so
that even one client sending one input at a time is checked in batches: the check then costs a
fraction of a forward pass per input, beside the request rather than on its path. Nothing is dropped: when the check falls ``max_pending`` samples behind, ``put``
waits for it (the requests slow down rather than go unchecked), and :meth:`CheckQueue.join`
waits until every queued input was checked.

The worker yields the CPU to requests (``idle_priority``, :mod:`scanflow.serve.cpu_priority`):
it takes a core only when no request needs it, unless somebody waits for it (``join``, a
``put`` held by ``max_pending``) or its oldest input has waited ``max_delay`` seconds; then it
runs at normal priority until it has caught up.

Example, with a "check" that records the batches it was given::

    >>> seen = []
    >>> checks = CheckQueue(lambda key, values: seen.append((key, values)), max_wait=0.01)
    >>> checks.put("v1", 1, "a"); checks.put("v1", 2, "b")
    >>> checks.join()
    True
    >>> sum(len(values) for _, values in seen), checks.n_checked_
    (2, 3)
    >>> checks.stop()
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scanflow.errors import ScanflowError

from .cpu_priority import set_idle

log = logging.getLogger(__name__)

__all__ = ["CheckQueue", "CheckQueueError"]

# A check function: (the key the values share, the queued values in order) -> None.
CheckFunction = Callable[[Any, list[Any]], Any]


class CheckQueueError(ScanflowError, ValueError):
    """Queue settings out of range."""


@dataclass
class _Item:
    key: Any
    size: int
    value: Any
    arrived: float = field(default_factory=time.monotonic)


class CheckQueue:
    """Runs ``fn(key, values)`` in a worker thread on what was queued, oldest first.

    Parameters
    ----------
    fn:
        Called with consecutive queued values that share a ``key`` (e.g. the model version
        that answered them), at most ``max_batch`` samples at a time (a single larger value
        goes alone). Its exceptions are logged and counted in ``errors_``; the queue goes on.
    max_pending:
        How many samples may wait unchecked; beyond it :meth:`put` waits.
    max_batch:
        The most samples one call of ``fn`` gets.
    max_wait:
        The longest (seconds) the first queued value waits for others before it is checked
        (:meth:`join` and :meth:`stop` check at once).
    idle_priority:
        Check only on a core no request needs (Linux; elsewhere a no-op).
    max_delay:
        With ``idle_priority``: once the oldest queued value has waited this long (seconds),
        check at normal priority until caught up (busy machines still check within about it).
    """

    def __init__(self, fn: CheckFunction, *, max_pending: int = 4096, max_batch: int = 256,
                 max_wait: float = 0.05, idle_priority: bool = True, max_delay: float = 1.0):
        if max_pending < 1 or max_batch < 1 or max_wait < 0 or max_delay < 0:
            raise CheckQueueError(f"max_pending={max_pending}, max_batch={max_batch}, max_wait={max_wait}, "
                                  f"max_delay={max_delay}: use max_pending >= 1, max_batch >= 1, "
                                  "max_wait >= 0 and max_delay >= 0 seconds")
        self.fn = fn
        self.max_pending = max_pending
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.idle_priority = idle_priority
        self.max_delay = max_delay
        self._idle = False  # the worker runs at idle priority now
        self._held = 0  # put() calls waiting for room
        self._queued = 0  # samples queued, not yet taken
        self._joining = 0  # callers of join() waiting: check at once
        self._items: deque[_Item] = deque()
        self._cond = threading.Condition()
        self._pending = 0  # samples queued or being checked
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.n_calls_ = 0
        self.n_checked_ = 0
        self.errors_: list[str] = []

    @property
    def pending(self) -> int:
        """Samples answered but not checked yet."""
        return self._pending

    def put(self, key: Any, size: int, value: Any) -> None:
        """Queue ``value`` (``size`` samples) for checking; waits while ``max_pending`` are."""
        with self._cond:
            self._ensure_worker()
            if self._pending >= self.max_pending:
                self._held += 1
                self._hurry()
                try:
                    self._cond.wait_for(lambda: self._pending < self.max_pending)
                finally:
                    self._held -= 1
            if self._idle and self._items and time.monotonic() - self._items[0].arrived > self.max_delay:
                self._hurry()  # a busy machine has kept the idle worker off the CPU too long
            self._items.append(_Item(key, size, value))
            self._pending += size
            self._queued += size
            if len(self._items) == 1 or self._queued >= self.max_batch:  # else the worker is waiting anyway
                self._cond.notify_all()

    def join(self, timeout: float | None = None) -> bool:
        """Wait until everything queued so far was checked (False: ``timeout`` passed first)."""
        with self._cond:
            self._joining += 1
            self._hurry()
            self._cond.notify_all()
            try:
                return self._cond.wait_for(lambda: self._pending == 0, timeout)
            finally:
                self._joining -= 1

    def stop(self, timeout: float = 30.0) -> None:
        """Check what is queued, then end the worker (a later :meth:`put` starts a new one)."""
        with self._cond:
            self._hurry()
            thread, self._thread = self._thread, None
            self._stopping = True
            self._cond.notify_all()
        if thread is not None:
            thread.join(timeout)
        with self._cond:
            self._stopping = False

    def _ensure_worker(self) -> None:  # called under the lock
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="scanflow-check", daemon=True)
            self._thread.start()

    def _hurry(self) -> None:  # called under the lock: somebody waits for the worker
        if self._idle and set_idle(self._thread, False):
            self._idle = False

    def _set_priority(self, oldest: _Item) -> None:  # under the lock, by the worker, before a check
        idle = (self.idle_priority and not (self._joining or self._held or self._stopping)
                and time.monotonic() - oldest.arrived < self.max_delay)
        if idle != self._idle and set_idle(None, idle):
            self._idle = idle

    def _take(self) -> list[_Item] | None:
        """The next run of items with one key (None: stopped and nothing left)."""
        with self._cond:
            self._cond.wait_for(lambda: self._items or self._stopping)
            if not self._items:
                return None
            self._wait_for_more()
            batch = [self._items.popleft()]
            size = batch[0].size
            while (self._items and _same(self._items[0].key, batch[0].key)
                   and size + self._items[0].size <= self.max_batch):
                item = self._items.popleft()
                batch.append(item)
                size += item.size
            self._queued -= size
            self._set_priority(batch[0])
            return batch

    def _wait_for_more(self) -> None:  # called under the lock, with an item queued
        deadline = self._items[0].arrived + self.max_wait
        while not (self._stopping or self._joining or self._queued >= self.max_batch):
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._cond.wait(left)

    def _work(self) -> None:
        while (batch := self._take()) is not None:
            self._check(batch)
        with self._cond:  # a put() during stop() may have started this thread: let the next one start
            if self._thread is threading.current_thread():
                self._thread = None

    def _check(self, batch: list[_Item]) -> None:
        size = sum(item.size for item in batch)
        try:
            self.fn(batch[0].key, [item.value for item in batch])
        except Exception as exc:  # a failing check must not stop the checks after it
            self.errors_.append(str(exc))
            log.warning("deferred check of %d samples failed: %s", size, exc)
        with self._cond:
            self.n_calls_ += 1
            self.n_checked_ += size
            self._pending -= size
            self._cond.notify_all()


def _same(a: Any, b: Any) -> bool:
    return a is b or a == b
