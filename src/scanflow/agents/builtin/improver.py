"""The improver agent: spends each drift episode's label budget and proposes better models.

On a ``check.report`` that opened or joined an episode it asks for the first round of labels
(``first_round`` samples chosen from the episode's whole pool: diverse and informative) and builds
a **zero-label** candidate (:mod:`scanflow.improve.zero_label`) that waits for those labels to be
judged. When a round's labeling batch is finished it makes a candidate from every label of the
episode — with the application's ``retrain_workflow`` or a built-in strategy — evaluates it (and
the zero-label candidate) against the champion on held-out slices, and sends the better one to
the planner (``model.candidate``), saying whether it is *final* (close enough to clean accuracy,
or the budget is spent). When the planner rejects it, or promotes one that is not final, the next
round asks for ``round_labels`` more, never past ``label_budget``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from scanflow.models import take

from ..actuators import ActionResult, Actuator, SendMessage, _for_labeling
from ..agent import AgentDefinition
from ..config import AgentConfig
from ..episodes import OPEN, EpisodeStore
from ..improvement import EpisodeImprovement, held_out_mask
from ..messages import validate_payload
from ..retrain import workflow_parameters
from ..rules import ActionRequest, Decision, Event, FunctionRule
from ..sensors import LabelsSensor
from ..store import OutgoingMessage
from .selection import choose

__all__ = ["ImproverConfig", "improver_agent"]

BATCH = re.compile(r"^episode-(\d+)-r(\d+)$")


class ImproverConfig(AgentConfig):
    """Settings of an improver agent (``config:`` of ``kind: improver``)."""

    model: str | None = Field(None, description="registered model (default: the served one)")
    label_budget: int = Field(100, ge=1, description="most labels asked for per episode")
    first_round: int = Field(20, ge=1, description="labels of the first round")
    round_labels: int = Field(40, ge=1, description="labels of each later round")
    selector: str = Field("auto", description="scanflow.improve selector; auto: random over the "
                                              "episode's pool (see agents/builtin/selection.py)")
    selector_params: dict[str, Any] = Field(default_factory=dict)
    strategy: str = Field("auto", description="built-in strategy (retrain, denoiser, combined)")
    strategy_params: dict[str, Any] = Field(default_factory=dict)
    retrain_workflow: str | None = Field(None, description="the application's workflow that "
                                                           "retrains the model instead")
    train_data: Any = Field(None, description="the champion's training data: a CSV / Parquet "
                                              "(label column `target`) or .npz file (relative: the "
                                              "app folder, then the state folder), {path, target}, "
                                              "or 'pkg.mod:function' returning (X, y)")
    eval_data: Any = Field(None, description="held-out clean data, same forms (default: a fifth "
                                             "of train_data, set aside)")
    holdout: float = Field(0.3, gt=0, lt=1, description="share of an episode's labels kept for "
                                                        "the gate")
    target_gap: float = Field(0.03, ge=0, description="a candidate within this of clean accuracy "
                                                      "on the shift is final")
    final_min_held_out: int = Field(15, ge=1, description="held-out labels needed before a "
                                                          "candidate can be final by accuracy")
    gate_params: dict[str, Any] = Field(default_factory=dict, description="EvaluationGate settings to "
                                                                    "choose between candidates "
                                                                    "(keep them as the planner's)")
    zero_label: str = Field("auto", description="auto, off, align, denoise or entropy")
    zero_label_params: dict[str, Any] = Field(default_factory=dict,
                                              description="settings of that method")
    zero_label_approval: bool = Field(False, description="send the zero-label candidate to the "
                                                         "planner at once, for a person to approve "
                                                         "before any label")
    detector: str | None = Field(None, description="detector file for the selector's features "
                                                   "(default: the state folder's detector.npz)")
    seed: int = 0
    poll_every: float = Field(2.0, gt=0, description="seconds between looks at the label store")
    trusted_types: list[str] = Field(default_factory=list, description="skops types to trust")
    trusted_architectures: list[str] = Field(default_factory=list,
                                             description="torch classes to trust")
    allow_pickle: bool = Field(False, description="load a pickled champion (trusted source only)")
    improvement: Any = Field(None, description="an object with improve(request, key) -> candidate "
                                               "and find(key) instead of the built-in work")

    def start_problems(self, app: Any) -> list[tuple[str, str, str]]:
        problems = []
        if self.improvement is None and self.retrain_workflow is None and self.train_data is None:
            problems.append(("train_data", "the built-in strategies replay the champion's training "
                             "data, and none is set", "set train_data: data/train.csv (with a "
                             "`target` column) or 'pkg.mod:function', or name a retrain_workflow"))
        if self.retrain_workflow and app is not None:
            problems += _workflow_problems(app, self.retrain_workflow)
        if self.retrain_workflow and self.eval_data is None and self.improvement is None:
            problems.append(("eval_data", "a retrain workflow needs held-out clean data for the gate",
                             "set eval_data: data/clean.csv or 'pkg.mod:function'"))
        return problems

    def model_name(self, ctx: Any) -> str:
        if self.model:
            return self.model
        if ctx.app is not None:
            for svc in ctx.app.services:
                if "model" in svc.parameters:
                    return str(svc.parameters["model"])
            return ctx.app.name
        return "model"

    def load_data(self, which: str, ctx: Any) -> tuple[Any, np.ndarray]:
        """``(X, y)`` of ``train_data`` / ``eval_data`` (see the field descriptions)."""
        if which == "eval_data" and self.eval_data is None or which == "train_data" and \
                self.eval_data is None and self.train_data is not None:
            X, y = _load(self.train_data, ctx)
            clean = held_out_mask(np.arange(len(y)), 0.2)
            keep = clean if which == "eval_data" else ~clean
            return take(X, np.flatnonzero(keep)), np.asarray(y)[keep]
        return _load(getattr(self, which), ctx)


def _workflow_problems(app: Any, workflow: str) -> list[tuple[str, str, str]]:
    names = [w.name for w in app.workflows]
    if workflow not in names:
        return [("retrain_workflow", f"no workflow {workflow!r}", f"workflows: {', '.join(names)}")]
    if "labeled_data" not in workflow_parameters(app, workflow):
        return [("retrain_workflow", f"no executor of {workflow!r} declares the parameter "
                 "labeled_data", "add `parameters: {labeled_data: null}` to the node that trains")]
    return []


def _load(value: Any, ctx: Any) -> tuple[Any, np.ndarray]:
    # lazy: scanflow.datasets loads SciPy, which the agents package does not
    from scanflow.datasets import load_labeled

    value = ctx.resolve(value)
    if callable(value):
        value = value()
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return value[0], np.asarray(value[1])
    spec = value if isinstance(value, dict) else {"path": value}
    return load_labeled(_locate(Path(spec["path"]), ctx), spec.get("target"))


def _locate(path: Path, ctx: Any) -> Path:
    """A relative path is looked up in the application folder, then in its state folder."""
    if path.is_absolute():
        return path
    bases = ([Path(ctx.root)] if ctx.root is not None else []) + (
        [ctx.app.state_path] if ctx.app is not None else [])
    for base in bases:
        if (base / path).exists():
            return base / path
    return (bases[-1] / path) if bases else path


# ----------------------------------------------------------------------------- actuators
def _champion(work: Any) -> tuple[str | None, Any]:
    """The champion to rank by uncertainty; without one (a custom improvement that loads no
    model, nothing registered yet) the selection goes by the data alone."""
    try:
        return work.champion()
    except (AttributeError, LookupError):
        return None, None


class ZeroLabelCandidate(Actuator):
    """Build the episode's zero-label candidate (recorded in the episode). It is judged on the
    first labels of the episode — or, with ``approve``, sent to the planner at once for a person
    to approve before any label."""

    type = "zero_label"

    def __init__(self, name: str, work: Any, approve: bool = False, **defaults: Any):
        super().__init__(name, **defaults)
        self.work = work
        self.approve = approve

    def run(self, ctx, params, key):
        episode = int(params["episode"])
        try:
            info = self.work.zero_label(episode, key)
        except Exception as exc:  # a failed first response must not block the labels
            info = {"error": f"{type(exc).__name__}: {exc}"}
        made = {"zero_label": info} if info and info.get("version") else {}
        EpisodeStore(ctx.store).update_info(episode, key=f"{key}/tried", zero_label_tried=True, **made)
        messages = []
        if self.approve and info and info.get("version"):
            payload = validate_payload("model.candidate", {
                "model": info.get("model") or self.work.model, "version": info["version"],
                "strategy": info["made_by"], "run_id": info.get("run_id"), "episode": episode,
                "zero_label": True, "needs_approval": True, "final": True, "notify": _notify(ctx, episode)})
            messages = [OutgoingMessage(r, "model.candidate", payload) for r in ctx.talks_to]
        return ActionResult(result=info or {"method": None, "why": "no zero-label method fits"},
                            messages=messages)


def _notify(ctx, episode: int) -> list[str]:
    """This improver and the checker of the episode: they hear the planner's verdict."""
    checker = EpisodeStore(ctx.store).get(episode).info.get("checker")
    return [ctx.name, *([checker] if checker else [])]


class RequestLabels(Actuator):
    """Choose samples of the episode's pool and file them as one labeling round."""

    type = "request_labels"

    def __init__(self, name: str, cfg: ImproverConfig, work: EpisodeImprovement, **defaults: Any):
        super().__init__(name, **defaults)
        self.cfg, self.work = cfg, work

    def run(self, ctx, params, key):
        episodes = EpisodeStore(ctx.store)
        ep = episodes.get(int(params["episode"]))
        episodes.set_budget(ep.id, self.cfg.label_budget)
        n = min(int(params["n"]), self.cfg.label_budget - ep.requested)
        pool = episodes.pool(ep.id, unrequested=True)[-5000:]
        version, champion = _champion(self.work)
        X = ctx.services.predictions.prediction_inputs(pool)
        positions, guesses = choose(self.cfg, ctx, champion, X, n, seed=self.cfg.seed + int(params["round"]))
        chosen = [pool[i] for i in positions]
        batch = f"episode-{ep.id}-r{params['round']}"
        if chosen and not ctx.services.labels.has_batch(batch):
            classes = None if champion is None or champion.classes_ is None else [
                c.item() if hasattr(c, "item") else c for c in champion.classes_]
            ctx.services.labels.enqueue(
                _for_labeling(take(X, positions)), batch=batch, model_guess=guesses, classes=classes,
                meta=[{"prediction_id": i, "index": i, "episode": ep.id} for i in chosen])
        episodes.mark_requested(ep.id, chosen, batch, key=key)
        return ActionResult(result={"episode": ep.id, "batch": batch, "requested": len(chosen),
                                    "champion": version})


class NoteEpisode(Actuator):
    """Add an event to the episode's history (params ``episode``, ``event``, and its details)."""

    type = "episode_note"

    def run(self, ctx, params, key):
        details = {k: v for k, v in params.items() if k not in ("episode", "event")}
        EpisodeStore(ctx.store).note(int(params["episode"]), params["event"], key=key, **details)
        return ActionResult(result={"episode": params["episode"], "event": params["event"]})


class ImproveModel(Actuator):
    """Make, evaluate and register a candidate from the episode's labels; send it on."""

    type = "improve"

    def __init__(self, name: str, work: Any, **defaults: Any):
        super().__init__(name, **defaults)
        self.work = work

    def _done(self, ctx, candidate: dict[str, Any]) -> ActionResult:
        payload = validate_payload("model.candidate", candidate)
        return ActionResult(result=payload, messages=[OutgoingMessage(r, "model.candidate", payload)
                                                      for r in ctx.talks_to])

    def run(self, ctx, params, key):
        return self._done(ctx, self.work.improve(self.params(params), key))

    def recover(self, ctx, params, key):
        found = self.work.find(key)
        return None if found is None else self._done(ctx, found)


# ----------------------------------------------------------------------------- rules
def _report_rule(cfg: ImproverConfig):
    def report(event: Event, ctx) -> Decision:
        p = event.payload
        episode = p.get("episode")
        if not p.get("is_drift") or episode is None:
            return Decision("normal", f"{p.get('n_flagged')}/{p.get('n_samples')} flagged, no drift "
                            "-> normal", inputs={"fraction": p.get("fraction")})
        ep = EpisodeStore(ctx.store).get(int(episode))
        inputs = {"episode": ep.id, "pool": p.get("pool_size"), "requested": ep.requested}
        if ep.status != OPEN:
            return Decision("wait", f"episode {ep.id} is {ep.status} -> wait", inputs=inputs)
        actions = _first_response(cfg, ep)
        if not actions:  # the common case while a shift goes on: not worth a history line each
            return Decision("wait", f"episode {ep.id}: {p.get('pool_size')} samples in its pool, "
                            f"{ep.requested} labels asked for -> wait for them", inputs=inputs,
                            record=False)
        what = {"request_labels": f"ask for {cfg.first_round} labels from its pool",
                "zero_label": "build a zero-label candidate"
                + (" for a person to approve" if cfg.zero_label_approval else "")}
        return Decision("respond", f"episode {ep.id}: " + " and ".join(what[a.actuator] for a in actions),
                        actions=actions, inputs=inputs)
    return report


def _first_response(cfg: ImproverConfig, ep) -> list[ActionRequest]:
    """What an open episode still lacks: its zero-label candidate and its first labels. With
    ``zero_label_approval`` the labels wait until a person has turned the candidate down (or
    no zero-label method fits)."""
    tried = ep.info.get("zero_label_tried")
    actions = []
    if cfg.zero_label != "off" and not tried:
        actions.append(ActionRequest("zero_label", {"episode": ep.id}))
    awaiting = (cfg.zero_label_approval and (ep.info.get("zero_label") or {}).get("version")
                and not ep.info.get("zero_label_rejected"))
    if not ep.rounds and not awaiting and not (cfg.zero_label_approval and actions):
        actions.insert(0, ActionRequest("request_labels", {
            "episode": ep.id, "round": 1, "n": min(cfg.first_round, cfg.label_budget)}))
    return actions


def _labels_rule(cfg: ImproverConfig):
    def labels(event: Event, ctx) -> Decision | None:
        finished = event.payload.get("finished") or []
        rounds = [(int(m[1]), int(m[2]), b) for b in finished if (m := BATCH.match(b))]
        if not rounds:
            return None
        episode, round_, batch = rounds[0]
        if EpisodeStore(ctx.store).get(episode).model != cfg.model_name(ctx):
            return None  # another model's round: several models share one label store
        return Decision("improve", f"labeling round {round_} of episode {episode} finished "
                        f"({batch}) -> improve with every label of the episode",
                        actions=[ActionRequest("improve", {"episode": episode, "round": round_})],
                        inputs={"episode": episode, "round": round_, "batch": batch})
    return labels


def _champion_copes(cfg: ImproverConfig, payload: dict[str, Any]) -> bool:
    """Whether the champion's own held-out accuracy on the shift is already within
    ``target_gap`` of its clean accuracy, on at least ``final_min_held_out`` held-out labels
    (then the episode needs no new model). The same evidence floor as a final candidate's:
    10 of 10 right happens one time in 12 to a model that is right 78 % of the time.

    >>> cfg = ImproverConfig(final_min_held_out=15)
    >>> base = {"drifted_accuracy": 1.0, "clean_accuracy": 0.98}
    >>> _champion_copes(cfg, {"baseline_metrics": {**base, "drifted_n": 10}})
    False
    >>> _champion_copes(cfg, {"baseline_metrics": {**base, "drifted_n": 22}})
    True
    """
    base = payload.get("baseline_metrics") or {}
    drifted, clean = base.get("drifted_accuracy"), base.get("clean_accuracy")
    enough = base.get("drifted_n", cfg.final_min_held_out) >= cfg.final_min_held_out
    return drifted is not None and clean is not None and enough and drifted >= clean - cfg.target_gap


def _adapted(ep, payload: dict[str, Any], inputs: dict[str, Any]) -> Decision:
    base = payload.get("baseline_metrics") or {}
    why = (f"the champion already handles episode {ep.id}'s shift (held-out accuracy "
           f"{base.get('drifted_accuracy', 0):.3f} vs {base.get('clean_accuracy', 0):.3f} on clean "
           "data) -> no new model needed; the checker may settle it")
    checker = ep.info.get("checker")
    actions = [ActionRequest("note", {"episode": ep.id, "event": "adapted", "detail": why})]
    if checker:
        actions.append(ActionRequest("notify", {"to": [checker], "kind": "episode.adapted", "payload": {
            "episode": ep.id, "model": payload.get("model", ""), "reason": why}}))
    return Decision("adapted", why, inputs=inputs, actions=actions)


def _decided_rule(cfg: ImproverConfig):
    def decided(event: Event, ctx) -> Decision | None:
        p = event.payload
        if p.get("episode") is None or p.get("rollback"):
            return None
        ep = EpisodeStore(ctx.store).get(int(p["episode"]))
        what = "promoted" if event.kind == "model.promoted" else "rejected"
        inputs = {"episode": ep.id, "version": p.get("version"), "requested": ep.requested}
        decision = _next_step(cfg, ep, p, what, inputs)
        decision.actions.insert(0, ActionRequest("note", {
            "episode": ep.id, "event": what, "version": str(p.get("version")),
            "final": bool(p.get("final")), "detail": p.get("reason", "")}))
        return decision
    return decided


def _next_step(cfg: ImproverConfig, ep, p: dict[str, Any], what: str, inputs: dict) -> Decision:
    """After the planner's verdict: done, adapted, exhausted, or another round of labels."""
    if what == "promoted" and p.get("final"):
        return Decision("done", f"v{p.get('version')} promoted as final for episode {ep.id}: no "
                        "more labels for this shift", inputs=inputs)
    if what == "rejected" and _champion_copes(cfg, p):
        return _adapted(ep, p, inputs)
    left = cfg.label_budget - ep.requested
    if ep.status != OPEN or left <= 0:
        return _exhausted(cfg, ep, p, what, inputs)
    n = min(cfg.round_labels if ep.rounds else cfg.first_round, left)
    return Decision("next_round", f"v{p.get('version')} {what} and not final -> ask for {n} more "
                    f"labels ({ep.requested} of {cfg.label_budget} used)", inputs=inputs,
                    actions=[ActionRequest("request_labels", {"episode": ep.id, "n": n,
                                                              "round": len(ep.rounds) + 1})])


def _exhausted(cfg: ImproverConfig, ep, p: dict[str, Any], what: str, inputs: dict) -> Decision:
    """The budget is spent without a final model: no more labels; the checker settles the
    episode with what is serving (so the same shift does not open a new episode and a new
    budget), and the episode's history says a person should look."""
    why = (f"v{p.get('version')} {what}; episode {ep.id} has spent its {cfg.label_budget} labels "
           "without a final model -> stop asking; settle with the model serving now (a person "
           f"should review it: scanflow episodes show APP {ep.id})")
    actions = [ActionRequest("note", {"episode": ep.id, "event": "exhausted",
                                      "detail": f"{ep.requested} labels asked for"})]
    checker = ep.info.get("checker")
    if checker and ep.status == OPEN:
        actions.append(ActionRequest("notify", {"to": [checker], "kind": "episode.exhausted", "payload": {
            "episode": ep.id, "model": p.get("model", ""), "reason": why}}))
    return Decision("exhausted", why, inputs=inputs, actions=actions)


def improver_agent(spec: Any, cfg: ImproverConfig) -> AgentDefinition:
    definition = AgentDefinition(spec.name, kind="improver", talks_to=spec.talks_to,
                                 supervises=spec.supervises, config=cfg)
    return _assemble(definition, cfg)


def _assemble(definition: AgentDefinition, cfg: ImproverConfig) -> AgentDefinition:
    holder: dict[str, Any] = {}

    class _Work:  # built when the agent first acts (it needs the runtime's context)
        def __getattr__(self, attr):
            return getattr(holder["work"], attr)

    work = _Work()
    definition.sensors = [LabelsSensor("labels", min_labels=10**9, poll_every=cfg.poll_every)]
    definition.rules = [FunctionRule("respond", "check.report", _report_rule(cfg)),
                        FunctionRule("improve", "sensor.labels", _labels_rule(cfg)),
                        FunctionRule("next", ["model.promoted", "model.rejected"], _decided_rule(cfg))]
    definition.actuators = {a.name: a for a in (
        ZeroLabelCandidate("zero_label", work, approve=cfg.zero_label_approval),
        RequestLabels("request_labels", cfg, work),
        ImproveModel("improve", work), NoteEpisode("note"), SendMessage("notify"))}
    definition.on_start = lambda ctx: holder.setdefault(
        "work", cfg.improvement if cfg.improvement is not None else EpisodeImprovement(cfg, ctx))
    return definition
