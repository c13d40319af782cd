"""The checker agent: runs a detector on new data and files informative samples for labeling.

It checks each ``predictions.batch`` the tracker sends (or, with ``watch_predictions``, each
batch its own predictions sensor sees), reading the inputs from the prediction log. On drift it
selects up to ``budget`` samples, opens a labeling request with them, and reports to
``talks_to`` (the improver) with a ``check.report`` either way.

Config:

===================== ============ ==========================================================
``detector``          (required)   a fitted detector (``.predict(X) -> CheckResult``), a function
                                   ``X -> CheckResult | dict``, or ``pkg.mod:attr``
``detector_path``     None         instead: a detector saved with ``Detector.save`` (``.npz``)
``budget``            20           samples to label per drifted batch
``selector``          "auto"       ``scanflow.improve`` selector name; ``auto`` = reconstruction
                                   for an autoencoder detector, else highest instance scores
``selector_params``   {}           its settings
``select``            None         or a function ``(X, budget, result, detector) -> positions``
``labeling``          True         open labeling requests
``label_store``       None         label store URL (default: the state database)
``watch_predictions`` False        poll the prediction log itself (when there is no tracker)
``batch_size``        100          with ``watch_predictions``: predictions per check
``poll_every``        1.0          with ``watch_predictions``: seconds between looks
``seed``              0            selection seed
===================== ============ ==========================================================
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..actuators import OpenLabelingRequest, SendMessage
from ..agent import AgentDefinition
from ..rules import ActionRequest, Decision, Event, FunctionRule
from ..sensors import PredictionsSensor
from ._config import fmt, settings

DEFAULTS: dict[str, Any] = {
    "detector_path": None, "budget": 20, "selector": "auto", "selector_params": {},
    "labeling": True, "label_store": None, "watch_predictions": False, "batch_size": 100,
    "poll_every": 1.0, "seed": 0,
}
CALLABLES = ("detector", "select", "label_enqueue", "label_batch_exists")


def as_result(result: Any) -> dict[str, Any]:
    """A detector's answer as a plain dict of the CheckResult fields."""
    if hasattr(result, "model_dump"):
        return result.model_dump(mode="json")
    if isinstance(result, dict):
        return dict(result)
    raise TypeError(f"the detector returned {type(result).__name__}: return a "
                    "scanflow.check.CheckResult or a dict with is_drift, score, threshold...")


def explain(res: dict[str, Any], n: int, n_flagged: int) -> str:
    """The reason sentence: "drift: 37/100 samples over threshold 0.042, p=1e-09 < 0.01 -> alert"."""
    drift = bool(res.get("is_drift"))
    head = "drift" if drift else "no drift"
    parts = []
    if res.get("is_outlier") is not None:
        over = f" over threshold {fmt(res['instance_threshold'])}" if res.get("instance_threshold") is not None else " flagged"
        parts.append(f"{n_flagged}/{n} samples{over}")
    if res.get("p_value") is not None:
        op = "<" if drift else ">="
        parts.append(f"p={fmt(res['p_value'])} {op} {fmt(res.get('threshold'))}")
    elif res.get("score") is not None:
        op = ">" if drift else "<="
        parts.append(f"score {fmt(res['score'])} {op} {fmt(res.get('threshold'))}")
    detector = f" ({res['detector']})" if res.get("detector") else ""
    return f"{head}{detector}: {', '.join(parts) or f'{n} samples'} -> {'alert' if drift else 'normal'}"


def checker_agent(spec: Any, config: dict[str, Any]) -> AgentDefinition:
    cfg = settings(spec.name, "checker", config, DEFAULTS, CALLABLES)
    sensors = ([PredictionsSensor("predictions", count=cfg["batch_size"], poll_every=cfg["poll_every"])]
               if cfg["watch_predictions"] else [])

    def check(event: Event, ctx) -> Decision:
        first, last = int(event.payload["first_id"]), int(event.payload["last_id"])
        rows = ctx.store.predictions_between(first, last)
        if not rows:
            return Decision("normal", f"no predictions in {first}..{last} -> nothing to check")
        ids = [r.id for r in rows]
        X = ctx.store.prediction_inputs(ids)
        detector = ctx.service("detector")
        res = as_result(detector.predict(X) if hasattr(detector, "predict") else detector(X))
        n = len(ids)
        flags = res.get("is_outlier")
        n_flagged = int(np.sum(flags)) if flags is not None else (n if res.get("is_drift") else 0)
        drift = bool(res.get("is_drift"))
        reason = explain(res, n, n_flagged)
        report = {"first_id": first, "last_id": last, "n_samples": n, "n_flagged": n_flagged,
                  "fraction": n_flagged / n, "is_drift": drift, "p_value": res.get("p_value"),
                  "threshold": res.get("threshold"), "detector": str(res.get("detector") or ""),
                  "selected_ids": [], "label_batch": None}
        actions = []
        if drift and cfg["budget"] > 0:
            positions = np.asarray(ctx.service("select")(X, int(cfg["budget"]), res, detector), dtype=int)
            positions = positions[: int(cfg["budget"])]
            selected = [ids[i] for i in positions]
            report["selected_ids"] = selected
            if selected and cfg["labeling"]:
                batch = f"{ctx.name}-{first}-{last}"
                report["label_batch"] = batch
                scores = res.get("instance_scores")
                guesses = [rows[i].prediction for i in positions]
                actions.append(ActionRequest("label_request", {
                    "prediction_ids": selected, "batch": batch,
                    "scores": [float(scores[i]) for i in positions] if scores else None,
                    "model_guess": guesses if all(isinstance(g, int) for g in guesses) else None}))
                reason += f"; {len(selected)} samples filed for labeling in batch {batch!r}"
        if ctx.talks_to:
            actions.append(ActionRequest("notify", {"to": list(ctx.talks_to), "kind": "check.report",
                                                    "payload": report}))
        inputs = {k: report[k] for k in ("first_id", "last_id", "n_samples", "n_flagged", "p_value",
                                         "threshold")}
        inputs["score"] = res.get("score")
        return Decision("alert" if drift else "normal", reason, actions=actions, inputs=inputs)

    on = ["predictions.batch"] + (["sensor.predictions"] if sensors else [])
    return AgentDefinition(
        spec.name, kind="checker", sensors=sensors, rules=[FunctionRule("drift", on, check)],
        actuators=[SendMessage("notify"),
                   OpenLabelingRequest("label_request")],
        talks_to=spec.talks_to, supervises=spec.supervises, config=cfg)

