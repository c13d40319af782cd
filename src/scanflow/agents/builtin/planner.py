"""The planner agent: evaluation gate, promotion, rollback; asks a person when configured.

* on ``model.candidate``: the gate decides. Pass: ``promote`` (or ``await_approval`` when
  ``approval_required``: a person answers with ``scanflow agents approve APP ID``); fail:
  ``reject``, with the gate's reason.
* on ``approval.decided``: ``promote`` or ``reject`` as the person said.
* after a promotion it watches the next ``watch_batches`` tracker batches: if
  ``watch_metric`` (from the tracker's batch counts) gets worse than just before the promotion
  by more than ``rollback_tolerance``, ``rollback``; otherwise ``keep``.

Config:

====================== ================== =====================================================
``model``              None               registered model name (default: the candidate's)
``approval_required``  False              ask a person before promoting
``gate``               (default)          ``fn(candidate) -> GateDecision | (promote, reason)``;
                                          default: ``scanflow.improve`` EvaluationGate
``gate_params``        {}                 settings of the default gate
``watch_batches``      3                  batches watched after a promotion (0: no rollback)
``watch_metric``       "mean_confidence"  ``mean_confidence`` (higher is better) or
                                          ``outlier_rate`` (lower is better)
``rollback_tolerance`` 0.05               how much worse counts as a regression
``promote`` / ``rollback`` / ``champion_version``  callables (default: scanflow.track)
====================== ================== =====================================================
"""

from __future__ import annotations

from typing import Any

from ..actuators import Promote, RequestApproval, Rollback, SendMessage
from ..agent import AgentDefinition
from ..rules import ActionRequest, Decision, Event, FunctionRule
from ._config import fmt, settings

DEFAULTS: dict[str, Any] = {
    "model": None, "approval_required": False, "gate_params": {}, "watch_batches": 3,
    "watch_metric": "mean_confidence", "rollback_tolerance": 0.05,
}
CALLABLES = ("gate", "promote", "rollback", "champion_version")
_LOWER_IS_BETTER = {"outlier_rate"}


def gate_verdict(out: Any) -> tuple[bool, str]:
    """``(promote, reason)`` from a GateDecision, a tuple or a dict."""
    if isinstance(out, tuple):
        return bool(out[0]), str(out[1])
    if isinstance(out, dict):
        return bool(out["promote"]), str(out.get("reason", ""))
    return bool(out.promote), str(out.reason)


def planner_agent(spec: Any, config: dict[str, Any]) -> AgentDefinition:
    cfg = settings(spec.name, "planner", config, DEFAULTS, CALLABLES)
    metric = cfg["watch_metric"]
    if metric not in ("mean_confidence", "outlier_rate"):
        raise ValueError(f"agent {spec.name!r} (planner): watch_metric {metric!r} is unknown: "
                         "use 'mean_confidence' or 'outlier_rate'")

    def promotion(ctx, candidate: dict[str, Any], why: str, inputs: dict[str, Any]) -> Decision:
        model = cfg["model"] or candidate["model"]
        watch = ({"model": model, "version": str(candidate.get("version")),
                  "baseline": ctx.memory.get("last_value"), "left": cfg["watch_batches"]}
                 if cfg["watch_batches"] else None)
        return Decision("promote", f"{why} -> promote {model} v{candidate.get('version')}",
                        actions=[ActionRequest("promote", {"model": model, "version": candidate.get("version"),
                                                           "notify": list(ctx.talks_to)})],
                        inputs=inputs, memory={"watch": watch})

    def gate(event: Event, ctx) -> Decision:
        cand = event.payload
        ok, why = gate_verdict(ctx.service("gate")(cand))
        inputs = {"model": cand["model"], "version": cand.get("version"), "metrics": cand.get("metrics"),
                  "baseline_metrics": cand.get("baseline_metrics")}
        if not ok:
            return Decision("reject", f"{why} -> reject {cand['model']} v{cand.get('version')}", inputs=inputs)
        if cfg["approval_required"]:
            return Decision("await_approval", f"{why} -> ask a person to approve {cand['model']} "
                            f"v{cand.get('version')}",
                            actions=[ActionRequest("request_approval", {
                                "subject": {"action": "promote", "candidate": cand},
                                "reason": why})], inputs=inputs)
        return promotion(ctx, cand, why, inputs)

    def approval(event: Event, ctx) -> Decision | None:
        p = event.payload
        subject = p.get("subject") or {}
        if subject.get("action") != "promote":
            return None
        cand = subject["candidate"]
        who = p.get("by") or "a person"
        inputs = {"approval_id": p["approval_id"], "by": who, "note": p.get("note")}
        if not p["approved"]:
            return Decision("reject", f"{who} rejected {cand['model']} v{cand.get('version')}"
                            + (f" ({p['note']})" if p.get("note") else ""), inputs=inputs)
        return promotion(ctx, cand, f"{who} approved (#{p['approval_id']})", inputs)

    def watch(event: Event, ctx) -> Decision | None:
        value = (event.payload.get("batch") or {}).get(metric)
        w = ctx.memory.get("watch")
        if value is None:
            return None
        if not w:
            return Decision("observe", "", memory={"last_value": value}, record=False)
        base = w.get("baseline")
        worse = base is not None and (value > base + cfg["rollback_tolerance"] if metric in _LOWER_IS_BETTER
                                      else value < base - cfg["rollback_tolerance"])
        inputs = {metric: value, "baseline": base, "version": w["version"]}
        if worse:
            return Decision("rollback", f"{metric} {fmt(value)} after promoting v{w['version']} is worse "
                            f"than {fmt(base)} before by more than {fmt(cfg['rollback_tolerance'])} "
                            f"-> roll back {w['model']}",
                            actions=[ActionRequest("rollback", {"model": w["model"],
                                                                "from_version": w["version"],
                                                                "notify": list(ctx.talks_to)})],
                            inputs=inputs, memory={"watch": None})
        left = int(w["left"]) - 1
        if left > 0:
            return Decision("observe", "", memory={"watch": {**w, "left": left}}, record=False)
        return Decision("keep", f"v{w['version']} held for {cfg['watch_batches']} batches: {metric} "
                        f"{fmt(value)} vs {fmt(base)} before (tolerance {fmt(cfg['rollback_tolerance'])}) -> keep",
                        inputs=inputs, memory={"watch": None, "last_value": value})

    return AgentDefinition(
        spec.name, kind="planner",
        rules=[FunctionRule("gate", "model.candidate", gate),
               FunctionRule("approval", "approval.decided", approval),
               FunctionRule("watch", "predictions.batch", watch)],
        actuators=[Promote("promote"), Rollback("rollback"), RequestApproval("request_approval"),
                   SendMessage("notify")],
        talks_to=spec.talks_to, supervises=spec.supervises, config=cfg)
