"""The tracker agent: watches new data and predictions, reports counts over a window.

New data reaches the prediction log two ways: the prediction server logs every request, or —
without a server — the tracker *ingests* batch files dropped in its ``inbox`` folder (CSV,
Parquet, ``.npy``/``.npz``; a workflow can write them there), predicting them with the champion
when ``model`` is set. Either way, every ``batch_size`` new predictions become one event.

Counts are over a sliding window (the last ``window`` predictions, or the last
``window_seconds``), never all-time totals, so that an old burst does not mask a new one.
Decisions: ``normal`` / ``alert`` per batch (forwarded to ``talks_to`` as
``predictions.batch``), ``ingest`` per inbox file, ``forward`` for new runs (``runs.finished``).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ..actuators import SendMessage
from ..agent import AgentDefinition
from ..config import AgentConfig
from ..ingest import InboxSensor, IngestBatch
from ..rules import ActionRequest, Decision, Event, FunctionRule
from ..sensors import PredictionsSensor, RunsSensor
from ._config import fmt

__all__ = ["TrackerConfig", "tracker_agent", "window_stats"]


class TrackerConfig(AgentConfig):
    """Settings of a tracker agent (``config:`` of ``kind: tracker``)."""

    batch_size: int = Field(100, ge=1, description="predictions per event")
    poll_every: float = Field(1.0, gt=0, description="seconds between looks at the prediction log")
    window: int = Field(500, ge=1, description="window length in predictions")
    window_seconds: float | None = Field(None, gt=0, description="window length in seconds")
    max_outlier_rate: float | None = Field(0.2, ge=0, le=1,
                                           description="alert above this flagged share")
    min_confidence: float | None = Field(None, ge=0, le=1,
                                         description="alert below this mean confidence")
    service: str | None = Field(None, description="only predictions of this service")
    experiments: list[str] = Field(default_factory=list,
                                   description="MLflow experiments whose finished runs are forwarded")
    runs_poll_every: float = Field(10.0, gt=0, description="seconds between looks at MLflow")
    inbox: str | None = Field(None, description="folder of batch files to ingest (no server)")
    inbox_pattern: str = Field("*", description="which files of the inbox to ingest (glob)")
    model: str | None = Field(None, description="registered model that predicts ingested batches")


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


def _problems(cfg: TrackerConfig, window: dict[str, Any]) -> list[str]:
    where = f"the last {window['count']} predictions"
    rate, conf = window["outlier_rate"], window["mean_confidence"]
    out = []
    if rate is not None and cfg.max_outlier_rate is not None and rate > cfg.max_outlier_rate:
        out.append(f"outlier rate {window['n_outliers']}/{window['n_checked']} = {fmt(rate)} "
                   f"over {where} > {fmt(cfg.max_outlier_rate)}")
    if conf is not None and cfg.min_confidence is not None and conf < cfg.min_confidence:
        out.append(f"mean confidence {fmt(conf)} over {where} < {fmt(cfg.min_confidence)}")
    return out


def _normal_reason(cfg: TrackerConfig, window: dict[str, Any], batch: dict[str, Any]) -> str:
    where = f"the last {window['count']} predictions"
    parts = [f"{batch['count']} new predictions"]
    if window["outlier_rate"] is not None:
        parts.append(f"outlier rate {fmt(window['outlier_rate'])} over {where} <= "
                     f"{fmt(cfg.max_outlier_rate)}")
    if window["mean_confidence"] is not None:
        parts.append(f"mean confidence {fmt(window['mean_confidence'])}")
    return ", ".join(parts) + " -> normal"


def _on_batch(cfg: TrackerConfig):
    def rule(event: Event, ctx) -> Decision:
        p = event.payload
        last = int(p["last_id"])
        log = ctx.services.predictions
        window = window_stats(log.prediction_window(last, size=cfg.window, seconds=cfg.window_seconds,
                                                    service=cfg.service))
        batch = window_stats(log.predictions_between(int(p["first_id"]), last, service=cfg.service))
        problems = _problems(cfg, window)
        decision = "alert" if problems else "normal"
        reason = "; ".join(problems) + " -> alert" if problems else _normal_reason(cfg, window, batch)
        payload = {"first_id": int(p["first_id"]), "last_id": last, "count": int(p["count"]),
                   "window": window, "batch": batch, "alert": decision == "alert",
                   "service": cfg.service}
        actions = ([ActionRequest("notify", {"to": list(ctx.talks_to), "kind": "predictions.batch",
                                             "payload": payload})] if ctx.talks_to and p["count"] else [])
        return Decision(decision, reason, actions=actions, inputs={
            "window": window, "batch": {k: batch[k] for k in ("count", "first_id", "last_id")}})
    return rule


def _on_runs(event: Event, ctx) -> Decision:
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


def _on_file(event: Event, ctx) -> Decision:
    path = event.payload["path"]
    return Decision("ingest", f"new batch file {path} -> add it to the prediction log",
                    actions=[ActionRequest("ingest", {"path": path})], inputs={"path": path})


def tracker_agent(spec: Any, cfg: TrackerConfig) -> AgentDefinition:
    sensors: list[Any] = [PredictionsSensor("predictions", count=cfg.batch_size,
                                            poll_every=cfg.poll_every, service=cfg.service)]
    for i, exp in enumerate(cfg.experiments):
        sensors.append(RunsSensor(f"runs{i + 1 if i else ''}", experiment=exp,
                                  poll_every=cfg.runs_poll_every))
    rules = [FunctionRule("window", "sensor.predictions", _on_batch(cfg))]
    run_sensors = [s.kind for s in sensors if isinstance(s, RunsSensor)]
    if run_sensors:
        rules.append(FunctionRule("runs", run_sensors, _on_runs))
    actuators: list[Any] = [SendMessage("notify")]
    if cfg.inbox:
        sensors.append(InboxSensor("inbox", folder=cfg.inbox, pattern=cfg.inbox_pattern,
                                   poll_every=cfg.poll_every))
        rules.append(FunctionRule("ingest", "sensor.inbox", _on_file))
        actuators.append(IngestBatch("ingest", model=cfg.model, service=cfg.service or "inbox"))
    return AgentDefinition(spec.name, kind="tracker", sensors=sensors, rules=rules,
                           actuators=actuators, talks_to=spec.talks_to,
                           supervises=spec.supervises, config=cfg)
