"""Background work that takes a core only when no request needs it (Linux ``SCHED_IDLE``).

A check run right after the answer (:mod:`scanflow.serve.checking`) costs CPU. On a machine
with few cores, a request that arrives while it runs waits for the scheduler's next turn, and
the slowest requests (p99) pay for it. A thread under ``SCHED_IDLE`` runs only on a core that
nothing else wants, so requests go first; :func:`set_idle` puts a thread there and takes it
back (when someone waits for the checks, they must not wait behind every other process).

Going back from ``SCHED_IDLE`` needs a permission that some systems do not give an
unprivileged process (``RLIMIT_NICE``), so :func:`idle_priority_available` first tries the
round trip in a throwaway thread; where it fails (or off Linux) nothing changes priority.

    >>> isinstance(idle_priority_available(), bool)
    True
"""

from __future__ import annotations

import functools
import logging
import os
import threading

log = logging.getLogger(__name__)

__all__ = ["idle_priority_available", "set_idle"]


def _policy(thread_id: int, idle: bool) -> None:
    policy = os.SCHED_IDLE if idle else os.SCHED_OTHER
    os.sched_setscheduler(thread_id, policy, os.sched_param(0))


@functools.cache
def idle_priority_available() -> bool:
    """Whether a thread can be moved to ``SCHED_IDLE`` and back (tried once, in a spare thread)."""
    if not (hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_IDLE")):
        return False
    works: list[bool] = []

    def probe() -> None:
        try:
            _policy(0, True)
            _policy(0, False)
            works.append(True)
        except OSError as exc:
            log.info("background checks keep normal CPU priority: %s", exc)

    thread = threading.Thread(target=probe, name="scanflow-priority-probe", daemon=True)
    thread.start()
    thread.join()
    return bool(works)


def set_idle(thread: threading.Thread | None, idle: bool) -> bool:
    """Move ``thread`` (None: the calling thread) to idle priority or back to normal.

    Returns whether it changed (False where idle priority is not available here)."""
    if not idle_priority_available():
        return False
    thread_id = 0 if thread is None or thread is threading.current_thread() else thread.native_id
    if thread_id is None:  # not started yet
        return False
    try:
        _policy(thread_id, idle)
    except (OSError, ProcessLookupError):  # the thread ended meanwhile
        return False
    return True
