"""The checker agent: runs a detector on new data, opens and joins drift episodes, settles them.

It checks each ``predictions.batch`` the tracker sends (or, with ``watch_predictions``, each
batch its own predictions sensor sees), reading the inputs from the prediction log:

* **drift** → the batch's samples join the model's active drift episode, or open one
  (:mod:`scanflow.agents.episodes`); the improver is told (``check.report`` with the episode).
  The checker files no labeling batch itself: the improver spends the episode's label budget
  across the whole pool.
* **no drift** while an episode is *settling* → the shifted data is accepted again: the episode
  is *resolved*.
* ``model.promoted`` with ``final`` for an episode (or ``episode.adapted``: the champion already
  copes with the shift; or ``episode.exhausted``: the label budget is spent, the episode's
  history asks a person to review it) → **settle**: the detector accepts the episode's samples
  as normal (:class:`scanflow.check.accepted.AcceptingDetector`), is saved over its file (the
  serving layer reloads it like a model) and the episode is *settling*. The same shift then
  raises no alarm and asks for no label; a different one does; clean data never did.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from ..actuators import ActionResult, Actuator, SendMessage
from ..agent import AgentDefinition
from ..config import AgentConfig
from ..episodes import OPEN, SETTLING, EpisodeStore
from ..messages import validate_payload
from ..rules import ActionRequest, Decision, Event, FunctionRule
from ..sensors import PredictionsSensor
from ..store import OutgoingMessage
from ._config import fmt

__all__ = ["CheckerConfig", "as_result", "checker_agent", "explain"]


class CheckerConfig(AgentConfig):
    """Settings of a checker agent (``config:`` of ``kind: checker``)."""

    detector: Any = Field(None, description="a fitted detector, 'pkg.mod:attr', or a .npz file "
                                            "saved with Detector.save (relative: app folder, "
                                            "then state folder)")
    detector_path: str | None = Field(None, description="deprecated: write the file name in `detector`")
    model: str | None = Field(None, description="the registered model whose episodes it opens "
                                                "(default: the application's served model)")
    settle: bool = Field(True, description="accept an episode's data once a model is promoted")
    reopen_after: int = Field(3, ge=1, description="drifted batches while settling that reopen it")
    confirm_after: int = Field(2, ge=1, description="drifted batches in a row that open an episode "
                               "when the evidence of one is not overwhelming (1: open at once)")
    open_at_once_p: float = Field(1e-6, gt=0, lt=1, description="a drifted batch with a p-value "
                                  "below this opens an episode on its own")
    watch_predictions: bool = Field(False, description="poll the prediction log itself")
    batch_size: int = Field(100, ge=1, description="with watch_predictions: predictions per check")
    poll_every: float = Field(1.0, gt=0, description="with watch_predictions: seconds between looks")

    def start_problems(self, app: Any) -> list[tuple[str, str, str]]:
        if self.detector is None and self.detector_path is None:
            return [("detector", "the checker needs a detector",
                     "set detector: detector.npz (a file saved with Detector.save) or "
                     "'pkg.mod:attr'")]
        return []


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
    parts = []
    if res.get("is_outlier") is not None:
        over = (f" over threshold {fmt(res['instance_threshold'])}"
                if res.get("instance_threshold") is not None else " flagged")
        parts.append(f"{n_flagged}/{n} samples{over}")
    if res.get("p_value") is not None:
        parts.append(f"p={fmt(res['p_value'])} {'<' if drift else '>='} {fmt(res.get('threshold'))}")
    elif res.get("score") is not None:
        parts.append(f"score {fmt(res['score'])} {'>' if drift else '<='} {fmt(res.get('threshold'))}")
    detector = f" ({res['detector']})" if res.get("detector") else ""
    return (f"{'drift' if drift else 'no drift'}{detector}: {', '.join(parts) or f'{n} samples'}"
            f" -> {'alert' if drift else 'normal'}")


class DetectorHolder:
    """The checker's detector: loaded once, extended when a shift is accepted, saved to its file."""

    def __init__(self, cfg: CheckerConfig):
        self.cfg = cfg
        self.detector: Any = None
        self.path: Path | None = None
        self.lock = threading.Lock()

    def _locate(self, ctx, name: str) -> Path:
        path = Path(name)
        if path.is_absolute():
            return path
        for base in ([Path(ctx.root)] if ctx.root is not None else []) + (
                [ctx.app.state_path] if ctx.app is not None else []):
            if (base / path).is_file():
                return base / path
        return path

    def get(self, ctx) -> Any:
        with self.lock:
            if self.detector is None:
                self.detector = self._load(ctx)
            return self.detector

    def _load(self, ctx) -> Any:
        # lazy: scanflow.check loads SciPy, which the agents package does not
        from scanflow.check import Detector

        given = ctx.resolve(self.cfg.detector) if self.cfg.detector is not None else None
        name = self.cfg.detector_path or (given if isinstance(given, str) else None)
        if name is None:
            return given
        self.path = self._locate(ctx, name)
        if not self.path.is_file():
            raise FileNotFoundError(f"agent {ctx.name!r}: detector file {name} not found (looked in "
                                    "the application and state folders): fit and save it first")
        return Detector.load(self.path)

    def accept(self, ctx, X, key: str) -> int:
        """Extend the detector with the accepted samples ``X`` (once per action ``key``);
        returns how many shifts it knows."""
        # lazy: scanflow.check loads SciPy, which the agents package does not
        from scanflow.check.accepted import AcceptingDetector

        extended = AcceptingDetector.wrap(self.get(ctx)).accept(X, key=key)
        if self.path is not None:
            tmp = self.path.with_name(self.path.stem + ".tmp.npz")
            extended.save(tmp)
            tmp.replace(self.path)  # atomic: readers see the old or the new detector
        with self.lock:
            self.detector = extended
        return extended.n_accepted


def _model_name(cfg: CheckerConfig, ctx) -> str:
    if cfg.model:
        return cfg.model
    if ctx.app is not None:
        for svc in ctx.app.services:
            if "model" in svc.parameters:
                return str(svc.parameters["model"])
        return ctx.app.name
    return "model"


class TrackEpisode(Actuator):
    """Open or join the model's drift episode with a drifted batch; report to ``talks_to``."""

    type = "episode"

    def run(self, ctx, params, key):
        episodes = EpisodeStore(ctx.store)
        ep = episodes.open_or_join(params["model"], params["prediction_ids"], key=key,
                                   reason=params.get("reason", ""), by=ctx.name)
        report = {**params["report"], "episode": ep.id, "episode_status": ep.status,
                  "pool_size": len(episodes.pool(ep.id))}
        payload = validate_payload("check.report", report)
        return ActionResult(result={"episode": ep.id, "status": ep.status},
                            messages=[OutgoingMessage(r, "check.report", payload) for r in ctx.talks_to])


class ResolveEpisode(Actuator):
    """Mark a settling episode resolved (its data is accepted again), or reopen it."""

    type = "episode_status"

    def run(self, ctx, params, key):
        ep = EpisodeStore(ctx.store).set_status(int(params["episode"]), params["status"], key=key,
                                                reason=params.get("reason", ""))
        return ActionResult(result={"episode": ep.id, "status": ep.status})


class SettleEpisode(Actuator):
    """Accept the episode's samples as normal in the detector, then mark it settling."""

    type = "settle"

    def __init__(self, name: str, holder: DetectorHolder, **defaults: Any):
        super().__init__(name, **defaults)
        self.holder = holder

    def run(self, ctx, params, key):
        episode = int(params["episode"])
        episodes = EpisodeStore(ctx.store)
        ids = episodes.pool(episode)
        X = ctx.services.predictions.prediction_inputs(ids)
        n = self.holder.accept(ctx, X, key)
        ep = episodes.set_status(episode, SETTLING, key=key,
                                 reason=f"accepted {len(ids)} samples as normal ({n} accepted shifts)")
        return ActionResult(result={"episode": episode, "status": ep.status, "accepted": len(ids)})


def _check_rule(cfg: CheckerConfig, holder: DetectorHolder):
    def check(event: Event, ctx) -> Decision:
        first, last = int(event.payload["first_id"]), int(event.payload["last_id"])
        log = ctx.services.predictions
        # Other services' predictions may sit between first and last (several models, one log).
        rows = log.predictions_between(first, last, service=event.payload.get("service"))
        if not rows:
            return Decision("normal", f"no predictions in {first}..{last} -> nothing to check")
        ids = [r.id for r in rows]
        res = as_result(_run_detector(holder.get(ctx), log.prediction_inputs(ids)))
        flags = res.get("is_outlier")
        drift = bool(res.get("is_drift"))
        n_flagged = int(np.sum(flags)) if flags is not None else (len(ids) if drift else 0)
        report = {"first_id": first, "last_id": last, "n_samples": len(ids), "n_flagged": n_flagged,
                  "fraction": n_flagged / len(ids), "is_drift": drift, "p_value": res.get("p_value"),
                  "threshold": res.get("threshold"), "detector": str(res.get("detector") or "")}
        inputs = {**{k: report[k] for k in ("first_id", "last_id", "n_samples", "n_flagged",
                                            "p_value", "threshold")}, "score": res.get("score")}
        reason = explain(res, len(ids), n_flagged)
        return _episode_decision(cfg, ctx, report, ids, reason, inputs)
    return check


def _run_detector(detector: Any, X: Any) -> Any:
    return detector.predict(X) if hasattr(detector, "predict") else detector(X)


def _episode_decision(cfg, ctx, report, ids, reason, inputs) -> Decision:
    model = _model_name(cfg, ctx)
    active = EpisodeStore(ctx.store).active(model)
    notify = ([ActionRequest("notify", {"to": list(ctx.talks_to), "kind": "check.report",
                                        "payload": report})] if ctx.talks_to else [])
    if not report["is_drift"]:
        if active is not None and active.status == SETTLING:
            return Decision("resolve", f"{reason}; episode {active.id} settled: its shift is accepted "
                            "-> resolved", inputs=inputs,
                            memory={"alarms_while_settling": 0, "drifted_in_a_row": 0},
                            actions=[ActionRequest("episode_status", {
                                "episode": active.id, "status": "resolved",
                                "reason": "the monitored data is accepted again"}), *notify])
        return Decision("normal", reason, inputs=inputs, actions=notify,
                        memory={"alarms_while_settling": 0, "drifted_in_a_row": 0})
    if active is not None and active.status == SETTLING:
        return _alarm_while_settling(cfg, ctx, active, report, ids, reason, inputs, model)
    if active is None and (watch := _marginal_alarm(cfg, ctx, report, reason, inputs)):
        return watch
    verb = f"join episode {active.id}" if active is not None else "open a drift episode"
    return Decision("alert", f"{reason}; {len(ids)} samples {verb}", inputs=inputs,
                    memory={"drifted_in_a_row": 0}, actions=[
        ActionRequest("episode", {"model": model, "prediction_ids": ids, "reason": reason,
                                  "report": report})])


def _marginal_alarm(cfg, ctx, report, reason, inputs) -> Decision | None:
    """A sequential confirmation before a new episode: a drifted batch whose p-value is not
    overwhelming opens one only when ``confirm_after`` batches in a row drift. Under no drift the
    chance of that is about alpha ** confirm_after per batch instead of alpha, so a long stream
    of batches tested one by one does not end in a false episode; a real shift (p far below
    ``open_at_once_p``) still opens one at its first batch. ``None``: open the episode now."""
    p_value = report.get("p_value")
    strong = p_value is None or float(p_value) < cfg.open_at_once_p
    drifted = int(ctx.memory.get("drifted_in_a_row", 0)) + 1
    if strong or drifted >= cfg.confirm_after:
        return None
    return Decision("watch", f"{reason}; {drifted}/{cfg.confirm_after} drifted batches in a row "
                    "before an episode opens -> watch", inputs=inputs,
                    memory={"drifted_in_a_row": drifted})


def _alarm_while_settling(cfg, ctx, active, report, ids, reason, inputs, model) -> Decision:
    alarms = int(ctx.memory.get("alarms_while_settling", 0)) + 1
    actions = [ActionRequest("episode", {"model": model, "prediction_ids": ids, "reason": reason,
                                         "report": report})]
    if alarms < cfg.reopen_after:
        return Decision("hold", f"{reason}; episode {active.id} is settling ({alarms}/"
                        f"{cfg.reopen_after} drifted batches before it reopens) -> hold",
                        inputs=inputs, memory={"alarms_while_settling": alarms})
    return Decision("reopen", f"{reason}; {alarms} drifted batches while episode {active.id} was "
                    "settling: the promoted model did not settle this shift -> reopen",
                    inputs=inputs, memory={"alarms_while_settling": 0}, actions=[
                        ActionRequest("episode_status", {"episode": active.id, "status": OPEN,
                                                         "reason": "drift continued"}), *actions])


def _promoted_rule(cfg: CheckerConfig):
    def promoted(event: Event, ctx) -> Decision | None:
        p = event.payload
        episode = p.get("episode")
        if event.kind in ("episode.adapted", "episode.exhausted"):
            return Decision("settle", f"{p.get('reason')} -> accept its samples as normal",
                            inputs={"episode": episode},
                            actions=[ActionRequest("settle", {"episode": episode})]) if cfg.settle else None
        if episode is None or not p.get("final") or p.get("rollback"):
            return None
        if not cfg.settle:
            return Decision("keep", f"{p['model']} v{p.get('version')} promoted for episode {episode}; "
                            "settling is off -> keep the detector", inputs={"episode": episode})
        return Decision("settle", f"{p['model']} v{p.get('version')} now handles episode {episode}'s "
                        "shift -> accept its samples as normal", inputs={"episode": episode},
                        actions=[ActionRequest("settle", {"episode": episode})])
    return promoted


def checker_agent(spec: Any, cfg: CheckerConfig) -> AgentDefinition:
    holder = DetectorHolder(cfg)
    sensors = ([PredictionsSensor("predictions", count=cfg.batch_size, poll_every=cfg.poll_every)]
               if cfg.watch_predictions else [])
    on = ["predictions.batch"] + (["sensor.predictions"] if sensors else [])
    definition = AgentDefinition(
        spec.name, kind="checker", sensors=sensors,
        rules=[FunctionRule("drift", on, _check_rule(cfg, holder)),
               FunctionRule("settle", ["model.promoted", "episode.adapted", "episode.exhausted"],
                            _promoted_rule(cfg))],
        actuators=[SendMessage("notify"), TrackEpisode("episode"), ResolveEpisode("episode_status"),
                   SettleEpisode("settle", holder)],
        talks_to=spec.talks_to, supervises=spec.supervises, config=cfg)
    definition.detector = holder
    return definition
