"""The improver agent: rules normal / alert / improve; starts the improvement when labels arrive.

* ``normal``: a ``check.report`` with few flagged samples and no drift;
* ``alert``: drift, or (if set) a flagged share at or above ``alert_fraction``; it remembers the labeling
  batch the checker opened and waits for its labels;
* ``improve``: when a labeling batch is finished or ``min_labels`` new labels arrived, it runs the
  improvement strategy (retrain, denoising wrapper...) and sends the candidate model to
  ``talks_to`` (the planner) as ``model.candidate``. Fewer labels: ``wait``.

Config:

==================== ========= ===============================================================
``alert_fraction``   None      flagged share that raises an alert even without the checker's
                               drift verdict (None: the verdict alone decides)
``min_labels``       20        new labels needed to start an improvement
``poll_every``       2.0       seconds between looks at the label store
``strategy``         "retrain" passed to the ``improve`` callable (scanflow.improve strategy name)
``strategy_params``  {}        its settings
``label_store``      None      label store URL (default: the state database)
``registered_model`` None      default improvement: the registered model (default: app name)
``train_data``       None      default improvement: ``() -> (X, y)`` the champion's training data
``eval_data``        None      default improvement: ``() -> {"clean": (X, y)}`` held-out data
``gate_params``      {}        default improvement: EvaluationGate settings for its metrics
``holdout``          0.3       default improvement: share of labels kept as the drifted slice
``improve``          (default) ``fn(request, key) -> candidate dict`` (``model``, ``version``,
                               ``metrics``, ``baseline_metrics``); must be idempotent by ``key``
``find_candidate``   (default) ``fn(key) -> candidate | None``: finds a candidate already made
==================== ========= ===============================================================
"""

from __future__ import annotations

from typing import Any

from ..actuators import ActionResult, Actuator, SendMessage
from ..agent import AgentDefinition
from ..messages import validate_payload
from ..rules import ActionRequest, Decision, Event, FunctionRule
from ..sensors import LabelsSensor
from ..store import OutgoingMessage
from ._config import fmt, settings

DEFAULTS: dict[str, Any] = {
    "alert_fraction": None, "min_labels": 20, "poll_every": 2.0, "strategy": "retrain",
    "strategy_params": {}, "label_store": None, "registered_model": None, "gate_params": {},
    "holdout": 0.3,
}
CALLABLES = ("improve", "find_candidate", "labels_progress", "train_data", "eval_data")


class ImproveModel(Actuator):
    """Run the improvement strategy and send the candidate to the planner(s)."""

    type = "improve"

    def _done(self, ctx, candidate: dict[str, Any]) -> ActionResult:
        payload = validate_payload("model.candidate", candidate)
        return ActionResult(result=payload, messages=[OutgoingMessage(r, "model.candidate", payload)
                                                      for r in ctx.talks_to])

    def run(self, ctx, params, key):
        candidate = ctx.service("improve")(self.params(params), key)
        return self._done(ctx, candidate)

    def recover(self, ctx, params, key):
        found = ctx.service("find_candidate")(key)
        return None if found is None else self._done(ctx, found)


def improver_agent(spec: Any, config: dict[str, Any]) -> AgentDefinition:
    cfg = settings(spec.name, "improver", config, DEFAULTS, CALLABLES)

    def assess(event: Event, ctx) -> Decision:
        p = event.payload
        frac, n, flagged = float(p["fraction"]), int(p["n_samples"]), int(p["n_flagged"])
        inputs = {"fraction": frac, "n_flagged": flagged, "n_samples": n, "is_drift": p["is_drift"],
                  "p_value": p.get("p_value")}
        drift = f", drift p={fmt(p['p_value'])}" if p["is_drift"] and p.get("p_value") is not None else (
            ", drift" if p["is_drift"] else "")
        limit = cfg["alert_fraction"]
        over = limit is not None and frac >= limit
        share = f"{flagged}/{n} flagged = {fmt(frac)}"
        if p["is_drift"] or over:
            batches = list(ctx.memory.get("open_batches", []))
            wait = ""
            if p.get("label_batch"):
                batches.append(p["label_batch"])
                wait = f"; waiting for labels of batch {p['label_batch']!r}"
            cmp = f" >= {fmt(limit)}" if over else ""
            return Decision("alert", f"{share}{cmp}{drift} -> alert{wait}", inputs=inputs,
                            memory={"open_batches": batches, "alerts": ctx.memory.get("alerts", 0) + 1})
        cmp = f" < {fmt(limit)}" if limit is not None else ""
        return Decision("normal", f"{share}{cmp}, no drift -> normal", inputs=inputs)

    def improve(event: Event, ctx) -> Decision:
        p = event.payload
        total = int(p.get("total_labeled", 0))
        used = int(ctx.memory.get("labels_used", 0))
        new = total - used
        finished = p.get("finished") or ([p["batch"]] if p.get("batch") else [])
        inputs = {"new_labels": new, "total_labeled": total, "finished_batches": finished}
        if new <= 0 and not finished:
            return Decision("wait", f"no new labels (total {total}) -> wait", inputs=inputs)
        if new < cfg["min_labels"] and not finished:
            return Decision("wait", f"{new} new labels < {cfg['min_labels']} needed -> wait", inputs=inputs)
        why = (f"labeling batch {', '.join(map(repr, finished))} finished ({total} labels in all)"
               if finished else f"{new} new labels >= {cfg['min_labels']}")
        open_batches = [b for b in ctx.memory.get("open_batches", []) if b not in finished]
        request = {"strategy": cfg["strategy"], "strategy_params": cfg["strategy_params"],
                   "total_labeled": total, "new_labels": new, "batches": finished,
                   "reason": why}
        return Decision("improve", f"{why} -> improve with strategy {cfg['strategy']!r}",
                        actions=[ActionRequest("improve", request)], inputs=inputs,
                        memory={"labels_used": total, "open_batches": open_batches})

    return AgentDefinition(
        spec.name, kind="improver",
        sensors=[LabelsSensor("labels", min_labels=cfg["min_labels"], poll_every=cfg["poll_every"])],
        rules=[FunctionRule("assess", "check.report", assess),
               FunctionRule("improve", ["sensor.labels", "labels.ready"], improve)],
        actuators=[ImproveModel("improve"), SendMessage("notify")],
        talks_to=spec.talks_to, supervises=spec.supervises, config=cfg)
