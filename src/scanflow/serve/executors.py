"""Run one executor of the application on demand, over HTTP.

    POST /executors/{workflow}/{node}/run   start it (alone, without its upstream nodes) -> run id
    GET  /executors/runs/{run_id}           the run's status and its nodes' statuses

The run goes through the same :class:`scanflow.run.WorkflowRunner` as an agent's
``run_workflow`` action (the scheduler, with tracking), in a background thread; the answer comes back as soon as the run has an
id, so a long executor never holds the request.
"""

from __future__ import annotations

import threading
from typing import Any

from fastapi import APIRouter, HTTPException

from scanflow.run import RunNotFound, WorkflowRunner, find_run

from .schemas import ExecutorOut, ExecutorRunResponse, RunStatusOut

__all__ = ["executor_router"]


def executor_router(application: Any, *, start_timeout: float = 30.0) -> APIRouter:
    router = APIRouter(prefix="/executors", tags=["executors"])
    threads: list[threading.Thread] = []

    @router.get("", response_model=list[ExecutorOut], summary="The executors that can be run")
    def list_executors() -> list[ExecutorOut]:
        return [ExecutorOut(workflow=wf.name, node=ex.name, entrypoint=":".join(ex.entrypoint))
                for wf, ex in application.iter_executors()]

    @router.post("/{workflow}/{node}/run", response_model=ExecutorRunResponse, status_code=202,
                 summary="Run one executor now")
    def run(workflow: str, node: str) -> ExecutorRunResponse:
        try:
            application.workflow(workflow).node(node)
        except KeyError as exc:
            known = ", ".join(f"{wf.name}/{ex.name}" for wf, ex in application.iter_executors())
            raise HTTPException(status_code=404, detail={
                "field": "path", "message": str(exc).strip("'\""),
                "fix": f"run one of: {known or 'no executors defined'}"}) from None
        started = threading.Event()
        box: dict[str, Any] = {}

        def note(info: dict[str, Any]) -> None:
            box.update(info)
            started.set()

        def work() -> None:
            try:
                box["result"] = WorkflowRunner().run(application, workflow=workflow, node=node,
                                                     note=note)
            except Exception as exc:  # reported through the run's status
                box["error"] = f"{type(exc).__name__}: {exc}"
            finally:
                started.set()

        thread = threading.Thread(target=work, name=f"scanflow-exec-{workflow}-{node}", daemon=True)
        threads.append(thread)
        thread.start()
        started.wait(start_timeout)
        if "error" in box and "run_id" not in box:
            return ExecutorRunResponse(workflow=workflow, node=node, status="failed", error=box["error"])
        return ExecutorRunResponse(workflow=workflow, node=node, run_id=box.get("run_id"),
                                   status=(box.get("result") or {}).get("status", "running"))

    @router.get("/runs/{run_id}", response_model=RunStatusOut,
                summary="Status of a run started here (or anywhere)")
    def status(run_id: str) -> RunStatusOut:
        try:
            state = find_run(application.state_path, run_id)
        except RunNotFound as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from None
        return RunStatusOut(run_id=state.run_id, status=state.effective_status(),
                            nodes=state.statuses(), workflow=state.data.get("workflow"))

    return router
