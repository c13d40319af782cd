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

Heavy work goes through callables (``runner``, ``promote``, ``enqueue``...) given to the
constructor or found in the agent's config/services; the defaults call scanflow.run,
scanflow.track and scanflow.improve lazily (:mod:`scanflow.agents.adapters`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .messages import validate_payload
from .store import OutgoingMessage

if TYPE_CHECKING:
    from .agent import AgentContext

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
    """Run a workflow of the application (or one executor of it, with ``node``).

    ``runner(app, workflow=..., node=..., parameters=..., key=..., note=...) -> dict`` runs it
    and returns at least ``{"run_id", "status"}``; it calls ``note({"run_id": ...})`` as soon as
    the run has an id, which is committed to the action log. After a crash,
    ``finder(app, key) -> dict | None`` looks that run up: finished, it is the result;
    interrupted, it is resumed (``scanflow run --resume``), not started again.
    """

    type = "run_workflow"

    def __init__(self, name: str = "run_workflow", *, runner: Callable[..., dict] | None = None,
                 finder: Callable[..., dict | None] | None = None, **defaults: Any):
        super().__init__(name, **defaults)
        self.runner = runner
        self.finder = finder

    def run(self, ctx, params, key):
        params = self.params(params)
        workflow = _need(params, "workflow", self)
        runner = self.runner or ctx.service("run_workflow")
        out = runner(ctx.app, workflow=workflow, node=params.get("node"),
                     parameters=params.get("parameters") or {}, key=key,
                     note=lambda info: ctx.store.note_action(key, info))
        return ActionResult(result=out)

    def recover(self, ctx, params, key):
        finder = self.finder or ctx.service("find_run")
        found = finder(ctx.app, key)
        return None if found is None else ActionResult(result=found)


class OpenLabelingRequest(Actuator):
    """File samples for labeling: params ``prediction_ids`` (inputs read from the prediction
    log), ``batch``, optional ``scores`` and ``model_guess``.

    ``enqueue(X, batch=..., meta=..., scores=..., model_guess=...) -> ids`` writes them in one
    commit; ``batch_exists(batch) -> bool`` lets a restart see that it already happened.
    """

    type = "label_request"

    def __init__(self, name: str = "label_request", *, enqueue: Callable[..., list[int]] | None = None,
                 batch_exists: Callable[[str], bool] | None = None, **defaults: Any):
        super().__init__(name, **defaults)
        self.enqueue = enqueue
        self.batch_exists = batch_exists

    def run(self, ctx, params, key):
        params = self.params(params)
        ids = [int(i) for i in _need(params, "prediction_ids", self)]
        batch = params.get("batch") or key
        X = ctx.store.prediction_inputs(ids)
        enqueue = self.enqueue or ctx.service("label_enqueue")
        # "index" is the sample's index in the data set the agent sees: the prediction log.
        label_ids = enqueue(X, batch=batch, meta=[{"prediction_id": i, "index": i} for i in ids],
                            scores=params.get("scores"), model_guess=params.get("model_guess"))
        return ActionResult(result={"batch": batch, "n_samples": len(ids),
                                    "label_ids": [int(i) for i in label_ids]})

    def recover(self, ctx, params, key):
        params = self.params(params)
        batch = params.get("batch") or key
        exists = self.batch_exists or ctx.service("label_batch_exists")
        if exists(batch):
            return ActionResult(result={"batch": batch, "recovered": True})
        return None


class Promote(Actuator):
    """Point the model's ``champion`` alias at ``version``: params ``model``, ``version``.

    ``promote(model, version)`` moves the alias; ``current(model) -> version | None`` reads it
    (a restart that finds the alias already moved does nothing).
    """

    type = "promote"

    def __init__(self, name: str = "promote", *, promote: Callable[..., Any] | None = None,
                 current: Callable[[str], Any] | None = None, **defaults: Any):
        super().__init__(name, **defaults)
        self.promote = promote
        self.current = current

    def run(self, ctx, params, key):
        params = self.params(params)
        model, version = _need(params, "model", self), _need(params, "version", self)
        current = self.current or ctx.service("champion_version")
        previous = current(model)
        (self.promote or ctx.service("promote"))(model, version)
        return ActionResult(result={"model": model, "version": str(version),
                                    "previous_version": None if previous is None else str(previous)},
                            messages=self._notices(params, model, version, previous))

    def _notices(self, params, model, version, previous, rollback=False):
        to = params.get("notify") or []
        to = [to] if isinstance(to, str) else to
        payload = validate_payload("model.promoted", {
            "model": model, "version": None if version is None else str(version),
            "previous_version": None if previous is None else str(previous), "rollback": rollback})
        return [OutgoingMessage(r, "model.promoted", payload) for r in to]

    def recover(self, ctx, params, key):
        params = self.params(params)
        current = (self.current or ctx.service("champion_version"))(params.get("model"))
        if current is not None and str(current) == str(params.get("version")):
            return ActionResult(result={"model": params.get("model"), "version": str(current),
                                        "recovered": True},
                                messages=self._notices(params, params.get("model"), current, None))
        return None


class Rollback(Promote):
    """Move ``champion`` back to the previous version: params ``model``, ``from_version``.

    ``rollback(model) -> version`` does it (scanflow.track keeps the alias history); a restart
    that finds the champion already moved off ``from_version`` does nothing.
    """

    type = "rollback"

    def __init__(self, name: str = "rollback", *, rollback: Callable[[str], Any] | None = None,
                 current: Callable[[str], Any] | None = None, **defaults: Any):
        Actuator.__init__(self, name, **defaults)
        self.rollback = rollback
        self.current = current

    def run(self, ctx, params, key):
        params = self.params(params)
        model = _need(params, "model", self)
        current = (self.current or ctx.service("champion_version"))(model)
        expected = params.get("from_version")
        if expected is not None and current is not None and str(current) != str(expected):
            return ActionResult(result={"model": model, "skipped": True, "version": str(current),
                                        "why": f"champion is {current}, not {expected}"})
        restored = (self.rollback or ctx.service("rollback"))(model)
        return ActionResult(result={"model": model, "version": None if restored is None else str(restored),
                                    "previous_version": None if current is None else str(current)},
                            messages=self._notices(params, model, restored, current, rollback=True))

    def recover(self, ctx, params, key):
        params = self.params(params)
        current = (self.current or ctx.service("champion_version"))(params.get("model"))
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
