"""Idle CPU priority for the deferred checks: a real Linux scheduling policy, and back."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

from scanflow.serve.checking import CheckQueue
from scanflow.serve.cpu_priority import idle_priority_available, set_idle

needs_idle = pytest.mark.skipif(not idle_priority_available(),
                                reason="SCHED_IDLE and back is not allowed here (RLIMIT_NICE) or not Linux")


def _policy() -> int:
    return os.sched_getscheduler(0)


def _until(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


@needs_idle
def test_a_thread_moves_to_idle_priority_and_back():
    seen, go = [], threading.Event()

    def body():
        seen.append(_policy())
        go.wait(10)
        seen.append(_policy())

    thread = threading.Thread(target=body)
    thread.start()
    _until(lambda: seen)
    assert set_idle(thread, True)
    assert os.sched_getscheduler(thread.native_id) == os.SCHED_IDLE
    assert set_idle(thread, False)
    go.set()
    thread.join()
    assert seen == [os.SCHED_OTHER, os.SCHED_OTHER]


@needs_idle
def test_the_check_worker_runs_idle_until_somebody_waits_for_it():
    policies = []
    queue = CheckQueue(lambda key, values: policies.append(_policy()), max_wait=0.0)
    queue.put("m", 1, np.zeros(1))
    assert queue.join(10)  # the first check had started before join() asked
    queue.put("m", 1, np.zeros(1))
    _until(lambda: queue.n_calls_ >= 2)
    assert policies[-1] == os.SCHED_IDLE
    queue.max_wait = 5.0  # the next item waits for company: join() must hurry it, at normal priority
    queue.put("m", 1, np.zeros(1))
    assert queue.join(10)
    assert policies[-1] == os.SCHED_OTHER
    queue.stop()


def test_a_queue_told_not_to_yield_keeps_normal_priority():
    policies = []
    queue = CheckQueue(lambda key, values: policies.append(_policy()), max_wait=0.0, idle_priority=False)
    queue.put("m", 1, np.zeros(1))
    _until(lambda: queue.n_calls_ >= 1)
    queue.stop()
    assert policies == [os.SCHED_OTHER]


@needs_idle
def test_an_input_older_than_max_delay_is_checked_at_normal_priority():
    policies = []
    queue = CheckQueue(lambda key, values: policies.append(_policy()), max_wait=0.3, max_delay=0.1)
    queue.put("m", 1, np.zeros(1))
    _until(lambda: queue.n_calls_ >= 1)
    queue.stop()
    assert policies == [os.SCHED_OTHER]
