"""The tracker agent: watches predictions (and finished runs) and reports counts over a window.

Counts are over a sliding window (the last ``window`` predictions, or the last
``window_seconds``), never all-time totals, so that an old burst does not mask a new one.

Config (all optional):

==================== ========= ==============================================================
``batch_size``       100       predictions per event (the predictions sensor fires per batch)
``poll_every``       1.0       seconds between looks at the prediction log
``window``           500       window length in predictions
``window_seconds``   None      window length in seconds (instead of / besides ``window``)
``max_outlier_rate`` 0.2       alert when the window's flagged share (serve's inline check) is above
``min_confidence``   None      alert when the window's mean confidence is below
``service``          None      only predictions of this service
``experiments``      []        MLflow experiments whose finished runs are forwarded
``runs_poll_every``  10.0      seconds between looks at MLflow
==================== ========= ==============================================================

Decisions: ``normal`` / ``alert`` per batch (forwarded to ``talks_to`` as
``predictions.batch``), ``forward`` for new runs (``runs.finished``).
"""

from __future__ import annotations

from typing import Any

from ..actuators import SendMessage
from ..agent import AgentDefinition
from ..rules import ActionRequest, Decision, Event, FunctionRule
from ..sensors import PredictionsSensor, RunsSensor
from ._config import fmt, settings

DEFAULTS: dict[str, Any] = {
    "batch_size": 100, "poll_every": 1.0, "window": 500, "window_seconds": None,
    "max_outlier_rate": 0.2, "min_confidence": None, "service": None, "experiments": [],
    "runs_poll_every": 10.0,
}


def window_stats(rows: list[Any]) -> dict[str, Any]:
    """Counts over prediction records: flagged share, mean confidence, predictions per version."""
    flagged = [r.is_outlier for r in rows if r.is_outlier is not None]
    conf = [r.confidence for r in rows if r.confidence is not None]
    versions: dict[str, int] = {}
    for r in rows:
        versions[str(r.model_version)] = versions.get(str(r.model_version), 0) + 1
    return {
        "count": len(rows),
        "first_id": rows[0].id if rows else None,
        "last_id": rows[-1].id if rows else None,
        "n_checked": len(flagged),
        "n_outliers": int(sum(flagged)),
        "outlier_rate": (sum(flagged) / len(flagged)) if flagged else None,
        "mean_confidence": (sum(conf) / len(conf)) if conf else None,
        "versions": versions,
    }


def tracker_agent(spec: Any, config: dict[str, Any]) -> AgentDefinition:
    cfg = settings(spec.name, "tracker", config, DEFAULTS)
    sensors: list[Any] = [PredictionsSensor("predictions", count=cfg["batch_size"],
                                            poll_every=cfg["poll_every"], service=cfg["service"])]
    for i, exp in enumerate(cfg["experiments"] or []):
        sensors.append(RunsSensor(f"runs{i + 1 if i else ''}", experiment=exp,
                                  poll_every=cfg["runs_poll_every"]))

    def on_batch(event: Event, ctx) -> Decision:
        p = event.payload
        last = int(p["last_id"])
        window_rows = ctx.store.prediction_window(last, size=cfg["window"], seconds=cfg["window_seconds"])
        batch_rows = ctx.store.predictions_between(int(p["first_id"]), last)
        window, batch = window_stats(window_rows), window_stats(batch_rows)
        problems = []
        where = f"the last {window['count']} predictions"
        rate, conf = window["outlier_rate"], window["mean_confidence"]
        if rate is not None and cfg["max_outlier_rate"] is not None and rate > cfg["max_outlier_rate"]:
            problems.append(f"outlier rate {window['n_outliers']}/{window['n_checked']} = {fmt(rate)} "
                            f"over {where} > {fmt(cfg['max_outlier_rate'])}")
        if conf is not None and cfg["min_confidence"] is not None and conf < cfg["min_confidence"]:
            problems.append(f"mean confidence {fmt(conf)} over {where} < {fmt(cfg['min_confidence'])}")
        if problems:
            decision, reason = "alert", "; ".join(problems) + " -> alert"
        else:
            parts = [f"{batch['count']} new predictions"]
            if rate is not None:
                parts.append(f"outlier rate {fmt(rate)} over {where} <= {fmt(cfg['max_outlier_rate'])}")
            if conf is not None:
                parts.append(f"mean confidence {fmt(conf)}")
            decision, reason = "normal", ", ".join(parts) + " -> normal"
        payload = {"first_id": int(p["first_id"]), "last_id": last, "count": int(p["count"]),
                   "window": window, "batch": batch, "alert": decision == "alert"}
        actions = ([ActionRequest("notify", {"to": list(ctx.talks_to), "kind": "predictions.batch",
                                             "payload": payload})] if ctx.talks_to and p["count"] else [])
        return Decision(decision, reason, actions=actions,
                        inputs={"window": window, "batch": {k: batch[k] for k in ("count", "first_id", "last_id")}})

    def on_runs(event: Event, ctx) -> Decision | None:
        runs = event.payload.get("runs") or []
        if not runs:
            return Decision("normal", f"no new finished run in {event.payload.get('experiment')!r}")
        names = ", ".join(r.get("run_name") or r["run_id"][:8] for r in runs[:5])
        actions = ([ActionRequest("notify", {"to": list(ctx.talks_to), "kind": "runs.finished",
                                             "payload": {"experiment": event.payload["experiment"],
                                                         "runs": runs}})] if ctx.talks_to else [])
        return Decision("forward", f"{len(runs)} new finished run(s) in "
                        f"{event.payload['experiment']!r}: {names}", actions=actions,
                        inputs={"runs": [r["run_id"] for r in runs]})

    run_sensors = [s.kind for s in sensors if isinstance(s, RunsSensor)]
    rules = [FunctionRule("window", "sensor.predictions", on_batch)]
    if run_sensors:
        rules.append(FunctionRule("runs", run_sensors, on_runs))
    return AgentDefinition(spec.name, kind="tracker", sensors=sensors, rules=rules,
                           actuators=[SendMessage("notify")], talks_to=spec.talks_to,
                           supervises=spec.supervises, config=cfg)
