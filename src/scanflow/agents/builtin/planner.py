"""The planner agent: evaluation gate, promotion, rollback; asks a person when configured.

* on ``model.candidate``: the gate decides. Pass: ``promote`` (or ``await_approval`` when
  ``approval_required``: a person answers with ``scanflow agents approve APP ID``); fail:
  ``reject``, with the gate's reason. Either way the agents the candidate names in ``notify``
  (its improver, the checker of its episode) hear of it: ``model.promoted`` (with the episode
  and whether the candidate was final) or ``model.rejected``.
* on ``approval.decided``: ``promote`` or ``reject`` as the person said.
* after a promotion it watches the next ``watch_batches`` tracker batches: if ``watch_metric``
  (from the tracker's batch counts) gets worse than just before the promotion by more than
  ``rollback_tolerance``, ``rollback``; otherwise ``keep``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from scanflow.improve.gate import EvaluationGate

from ..actuators import Promote, RequestApproval, Rollback, SendMessage
from ..agent import AgentDefinition
from ..config import AgentConfig
from ..rules import ActionRequest, Decision, Event, FunctionRule
from ._config import fmt

__all__ = ["PlannerConfig", "gate_verdict", "planner_agent"]

_LOWER_IS_BETTER = {"outlier_rate"}


class PlannerConfig(AgentConfig):
    """Settings of a planner agent (``config:`` of ``kind: planner``)."""

    model: str | None = Field(None, description="registered model (default: the candidate's)")
    approval_required: bool = Field(False, description="ask a person before promoting")
    gate: Any = Field(None, description="fn(candidate) -> GateDecision | (promote, reason); "
                                        "default: scanflow.improve EvaluationGate on its metrics")
    gate_params: dict[str, Any] = Field(default_factory=dict,
                                        description="settings of the default EvaluationGate")
    watch_batches: int = Field(0, ge=0, description="batches watched after a promotion for a "
                                                    "rollback (0: off; see the module docstring)")
    watch_metric: Literal["mean_confidence", "outlier_rate"] = "mean_confidence"
    rollback_tolerance: float = Field(0.05, ge=0, description="how much worse counts as a regression")


def gate_verdict(out: Any) -> tuple[bool, str]:
    """``(promote, reason)`` from a GateDecision, a tuple or a dict."""
    if isinstance(out, tuple):
        return bool(out[0]), str(out[1])
    if isinstance(out, dict):
        return bool(out["promote"]), str(out.get("reason", ""))
    return bool(out.promote), str(out.reason)


def _gate(cfg: PlannerConfig, ctx) -> Any:
    if cfg.gate is not None:
        return ctx.resolve(cfg.gate)

    gate = EvaluationGate(**cfg.gate_params)
    return lambda cand: gate.decide(cand.get("baseline_metrics") or {}, cand.get("metrics") or {})


def _context(cand: dict[str, Any]) -> dict[str, Any]:
    return {"episode": cand.get("episode"), "final": bool(cand.get("final"))}


def _recipients(ctx, cand: dict[str, Any]) -> list[str]:
    return list(dict.fromkeys([*ctx.talks_to, *(cand.get("notify") or [])]))


def _promotion(cfg: PlannerConfig, ctx, cand: dict[str, Any], why: str, inputs: dict) -> Decision:
    model = cfg.model or cand["model"]
    watch = ({"model": model, "version": str(cand.get("version")),
              "baseline": ctx.memory.get("last_value"), "left": cfg.watch_batches}
             if cfg.watch_batches else None)
    final = " (final for episode {})".format(cand["episode"]) if cand.get("final") and cand.get("episode") else ""
    return Decision("promote", f"{why} -> promote {model} v{cand.get('version')}{final}",
                    actions=[ActionRequest("promote", {"model": model, "version": cand.get("version"),
                                                       "notify": _recipients(ctx, cand),
                                                       "context": _context(cand)})],
                    inputs=inputs, memory={"watch": watch})


def _rejection(ctx, cand: dict[str, Any], why: str, inputs: dict) -> Decision:
    to = _recipients(ctx, cand)
    payload = {"model": cand["model"], "version": cand.get("version"), "reason": why,
               "episode": cand.get("episode"), "metrics": cand.get("metrics") or {},
               "baseline_metrics": cand.get("baseline_metrics") or {}}
    actions = [ActionRequest("notify", {"to": to, "kind": "model.rejected", "payload": payload})] if to else []
    return Decision("reject", f"{why} -> reject {cand['model']} v{cand.get('version')}",
                    inputs=inputs, actions=actions)


def _gate_rule(cfg: PlannerConfig):
    def gate(event: Event, ctx) -> Decision:
        cand = event.payload
        if cand.get("needs_approval"):  # a zero-label candidate: no labels yet, a person decides
            return Decision("await_approval", f"zero-label candidate {cand['model']} v{cand.get('version')} "
                            f"({cand.get('strategy')}) for episode {cand.get('episode')}, not yet "
                            "checked on labels -> ask a person to approve it",
                            actions=[ActionRequest("request_approval", {
                                "subject": {"action": "promote", "candidate": cand},
                                "reason": "zero-label first response, no labeled evidence yet"})],
                            inputs={"model": cand["model"], "version": cand.get("version"),
                                    "episode": cand.get("episode")})
        ok, why = gate_verdict(_gate(cfg, ctx)(cand))
        inputs = {"model": cand["model"], "version": cand.get("version"), "metrics": cand.get("metrics"),
                  "baseline_metrics": cand.get("baseline_metrics"), "episode": cand.get("episode"),
                  "labels": cand.get("labels")}
        if not ok:
            return _rejection(ctx, cand, why, inputs)
        if cfg.approval_required:
            return Decision("await_approval", f"{why} -> ask a person to approve {cand['model']} "
                            f"v{cand.get('version')}",
                            actions=[ActionRequest("request_approval", {
                                "subject": {"action": "promote", "candidate": cand},
                                "reason": why})], inputs=inputs)
        return _promotion(cfg, ctx, cand, why, inputs)
    return gate


def _approval_rule(cfg: PlannerConfig):
    def approval(event: Event, ctx) -> Decision | None:
        p = event.payload
        subject = p.get("subject") or {}
        if subject.get("action") != "promote":
            return None
        cand = subject["candidate"]
        who = p.get("by") or "a person"
        inputs = {"approval_id": p["approval_id"], "by": who, "note": p.get("note")}
        if not p["approved"]:
            note = f" ({p['note']})" if p.get("note") else ""
            return _rejection(ctx, cand, f"{who} rejected it{note}", inputs)
        return _promotion(cfg, ctx, cand, f"{who} approved (#{p['approval_id']})", inputs)
    return approval


def _watch_rule(cfg: PlannerConfig):
    metric = cfg.watch_metric

    def watch(event: Event, ctx) -> Decision | None:
        value = (event.payload.get("batch") or {}).get(metric)
        w = ctx.memory.get("watch")
        if value is None:
            return None
        if not w:
            return Decision("observe", "", memory={"last_value": value}, record=False)
        base = w.get("baseline")
        worse = base is not None and (value > base + cfg.rollback_tolerance if metric in _LOWER_IS_BETTER
                                      else value < base - cfg.rollback_tolerance)
        inputs = {metric: value, "baseline": base, "version": w["version"]}
        if worse:
            return Decision("rollback", f"{metric} {fmt(value)} after promoting v{w['version']} is worse "
                            f"than {fmt(base)} before by more than {fmt(cfg.rollback_tolerance)} "
                            f"-> roll back {w['model']}",
                            actions=[ActionRequest("rollback", {"model": w["model"],
                                                                "from_version": w["version"],
                                                                "notify": list(ctx.talks_to)})],
                            inputs=inputs, memory={"watch": None})
        left = int(w["left"]) - 1
        if left > 0:
            return Decision("observe", "", memory={"watch": {**w, "left": left}}, record=False)
        return Decision("keep", f"v{w['version']} held for {cfg.watch_batches} batches: {metric} "
                        f"{fmt(value)} vs {fmt(base)} before (tolerance {fmt(cfg.rollback_tolerance)}) "
                        "-> keep", inputs=inputs, memory={"watch": None, "last_value": value})
    return watch


def planner_agent(spec: Any, cfg: PlannerConfig) -> AgentDefinition:
    return AgentDefinition(
        spec.name, kind="planner",
        rules=[FunctionRule("gate", "model.candidate", _gate_rule(cfg)),
               FunctionRule("approval", "approval.decided", _approval_rule(cfg)),
               FunctionRule("watch", "predictions.batch", _watch_rule(cfg))],
        actuators=[Promote("promote"), Rollback("rollback"), RequestApproval("request_approval"),
                   SendMessage("notify")],
        talks_to=spec.talks_to, supervises=spec.supervises, config=cfg)
