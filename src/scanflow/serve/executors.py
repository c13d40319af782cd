"""Run one executor of the application on demand, over HTTP.

    POST /executors/{workflow}/{node}/run   start it (alone, without its upstream nodes) -> run id
    GET  /executors/runs/{run_id}           the run's status and its nodes' statuses

The run goes through the same :class:`scanflow.run.WorkflowRunner` as an agent's
``run_workflow`` action (the scheduler, with tracking), in a background thread; the answer comes back as soon as the run has an
id, so a long executor never holds the request.
"""

from __future__ import annotations

import re
import threading
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path

from scanflow.run import RunNotFound, WorkflowRunner, find_run

from ..webapi import responses
from .schemas import ExecutorOut, ExecutorRunResponse, RunStatusOut

__all__ = ["executor_router"]

_RUN_ID = re.compile(r"[0-9a-f]{1,32}")
RunId = Annotated[str, Path(description="a run id, or a unique prefix of one (hexadecimal)",
                            json_schema_extra={"pattern": "^[0-9a-f]{1,32}$"})]


def _no_run(run_id: str, fix: str) -> HTTPException:
    """A 404 that names the id (shortened) and never the state folder's path."""
    shown = run_id if len(run_id) <= 40 else run_id[:40] + "..."
    return HTTPException(status_code=404, detail={"field": "run_id", "message": f"no run {shown!r}",
                                                  "fix": fix})


def _start(application: Any, workflow: str, node: str, threads: list[threading.Thread],
           start_timeout: float) -> ExecutorRunResponse:
    """Run the executor in a background thread; answer as soon as the run has an id (or failed
    before it had one)."""
    started = threading.Event()
    box: dict[str, Any] = {}

    def note(info: dict[str, Any]) -> None:
        box.update(info)
        started.set()

    def work() -> None:
        try:
            box["result"] = WorkflowRunner().run(application, workflow=workflow, node=node, note=note)
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


def executor_router(application: Any, *, start_timeout: float = 30.0) -> APIRouter:
    router = APIRouter(prefix="/executors", tags=["executors"])
    threads: list[threading.Thread] = []

    @router.get("", response_model=list[ExecutorOut], summary="The executors that can be run")
    def list_executors() -> list[ExecutorOut]:
        return [ExecutorOut(workflow=wf.name, node=ex.name, entrypoint=":".join(ex.entrypoint))
                for wf, ex in application.iter_executors()]

    @router.post("/{workflow}/{node}/run", response_model=ExecutorRunResponse, status_code=202,
                 summary="Run one executor now", responses=responses(404))
    def run(workflow: str, node: str) -> ExecutorRunResponse:
        try:
            application.workflow(workflow).node(node)
        except KeyError as exc:
            known = ", ".join(f"{wf.name}/{ex.name}" for wf, ex in application.iter_executors())
            raise HTTPException(status_code=404, detail={
                "field": "path", "message": str(exc).strip("'\""),
                "fix": f"run one of: {known or 'no executors defined'}"}) from None
        return _start(application, workflow, node, threads, start_timeout)

    @router.get("/runs/{run_id}", response_model=RunStatusOut,
                summary="Status of a run started here (or anywhere)", responses=responses(404))
    def status(run_id: RunId) -> RunStatusOut:
        # Checked before any file is touched: an id is hex, so it never leaves the runs folder.
        if not _RUN_ID.fullmatch(run_id):
            raise _no_run(run_id, "a run id is 1 to 32 hexadecimal characters")
        try:
            state = find_run(application.state_path, run_id)
        except RunNotFound as exc:
            if "ambiguous" in str(exc):  # names the matching ids only
                raise HTTPException(404, {"field": "run_id", "message": str(exc),
                                          "fix": "give more characters"}) from None
            raise _no_run(run_id, "GET /executors lists what can run; POST .../run starts one") from None
        return RunStatusOut(run_id=state.run_id, status=state.effective_status(),
                            nodes=state.statuses(), workflow=state.data.get("workflow"))

    return router
