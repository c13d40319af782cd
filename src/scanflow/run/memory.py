"""A backend that calls Python functions in this process: fast scheduler tests, notebooks.

Each node is resolved to a function: ``functions[node_id]``, else ``functions[node_name]``, else
the node's own ``callable: pkg.mod:func``. The function is called with the node's parameters as
keyword arguments (plus ``task=`` when it has a parameter of that name). Raising an exception
fails the attempt; the traceback goes to the node's stderr log, a returned value to its stdout.

>>> import tempfile
>>> from pathlib import Path
>>> d = Path(tempfile.mkdtemp())
>>> backend = InMemoryBackend({"double": lambda x: 2 * x})
>>> task = NodeTask(run_id="r", node_id="wf/double", command=[], workdir=d, env={},
...                 stdout_path=d / "out", stderr_path=d / "err", parameters={"x": 21})
>>> backend.run_node(task).status, (d / "out").read_text()
('succeeded', '42\\n')

Threads cannot be killed: a timeout or a cancel is reported at once, but the function keeps
running in the background. Use the local backend for nodes that must really be stopped. The
backend declares no capability (``supports`` is empty): see :data:`scanflow.run.backend.CAPABILITIES`.
"""

from __future__ import annotations

import importlib
import inspect
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from .backend import Backend, NodeResult, NodeTask, attempt_banner

CANNOT_STOP = "(the in-memory backend cannot stop the function: it runs on in the background)"


class InMemoryBackend(Backend):
    """Run nodes as Python callables, in worker threads of this process.

    Parameters
    ----------
    functions : dict
        ``{node id or node name: callable}``; nodes not listed use their ``callable:`` entry.
    """

    name = "memory"
    supports = frozenset()  # in-process callables: no process, nothing to kill, nothing reserved

    def __init__(self, functions: dict[str, Callable[..., Any]] | None = None):
        self.functions = dict(functions or {})
        self.calls: list[str] = []  # node ids, in the order attempts started
        self._lock = threading.Lock()

    def resolve(self, task: NodeTask) -> Callable[..., Any]:
        name = task.node_id.rsplit("/", 1)[-1]
        for key in (task.node_id, name):
            if key in self.functions:
                return self.functions[key]
        target = getattr(task.node, "callable", None)
        if target:
            module, _, attr = target.partition(":")
            obj: Any = importlib.import_module(module)
            for part in attr.split("."):
                obj = getattr(obj, part)
            return obj
        raise LookupError(
            f"no function for node {task.node_id!r}: pass InMemoryBackend(functions={{{name!r}: fn}}) "
            "or give the node a `callable:`"
        )

    def run_node(self, task: NodeTask) -> NodeResult:
        with self._lock:
            self.calls.append(task.node_id)
        for path in (task.stdout_path, task.stderr_path):
            path.parent.mkdir(parents=True, exist_ok=True)
            _append(path, attempt_banner(task.attempt) if task.attempt > 1 else "")  # both exist
        started = time.time()
        try:
            fn = self.resolve(task)
        except (LookupError, ImportError, AttributeError) as exc:
            _append(task.stderr_path, f"scanflow: cannot start node {task.node_id!r}: {exc}\n")
            return NodeResult("failed", None, started, time.time(), f"cannot start the node: {exc}")
        outcome: dict[str, Any] = {}
        worker = threading.Thread(target=_call, args=(fn, task, outcome), name=f"scanflow-{task.node_id}",
                                  daemon=True)
        worker.start()
        deadline = started + task.timeout if task.timeout else None
        while worker.is_alive():
            worker.join(0.05)
            if task.cancel.is_set() and worker.is_alive():
                return NodeResult("cancelled", None, started, time.time(),
                                  f"stopped by a cancel request {CANNOT_STOP}")
            if deadline is not None and time.time() >= deadline and worker.is_alive():
                return NodeResult("timeout", None, started, time.time(),
                                  f"timed out after {task.timeout:g} s {CANNOT_STOP}")
        return _report(task, outcome, started)


def _call(fn: Callable[..., Any], task: NodeTask, outcome: dict[str, Any]) -> None:
    """Call the node's function with its parameters (and ``task=`` when it takes one)."""
    try:
        kwargs = dict(task.parameters)
        if _accepts(fn, "task"):
            kwargs["task"] = task
        outcome["value"] = fn(**kwargs)
    except BaseException as exc:  # noqa: BLE001 - a node's failure, reported by _report
        outcome["error"] = exc
        outcome["traceback"] = traceback.format_exc()


def _report(task: NodeTask, outcome: dict[str, Any], started: float) -> NodeResult:
    """The result of a finished call: its value to the stdout log, its traceback to stderr."""
    exc = outcome.get("error")
    if isinstance(exc, SystemExit) and exc.code in (0, None):
        exc = None  # sys.exit() / sys.exit(0) is a success, as for a process
    if exc is not None:
        _append(task.stderr_path, outcome["traceback"])
        if isinstance(exc, SystemExit):
            code = exc.code if isinstance(exc.code, int) else 1  # sys.exit("message") exits with 1
            return NodeResult("failed", code, started, time.time(), f"exited with code {code}")
        return NodeResult("failed", 1, started, time.time(), f"{type(exc).__name__}: {exc}")
    value = outcome.get("value")
    _append(task.stdout_path, "" if value is None else f"{value}\n")
    return NodeResult("succeeded", 0, started, time.time())


def _append(path, text: str) -> None:
    with open(path, "a") as f:
        f.write(text)


def _accepts(fn: Callable[..., Any], name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params
