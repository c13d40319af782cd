"""Actuators: how an agent acts. Run a workflow or one executor, message another agent, open a
labeling request, promote or roll back a model, ask a person to approve.

Contract (what makes a restarted agent repeat nothing):

* ``run(ctx, params, key)`` does the work and returns an :class:`ActionResult` (a JSON
  result and the messages to send). It must be idempotent by ``key``: the runtime commits the
  action ``started`` before calling it and ``done`` after, so a crash in between means the
  action may or may not have happened.
* ``recover(ctx, params, key)`` is called instead, on restart, for an action found
  ``started``: it checks whether the effect is already there (the MLflow run tagged with the
  key exists, the champion alias already points at the version, the labeling batch exists...)
  and returns its result, or ``None`` to let the runtime run it again.
* Messages an action sends are stored in the same commit as its ``done`` mark, so they are
  sent exactly once.

Heavy work goes through the agent's typed services (:mod:`scanflow.agents.services`:
``ctx.services.runner``, ``.registry``, ``.labels``, ``.predictions``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .messages import validate_payload
from .store import OutgoingMessage

if TYPE_CHECKING:
    from .context import AgentContext

__all__ = [
    "ActionResult",
    "Actuator",
    "CallableActuator",
    "OpenLabelingRequest",
    "Promote",
    "RequestApproval",
    "Rollback",
    "RunWorkflow",
    "SendMessage",
    "actuator_from_config",
]


@dataclass
class ActionResult:
    """What an action did (``result``, JSON data) and the messages it sends."""

    result: Any = None
    messages: list[OutgoingMessage] = field(default_factory=list)


class Actuator(ABC):
    """Base class. ``defaults`` are parameters merged under each action's own parameters."""

    type: str = "actuator"

    def __init__(self, name: str, **defaults: Any):
        self.name = name
        self.defaults = defaults

    def params(self, params: dict[str, Any]) -> dict[str, Any]:
        return {**self.defaults, **params}

    @abstractmethod
    def run(self, ctx: AgentContext, params: dict[str, Any], key: str) -> ActionResult:
        """Implemented by every subclass."""

    def recover(self, ctx: AgentContext, params: dict[str, Any], key: str) -> ActionResult | None:
        """Re-check an action interrupted by a crash; ``None`` means "not done: run it again"."""
        return None

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "defaults": self.defaults}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


def _need(params: dict[str, Any], name: str, actuator: Actuator) -> Any:
    if params.get(name) in (None, ""):
        raise ValueError(f"actuator {actuator.name!r} ({actuator.type}) needs the parameter "
                         f"{name!r}: set it in the rule's action or in the actuator's config")
    return params[name]


class SendMessage(Actuator):
    """Message one or more agents: params ``to`` (name or list), ``kind``, ``payload``."""

    type = "message"

    def run(self, ctx, params, key):
        params = self.params(params)
        to = _need(params, "to", self)
        kind = _need(params, "kind", self)
        payload = validate_payload(kind, params.get("payload") or {})
        recipients = [to] if isinstance(to, str) else list(to)
        return ActionResult(result={"to": recipients, "kind": kind},
                            messages=[OutgoingMessage(r, kind, payload) for r in recipients])


class RunWorkflow(Actuator):
    """Run a workflow of the application (or one executor of it, with ``node``), with optional
    run-time ``parameters``, through ``ctx.services.runner``.

    The runner calls ``note({"run_id": ...})`` as soon as the run has an id, which is committed
    to the action log. After a crash the run is looked up by that id: finished, it is the
    result; interrupted, it is resumed (``scanflow run --resume``), not started again.
    """

    type = "run_workflow"

    def run(self, ctx, params, key):
        params = self.params(params)
        workflow = _need(params, "workflow", self)
        out = ctx.services.runner.run(ctx.app, workflow=workflow, node=params.get("node"),
                                      parameters=params.get("parameters") or None,
                                      note=lambda info: ctx.store.note_action(key, info))
        return ActionResult(result=out)

    def recover(self, ctx, params, key):
        params = self.params(params)
        rec = ctx.store.action(key)
        run_id = ((rec.result or {}) if rec else {}).get("run_id")
        if not run_id:
            return None  # the crash came before the run started: running it is safe
        found = ctx.services.runner.resume(ctx.app, run_id, workflow=params["workflow"],
                                           node=params.get("node"),
                                           parameters=params.get("parameters") or None)
        return None if found is None else ActionResult(result=found)


def _for_labeling(X: Any) -> Any:
    """Images logged as floats 0..255 are stored as uint8 (what the labeling UI shows)."""
    if hasattr(X, "iloc"):
        return X
    X = np.asarray(X)
    if X.dtype.kind == "f" and X.ndim >= 3 and X.size and X.max() > 1.5:
        X = np.clip(np.rint(X), 0, 255).astype(np.uint8)
    return X


class OpenLabelingRequest(Actuator):
    """File samples for labeling: params ``prediction_ids`` (inputs read from the prediction
    log), ``batch``, optional ``scores``, ``model_guess`` and ``meta`` (added to each sample's).

    ``ctx.services.labels`` stores them in one commit; a restart that finds the batch does
    nothing.
    """

    type = "label_request"

    def run(self, ctx, params, key):
        params = self.params(params)
        ids = [int(i) for i in _need(params, "prediction_ids", self)]
        batch = params.get("batch") or key
        X = _for_labeling(ctx.services.predictions.prediction_inputs(ids))
        extra = params.get("meta") or {}
        # "index" is the sample's index in the data set the agent sees: the prediction log.
        meta = [{**extra, "prediction_id": i, "index": i} for i in ids]
        label_ids = ctx.services.labels.enqueue(X, batch=batch, meta=meta,
                                                scores=params.get("scores"),
                                                model_guess=params.get("model_guess"))
        return ActionResult(result={"batch": batch, "n_samples": len(ids),
                                    "label_ids": [int(i) for i in label_ids]})

    def recover(self, ctx, params, key):
        params = self.params(params)
        batch = params.get("batch") or key
        if ctx.services.labels.has_batch(batch):
            return ActionResult(result={"batch": batch, "recovered": True})
        return None


class Promote(Actuator):
    """Point the model's ``champion`` alias at ``version``: params ``model``, ``version``,
    ``notify`` (agents told with ``model.promoted``). Through ``ctx.services.registry``; a
    restart that finds the alias already moved does nothing."""

    type = "promote"

    def run(self, ctx, params, key):
        params = self.params(params)
        model, version = _need(params, "model", self), _need(params, "version", self)
        registry = ctx.services.registry
        previous = registry.champion_version(model)
        registry.promote(model, version)
        return ActionResult(result={"model": model, "version": str(version),
                                    "previous_version": None if previous is None else str(previous)},
                            messages=self._notices(params, model, version, previous))

    def _notices(self, params, model, version, previous, rollback=False):
        to = params.get("notify") or []
        to = [to] if isinstance(to, str) else to
        payload = validate_payload("model.promoted", {
            **(params.get("context") or {}),
            "model": model, "version": None if version is None else str(version),
            "previous_version": None if previous is None else str(previous), "rollback": rollback})
        return [OutgoingMessage(r, "model.promoted", payload) for r in to]

    def recover(self, ctx, params, key):
        params = self.params(params)
        current = ctx.services.registry.champion_version(params.get("model"))
        if current is not None and str(current) == str(params.get("version")):
            return ActionResult(result={"model": params.get("model"), "version": str(current),
                                        "recovered": True},
                                messages=self._notices(params, params.get("model"), current, None))
        return None


class Rollback(Promote):
    """Move ``champion`` back to the previous version: params ``model``, ``from_version``.
    The registry keeps the alias history; a restart that finds the champion already moved off
    ``from_version`` does nothing."""

    type = "rollback"

    def run(self, ctx, params, key):
        params = self.params(params)
        model = _need(params, "model", self)
        registry = ctx.services.registry
        current = registry.champion_version(model)
        expected = params.get("from_version")
        if expected is not None and current is not None and str(current) != str(expected):
            return ActionResult(result={"model": model, "skipped": True, "version": str(current),
                                        "why": f"champion is {current}, not {expected}"})
        restored = registry.rollback(model)
        return ActionResult(result={"model": model, "version": None if restored is None else str(restored),
                                    "previous_version": None if current is None else str(current)},
                            messages=self._notices(params, model, restored, current, rollback=True))

    def recover(self, ctx, params, key):
        params = self.params(params)
        current = ctx.services.registry.champion_version(params.get("model"))
        expected = params.get("from_version")
        if expected is not None and current is not None and str(current) != str(expected):
            return ActionResult(result={"model": params.get("model"), "version": str(current),
                                        "recovered": True},
                                messages=self._notices(params, params.get("model"), current, expected,
                                                       rollback=True))
        return None


class RequestApproval(Actuator):
    """Ask a person to approve ``subject`` (JSON); the answer comes back as an
    ``approval.decided`` message (``scanflow agents approve APP ID``)."""

    type = "request_approval"

    def run(self, ctx, params, key):
        params = self.params(params)
        rec = ctx.store.request_approval(key, ctx.name, params.get("subject") or {},
                                         params.get("reason") or "")
        return ActionResult(result={"approval_id": rec.id, "status": rec.status})


class CallableActuator(Actuator):
    """Any function ``fn(params, key=..., ctx=...) -> result`` (JSON) or :class:`ActionResult`;
    it must be idempotent by ``key``. ``check(params, key=..., ctx=...) -> result | None``
    optionally re-checks an interrupted action."""

    type = "callable"

    def __init__(self, name: str, fn: Callable[..., Any] | str, *,
                 check: Callable[..., Any] | str | None = None, **defaults: Any):
        super().__init__(name, **defaults)
        self.fn = fn
        self.check = check

    def run(self, ctx, params, key):
        fn = ctx.resolve(self.fn)
        out = fn(self.params(params), key=key, ctx=ctx)
        return out if isinstance(out, ActionResult) else ActionResult(result=out)

    def recover(self, ctx, params, key):
        if self.check is None:
            return None
        out = ctx.resolve(self.check)(self.params(params), key=key, ctx=ctx)
        if out is None:
            return None
        return out if isinstance(out, ActionResult) else ActionResult(result=out)


_TYPES: dict[str, type[Actuator]] = {
    cls.type: cls for cls in (SendMessage, RunWorkflow, OpenLabelingRequest, Promote, Rollback,
                              RequestApproval, CallableActuator)
}


def actuator_from_config(conf: dict[str, Any]) -> Actuator:
    """Build an actuator from an ``Agent.actuators`` entry of the application file.

    Keys: ``name``, ``type`` (message | run_workflow | label_request | promote | rollback |
    request_approval | callable) and default parameters (``to``, ``kind``, ``workflow``,
    ``node``, ``model``...). A ``callable`` actuator names its function: ``callable: pkg.mod:fn``.
    """
    conf = dict(conf)
    kind = conf.pop("type", None)
    name = conf.pop("name", None) or kind
    if kind not in _TYPES:
        raise ValueError(f"actuator {name!r}: unknown type {kind!r}; use one of {', '.join(_TYPES)}")
    if kind == "callable":
        fn = conf.pop("callable", None)
        if not fn:
            raise ValueError(f"actuator {name!r}: a callable actuator needs 'callable: pkg.mod:function'")
        return CallableActuator(name, fn, check=conf.pop("check", None), **conf)
    return _TYPES[kind](name, **conf)
