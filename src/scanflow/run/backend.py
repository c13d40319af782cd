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
from typing import Any, Literal

NodeStatus = Literal["succeeded", "failed", "timeout", "cancelled"]


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
    """Executes nodes. ``run_node`` blocks until the node ends; it is called from worker threads."""

    name: str = "backend"

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
