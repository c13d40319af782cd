"""Running from code that is not a person at a terminal: one executor alone, a workflow with
run-time parameters, and resuming a run someone else started (agents, the executor API).

>>> from scanflow.app import Application, Workflow, Executor
>>> app = Application(name="a", workflows=[Workflow(name="w", nodes=[
...     Executor(name="prep", callable="builtins:print", parameters={"path": None}),
...     Executor(name="fit", callable="builtins:print", depends_on=["prep"])])])
>>> [n.name for n in one_node_app(app, "w", "fit").workflow("w").nodes]
['fit']
>>> with_parameters(app, "w", {"path": "/data/new.csv"}).workflow("w").node("prep").parameters
{'path': '/data/new.csv'}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..app import Application, Executor, SubWorkflow
from .scheduler import RunError, run_workflow
from .state import RunNotFound, find_run

__all__ = ["WorkflowRunner", "one_node_app", "run_node", "with_parameters"]


def one_node_app(app: Application, workflow: str, node: str) -> Application:
    """A copy of ``app`` whose ``workflow`` holds only ``node`` (to run one executor alone)."""
    wf = app.workflow(workflow)
    single = wf.node(node).model_copy(update={"depends_on": []})
    copy = app.model_copy(deep=True)
    copy.workflows = [w if w.name != workflow else wf.model_copy(update={"nodes": [single]})
                      for w in copy.workflows]
    copy.root = app.root
    return copy


def _executors(app: Application, workflow: str, seen: set[str] | None = None):
    seen = seen if seen is not None else set()
    if workflow in seen:
        return
    seen.add(workflow)
    for node in app.workflow(workflow).nodes:
        if isinstance(node, SubWorkflow):
            yield from _executors(app, node.workflow, seen)
        elif isinstance(node, Executor):
            yield node


def with_parameters(app: Application, workflow: str, parameters: dict[str, Any]) -> Application:
    """A copy of ``app`` where every executor of ``workflow`` (nested ones included) that declares
    a parameter gets its run-time value. A parameter no executor declares is a :class:`RunError`."""
    copy = app.model_copy(deep=True)
    copy.root = app.root
    used: set[str] = set()
    for node in _executors(copy, workflow):
        for key in parameters:
            if key in node.parameters:
                node.parameters[key] = parameters[key]
                used.add(key)
    unused = sorted(set(parameters) - used)
    if unused:
        raise RunError(f"workflow {workflow!r} has no executor with the parameter(s) "
                       f"{', '.join(unused)}: declare them in a node's parameters "
                       f"(e.g. `parameters: {{{unused[0]}: null}}`) to receive them")
    return copy


def run_node(app: Application, workflow: str, node: str, **kwargs: Any):
    """Run one executor of ``workflow`` alone (without its upstream nodes), as a normal run."""
    return run_workflow(one_node_app(app, workflow, node), workflow=workflow, **kwargs)


class WorkflowRunner:
    """Runs workflows (or one executor) for the agents and the executor API.

    ``run`` calls ``note({"run_id": ...})`` as soon as the run has an id (so a crash can find
    it); ``resume`` finishes an interrupted run instead of starting it again.
    """

    def __init__(self, backend: Any = None):
        self.backend = backend

    def _target(self, app: Application, workflow: str, node: str | None, parameters: dict | None):
        target = one_node_app(app, workflow, node) if node else app
        return with_parameters(target, workflow, parameters) if parameters else target

    def run(self, app: Application, *, workflow: str, node: str | None = None,
            parameters: dict[str, Any] | None = None,
            note: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        noted: list[str] = []

        def progress(event) -> None:
            if note is not None and not noted:
                noted.append(event.run_id)
                note({"run_id": event.run_id})

        result = run_workflow(self._target(app, workflow, node, parameters), workflow=workflow,
                              backend=self.backend, progress=progress, handle_signals=False)
        return _summary(result, workflow, node)

    def resume(self, app: Application, run_id: str, *, workflow: str, node: str | None = None,
               parameters: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """The result of run ``run_id``: finished already, or resumed now (None: no such run)."""
        try:
            state = find_run(app.state_path, run_id)
        except RunNotFound:
            return None
        if state.data.get("status") == "succeeded":
            return {"run_id": run_id, "status": "succeeded", "workflow": workflow, "node": node,
                    "recovered": True}
        result = run_workflow(self._target(app, workflow, node, parameters), workflow=workflow,
                              backend=self.backend, resume=run_id, handle_signals=False)
        return {**_summary(result, workflow, node), "resumed": True}


def _summary(result: Any, workflow: str, node: str | None) -> dict[str, Any]:
    return {"run_id": result.run_id, "status": result.status, "workflow": workflow, "node": node,
            "mlflow_run_ids": sorted({n.mlflow_run_id for n in result.nodes.values()
                                      if n.mlflow_run_id})}
