"""One agent as its own FastAPI service (the deployed form; the embedded default runs them all
in one process).

Agents deployed apart share the state database (PostgreSQL in production): the outbox *is* the
transport, so a message sent by one agent's service is picked up by the other's runtime, with
the same idempotency keys and crash-safety as in one process. The HTTP API lets other
systems (and people) talk to the agent:

======================  ======================================================================
``GET  /health``        liveness
``GET  /agent``         sensors and their schedules, rules, actuators, paused, inbox size
``POST /messages``      put a typed message in the inbox (idempotent by ``key``), 202
``POST /trigger``       fire a sensor now (``{"sensor": name}``)
``POST /pause``         pause (persisted); ``POST /resume``
``GET  /decisions``     the history of decisions, each with its reason and actions
======================  ======================================================================

Run it with ``uvicorn`` (the deploy exporters do)::

    app = create_agent_app(load_app("scanflow.yaml"), "checker")     # doctest: +SKIP
    uvicorn.run(app, host="127.0.0.1", port=8010)                      # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel, Field

from scanflow.security import token_dependency
from scanflow.webapi import install, responses

from .messages import validate_payload
from .runtime import AgentRuntime

__all__ = ["create_agent_app"]


class MessageIn(BaseModel):
    key: str = Field(min_length=1, max_length=512, description="idempotency key")
    kind: str = Field(min_length=1, max_length=128)
    payload: dict[str, Any] = Field(default_factory=dict)
    sender: str = Field(default="external", max_length=128)


class MessageAccepted(BaseModel):
    id: int
    key: str
    created: bool


class TriggerIn(BaseModel):
    sensor: str | None = None


class TriggerOut(BaseModel):
    trigger_id: int
    agent: str
    sensor: str


class HealthOut(BaseModel):
    status: str = Field(description="'ok' while the service answers")
    agent: str


class StateOut(BaseModel):
    agent: str
    paused: bool


class SensorOut(BaseModel):
    name: str
    type: str
    schedule: str
    cursor: Any = None


class AgentOut(BaseModel):
    name: str
    kind: str
    supervises: list[str]
    talks_to: list[str]
    paused: bool
    inbox: int
    failed_messages: int
    sensors: list[SensorOut]
    rules: list[dict[str, Any]]
    actuators: list[dict[str, Any]]
    last_decision: dict[str, Any] | None = None
    error: str | None = None


class ActionOut(BaseModel):
    actuator: str
    params: dict[str, Any]
    status: str
    result: Any = None
    error: str | None = None


class DecisionOut(BaseModel):
    id: int
    time: float
    agent: str
    rule: str
    decision: str
    reason: str
    inputs: dict[str, Any]
    message: str
    actions: list[ActionOut]


def create_agent_app(app: Any, agent: str, state_url: str | None = None, *,
                     config: dict[str, Any] | None = None, poll_interval: float = 1.0,
                     run_agent: bool = True, token: str | None = None) -> FastAPI:
    """A FastAPI app serving ``agent`` of ``app`` (an Application); its runtime runs in the
    app's event loop for the lifetime of the server (``run_agent=False``: API only).

    Every route demands ``token`` (or ``$SCANFLOW_TOKEN``) when one is set, as every Scanflow
    service does (:mod:`scanflow.security`); bind it beyond loopback only with a token."""
    runtime = AgentRuntime(app, state_url, agents=[agent], config={agent: config or {}},
                           poll_interval=poll_interval)

    @contextlib.asynccontextmanager
    async def lifespan(_api: FastAPI):
        task = asyncio.create_task(runtime.serve()) if run_agent else None
        try:
            yield
        finally:
            if task is not None:
                runtime._request_stop()
                await task

    guard = token_dependency(token)
    api = FastAPI(title=f"Scanflow agent {agent}", lifespan=lifespan, dependencies=[Depends(guard)],
                  docs_url=None, redoc_url=None, openapi_url=None)
    install(api, guard=guard, token=token)
    api.state.runtime = runtime
    _add_message_routes(api, runtime, agent)
    _add_control_routes(api, runtime, agent)
    return api


def _add_message_routes(api: FastAPI, runtime: AgentRuntime, agent: str) -> None:
    """Health, the agent's description, its decisions, and messages posted to it."""

    @api.get("/health", response_model=HealthOut)
    def health() -> HealthOut:
        return HealthOut(status="ok", agent=agent)

    @api.get("/agent", response_model=AgentOut)
    def describe() -> dict[str, Any]:
        return runtime.describe()[0]

    @api.post("/messages", response_model=MessageAccepted, status_code=202)
    def post_message(msg: MessageIn) -> MessageAccepted:
        try:
            payload = validate_payload(msg.kind, msg.payload)
        except ValueError as exc:
            raise HTTPException(422, {"field": "payload", "message": str(exc),
                                      "fix": f"send the payload a {msg.kind!r} message takes"}) from None
        # Committed before we answer: a 202 means the message is safe.
        msg_id, created = runtime.store.send(msg.key, msg.sender, agent, msg.kind, payload)
        runtime.wake(agent)
        return MessageAccepted(id=msg_id, key=msg.key, created=created)

    @api.get("/decisions", response_model=list[DecisionOut])
    def decisions(limit: int = 50) -> list[dict[str, Any]]:
        return runtime.history(agent, limit=max(1, min(limit, 1000)))


def _add_control_routes(api: FastAPI, runtime: AgentRuntime, agent: str) -> None:
    """Trigger a sensor now, pause and resume the agent."""

    @api.post("/trigger", response_model=TriggerOut, status_code=202, responses=responses(404))
    def trigger(body: TriggerIn) -> TriggerOut:
        try:
            tid = runtime.trigger(agent, body.sensor)
        except (KeyError, ValueError) as exc:
            raise HTTPException(404, {"field": "sensor", "message": str(exc).strip("'\""),
                                      "fix": "GET /agent lists the agent's sensors"}) from None
        sensor = body.sensor or runtime.definitions[agent].sensors[0].name
        return TriggerOut(trigger_id=tid, agent=agent, sensor=sensor)

    @api.post("/pause", response_model=StateOut)
    def pause() -> StateOut:
        runtime.pause(agent)
        return StateOut(agent=agent, paused=True)

    @api.post("/resume", response_model=StateOut)
    def resume() -> StateOut:
        runtime.resume(agent)
        return StateOut(agent=agent, paused=False)
