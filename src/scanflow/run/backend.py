"""The one interface every execution backend implements: run one node, return its result.

The scheduler (:mod:`scanflow.run.scheduler`) owns ordering, parallelism, retries, caching,
resume and tracking for every backend alike; a backend only executes a fully resolved
:class:`NodeTask` (command, working directory, environment, log files) and reports how it ended.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

NodeStatus = Literal["succeeded", "failed", "timeout", "cancelled"]

# What a backend can do beyond the contract every backend keeps. A backend lists the ones it
# guarantees in ``Backend.supports``; the shared suite (tests/run/test_backend_contract.py)
# checks each declared one, and checks the documented fallback of each undeclared one.
SUBPROCESS = "subprocess"
"""The node is an OS process: ``task.command`` runs in ``task.workdir`` with exactly
``task.env``; its exit code is ``NodeResult.returncode``; its stdout and stderr are the log
files. Without it the node is a Python callable in this process: it gets its environment as
``task.env``, its return value goes to the stdout log, an exception's traceback to the stderr
log, and ``SystemExit(code)`` gives the exit code."""
TIMEOUT_KILLS_TREE = "timeout_kills_tree"
"""When ``run_node`` returns ``timeout``, every process of the node's tree has exited. Without
it the result says ``timeout`` at the deadline, but the node runs on in the background."""
CANCEL_KILLS_TREE = "cancel_kills_tree"
"""When ``run_node`` returns ``cancelled``, every process of the node's tree has exited.
Without it the result says ``cancelled`` at once, but the node runs on in the background."""
RESERVES_RESOURCES = "reserves_resources"
"""``task.resources`` (``cpu``, ``memory``, ``gpu``) are reserved before the node starts: nodes
running at the same time never ask for more than a worker has, and a request that no worker can
ever meet fails at once, naming what was asked and what the largest worker has. Without it the
requests are advisory: the node starts at once on this machine, whatever it asks for (the
scheduler still sets ``OMP_NUM_THREADS`` from ``cpu``)."""
CAPABILITIES = (SUBPROCESS, TIMEOUT_KILLS_TREE, CANCEL_KILLS_TREE, RESERVES_RESOURCES)


def attempt_banner(attempt: int) -> str:
    """The line written to both log files before a retry's output (attempts append to them)."""
    return f"\n----- scanflow: attempt {attempt} -----\n"


@dataclass
class NodeTask:
    """Everything needed to execute one attempt of one executor node."""

    run_id: str                      # the Scanflow run id (also the MLflow parent run id)
    node_id: str                     # qualified id, e.g. "training/evaluation/evaluate"
    command: list[str]               # argv, already resolved (python interpreter, script, flags)
    workdir: Path                    # where the process starts; created by the scheduler
    env: dict[str, str]              # the complete environment of the process
    stdout_path: Path
    stderr_path: Path
    timeout: float | None = None     # seconds; the backend kills the whole process tree
    attempt: int = 1
    resources: dict[str, Any] = field(default_factory=dict)  # {"cpu": float, "memory": bytes, "gpu": int}
    requirements: list[str] = field(default_factory=list)    # pip requirements (isolated nodes)
    cancel: threading.Event = field(default_factory=threading.Event)  # set to stop the node
    # Optional extras (backends may ignore them): the node's spec and its parameters (the
    # in-memory backend calls Python functions with them), and a hook a backend calls with
    # {"pid": int, "create_time": float} once the process exists, so that the scheduler can
    # record it and clean up after a crash (``kill -9``) before a resume.
    node: Any = None
    parameters: dict[str, Any] = field(default_factory=dict)
    on_start: Callable[[dict[str, Any]], None] | None = None


@dataclass
class NodeResult:
    status: NodeStatus
    returncode: int | None = None
    started_at: float = 0.0
    finished_at: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    @property
    def duration(self) -> float:
        return max(0.0, self.finished_at - self.started_at)


class Backend(ABC):
    """Executes nodes. ``run_node`` blocks until the node ends; it is called from worker threads.

    The contract every backend keeps (checked for each one by tests/run/test_backend_contract.py):
    the node's output lands in ``task.stdout_path`` / ``task.stderr_path``, appended to by later
    attempts after :func:`attempt_banner`; a node that fails reports ``failed`` with its exit
    code and why; a node that cannot start reports ``failed`` with "cannot start"; ``timeout``
    comes at ``task.timeout``, ``cancelled`` soon after ``task.cancel`` is set. What a backend
    can do beyond that it declares in ``supports`` (see :data:`CAPABILITIES`).
    """

    name: str = "backend"
    supports: ClassVar[frozenset[str]] = frozenset()

    @abstractmethod
    def run_node(self, task: NodeTask) -> NodeResult:
        """Run one attempt of one node to completion (or timeout/cancel) and report it."""

    def open(self) -> None:  # noqa: B027 - optional hook
        """Connect or start what the backend needs; the scheduler calls it once, in the main
        thread, before any node runs (Ray, for one, must be initialised from the main thread)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what the backend holds (connections, pools)."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
