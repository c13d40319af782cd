"""Running workflows: a scheduler shared by every backend, and the backends.

>>> from scanflow.run import run_workflow            # doctest: +SKIP
>>> result = run_workflow("examples/mnist")          # doctest: +SKIP
>>> result.status, result.run_id                     # doctest: +SKIP

The scheduler (:class:`Scheduler`, :func:`run_workflow`) owns ordering, parallelism, retries,
timeouts, caching, resume and tracking; a backend implements one method,
``run_node(NodeTask) -> NodeResult``, and declares in ``Backend.supports`` what it can do
beyond the shared contract (:data:`CAPABILITIES`: ``subprocess``, ``timeout_kills_tree``,
``cancel_kills_tree``, ``reserves_resources``). Backends: :class:`LocalBackend` (subprocesses,
the default), :class:`InMemoryBackend` (Python callables in this process, for tests), ``ray``
(:func:`get_backend`, in ``scanflow.run.ray_backend``).
"""

from .backend import CAPABILITIES, Backend, NodeResult, NodeStatus, NodeTask
from .cache import NodeCache, cache_key
from .local import LocalBackend, kill_tree
from .memory import InMemoryBackend
from .runner import WorkflowRunner, one_node_app, run_node, with_parameters
from .scheduler import (
    NodeRun,
    ProgressEvent,
    RunError,
    RunResult,
    Scheduler,
    get_backend,
    run_workflow,
)
from .state import RunNotFound, RunState, find_run, find_run_under, list_runs

__all__ = [
    "Backend", "CAPABILITIES", "InMemoryBackend", "LocalBackend", "NodeCache", "NodeResult", "NodeRun",
    "NodeStatus", "NodeTask", "ProgressEvent", "RunError", "RunNotFound", "RunResult",
    "RunState", "Scheduler", "cache_key", "find_run", "find_run_under", "get_backend",
    "kill_tree", "list_runs", "one_node_app", "run_node", "run_workflow",
    "with_parameters", "WorkflowRunner",
]
