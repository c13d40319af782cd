"""The crash contract every actuator keeps, checked on each one: the types of
``scanflow.agents.actuators._TYPES`` and the actuators of the four built-in agents.

The runtime commits an action ``started``, calls the actuator, then commits ``done`` with the
messages the action sends. The process may die in between. Each case here runs an action on
the real runtime, the real ``StateStore`` (SQLite) and the real ``LabelStore``, with the small
stand-ins of agent_fakes.py for the model registry, and kills it right after the effect, before
``done``. A restarted runtime with fresh actuators then handles the message again, and:

* the effect happened once (counted where it lands: the registry's ledger, the label store, the
  episodes, the prediction log...), and the action is ``done``;
* the messages the action sends were sent once;
* the actuator took the path the suite declares for it (``RECOVERY``): ``finds`` — its
  ``recover()`` found the effect and returned it; ``reruns`` — ``recover()`` returned ``None``
  (nothing to look for) and running it again changed nothing, because everything it does is
  keyed by the action.

A new actuator type is in the suite the moment it is registered or used by a built-in agent:
the suite fails until ``SCENARIOS`` and ``RECOVERY`` say how to exercise it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from agent_fakes import Ledger, Registry, accuracy_gate, images

from scanflow.agents import AgentDefinition, AgentRuntime, EpisodeStore, StateStore
from scanflow.agents.actuators import _TYPES, ActionResult, Actuator, CallableActuator
from scanflow.agents.agent import build_agent
from scanflow.agents.rules import ActionRequest, Decision, FunctionRule
from scanflow.app import Agent
from scanflow.check import get_detector
from scanflow.check.accepted import AcceptingDetector
from scanflow.improve.labels import LabelStore

BUILTIN = ("tracker", "checker", "improver", "planner")
TALKS_TO = {"tracker": ["checker"], "checker": ["improver"], "improver": ["planner"],
            "planner": ["improver"], "ops": ["watcher"]}


class Crash(BaseException):
    """The agents' process dies here (a BaseException: nothing in the runtime catches it)."""


# -- stand-ins for the parts an actuator acts on ------------------------------------------------

class Runner:
    """A workflow runner on the ledger: ``run`` notes the run id as soon as the run exists."""

    def __init__(self, ledger: Ledger):
        self.ledger = ledger

    def run(self, app, *, workflow, node=None, parameters=None, note=None):
        run_id = f"run-{len(self.ledger.rows('run')) + 1}"
        if note is not None:
            note({"run_id": run_id})
        self.ledger.add("run", run_id, {"workflow": workflow})
        return {"run_id": run_id, "status": "succeeded"}

    def resume(self, app, run_id, *, workflow, node=None, parameters=None):
        if any(key == run_id for _, key, _ in self.ledger.rows("run")):
            return {"run_id": run_id, "status": "succeeded", "recovered": True}
        return None


class Improvement(Registry):
    """agent_fakes' registry, whose zero-label candidate is also a version (idempotent by key)."""

    def zero_label(self, episode: int, key: str) -> dict[str, Any]:
        for _, k, info in self.ledger.rows("zero_label"):
            if k == key:
                return info
        info = {"model": self.model, "version": f"zl{episode}", "made_by": "zero-label:fake",
                "run_id": None}
        self.ledger.add("zero_label", key, info)
        return info


class QuickAccepting(AcceptingDetector):
    """An accepting detector that records the shifts it accepts without training an autoencoder
    (what settling costs is not what this suite checks)."""

    def _reference(self, data):
        return len(data)


def callable_actuator(ledger: Ledger) -> CallableActuator:
    """A callable actuator: one ledger row per call (no unique key: a repeat would show), and a
    check that finds the row of an action."""
    def act(params, key, ctx):
        ledger.add("callable", key, params)
        return {"done": key}

    def check(params, key, ctx):
        found = any(k == key for _, k, _ in ledger.rows("callable"))
        return {"done": key, "recovered": True} if found else None

    return CallableActuator("callable", act, check=check)


def builtin_agent(kind: str, *, inbox: Any, improvement: Any, detector: Any) -> AgentDefinition:
    """A built-in agent as a (re)started process builds it: fresh actuators, the same config."""
    config = {"tracker": {"inbox": str(inbox)},
              "checker": {"detector": detector},
              "improver": {"improvement": improvement, "zero_label_approval": True,
                           "first_round": 4, "label_budget": 8},
              "planner": {"gate": accuracy_gate, "model": "clf"}}[kind]
    return build_agent(Agent(name=kind, kind=kind, talks_to=TALKS_TO[kind]), config)


class World:
    """Everything the actions of one test act on, shared by the runtime and its restart."""

    def __init__(self, root: Path):
        self.root = root
        self.url = f"sqlite:///{root / 'state.db'}"
        self.store = StateStore(self.url)
        self.labels = LabelStore(root / "labels.db")
        self.ledger = Ledger(root / "ledger.db")
        self.registry = Improvement(self.ledger, model="clf")
        self.runner = Runner(self.ledger)
        self.inbox = root / "inbox"
        self.inbox.mkdir()
        reference = images(60, seed=1).astype(np.uint8)
        self.detector = QuickAccepting.wrap(get_detector("ks").fit(reference))

    def services(self) -> dict[str, Any]:
        return {"registry": self.registry, "labels": self.labels, "runner": self.runner}

    def builtin(self, kind: str) -> AgentDefinition:
        return builtin_agent(kind, inbox=self.inbox, improvement=self.registry, detector=self.detector)

    def predictions(self, n: int, shift: float = 0.0, seed: int = 2) -> list[int]:
        X = images(n, shift=shift, seed=seed).astype(np.uint8)
        return [int(i) for i in self.store.record_predictions("api", X, [0] * n)]

    def episode(self) -> int:
        ids = self.predictions(12, shift=120)
        return EpisodeStore(self.store).open_or_join("clf", ids, key="setup", by="checker").id

    def events(self, episode: int, event: str) -> int:
        return sum(e.get("event") == event for e in EpisodeStore(self.store).get(episode).info.get("events", []))


# -- how each actuator type is exercised --------------------------------------------------------

@dataclass
class Scenario:
    """``params(world)`` sets the stage and gives the action's parameters; ``effect(world, p)``
    measures what the action did (None: its only effect is the messages it sends)."""

    params: Callable[[World], dict[str, Any]]
    effect: Callable[[World, dict[str, Any]], Any] | None = None


def _report(ids: list[int]) -> dict[str, Any]:
    return {"first_id": ids[0], "last_id": ids[-1], "n_samples": len(ids), "n_flagged": len(ids),
            "fraction": 1.0, "is_drift": True}


def _batch(w: World) -> Path:
    path = w.inbox / "monday.npy"
    np.save(path, images(5, seed=4).astype(np.uint8))
    return path


def _promoted(w: World) -> dict[str, Any]:
    w.registry.promote("clf", "1")
    w.registry.promote("clf", "2")
    return {"model": "clf", "from_version": "2", "notify": ["watcher"]}


SCENARIOS: dict[str, Scenario] = {
    "message": Scenario(lambda w: {"to": "watcher", "kind": "note", "payload": {"n": 1}}),
    "run_workflow": Scenario(lambda w: {"workflow": "retrain"}, lambda w, p: len(w.ledger.rows("run"))),
    "label_request": Scenario(lambda w: {"prediction_ids": w.predictions(3), "batch": "b1"},
                              lambda w, p: w.labels.batch_progress()),
    "promote": Scenario(lambda w: {"model": "clf", "version": "3", "notify": ["watcher"]},
                        lambda w, p: len(w.ledger.rows("promote"))),
    "rollback": Scenario(_promoted, lambda w, p: len(w.ledger.rows("rollback"))),
    "request_approval": Scenario(lambda w: {"subject": {"version": "3"}, "reason": "a person decides"},
                                 lambda w, p: len(w.store.approvals())),
    "callable": Scenario(lambda w: {"n": 1}, lambda w, p: len(w.ledger.rows("callable"))),
    "episode": Scenario(
        lambda w: {"model": "clf", "prediction_ids": (ids := w.predictions(6, shift=120)), "reason": "drift",
                   "report": _report(ids)},
        lambda w, p: [(e.id, e.status, len(EpisodeStore(w.store).pool(e.id)), w.events(e.id, "opened"))
                      for e in EpisodeStore(w.store).list()]),
    "episode_status": Scenario(lambda w: {"episode": w.episode(), "status": "resolved", "reason": "accepted"},
                               lambda w, p: w.events(p["episode"], "resolved")),
    "settle": Scenario(lambda w: {"episode": w.episode()},
                       lambda w, p: (w.detector.n_accepted, w.events(p["episode"], "settling"))),
    "zero_label": Scenario(lambda w: {"episode": w.episode()}, lambda w, p: len(w.ledger.rows("zero_label"))),
    "request_labels": Scenario(lambda w: {"episode": w.episode(), "round": 1, "n": 4},
                               lambda w, p: (w.labels.batch_progress(),
                                             EpisodeStore(w.store).get(p["episode"]).requested)),
    "episode_note": Scenario(lambda w: {"episode": w.episode(), "event": "promoted", "version": "2"},
                             lambda w, p: w.events(p["episode"], "promoted")),
    "improve": Scenario(lambda w: {"episode": w.episode(), "round": 1}, lambda w, p: len(w.ledger.rows("version"))),
    "ingest": Scenario(lambda w: {"path": str(_batch(w))},
                       lambda w, p: len(w.store.predictions_since(0, service="inbox:monday.npy"))),
}

# How each type avoids repeating its effect after a crash (see the module docstring).
RECOVERY = {
    "message": "reruns",          # nothing but its messages, stored with the 'done' mark
    "run_workflow": "finds",      # the run id it noted: resumed, not started again
    "label_request": "finds",     # the labeling batch exists
    "promote": "finds",           # the champion alias already points at the version
    "rollback": "finds",          # the champion already moved off the version
    "request_approval": "reruns",  # the approval is keyed by the action
    "callable": "finds",          # its `check` function
    "episode": "reruns",          # episode changes are keyed by the action
    "episode_status": "reruns",
    "settle": "reruns",
    "zero_label": "reruns",       # the improvement work is idempotent by key; episode info keyed
    "request_labels": "reruns",   # an existing batch is not filed again; the round is keyed
    "episode_note": "reruns",
    "improve": "finds",           # the registered candidate tagged with the action key
    "ingest": "finds",            # the file's rows are in the prediction log
}

KNOWN_ISSUES: dict[str, str] = {}  # actuator type -> why its recovery is known to fail


Made = tuple[Actuator, Any]  # an actuator, and the on_start hook of the agent it belongs to


def _generic(type_: str) -> Callable[[World], Made]:
    def make(world: World) -> Made:
        return (callable_actuator(world.ledger) if type_ == "callable" else _TYPES[type_](type_)), None
    return make


def _from_builtin(kind: str, name: str) -> Callable[[World], Made]:
    def make(world: World) -> Made:
        definition = world.builtin(kind)  # e.g. the improver wires its work up in on_start
        return definition.actuators[name], definition.on_start
    return make


def _builtin_actuators() -> list[tuple[str, str, str]]:
    """``(agent, actuator name, type)`` of every actuator of the built-in agents."""
    return [(kind, name, a.type) for kind in BUILTIN
            for name, a in builtin_agent(kind, inbox="inbox", improvement=Registry(None),
                                         detector="detector.npz").actuators.items()]


def _case(agent: str, make: Callable[[World], Made], type_: str, id: str):
    marks = [pytest.mark.xfail(strict=True, reason=KNOWN_ISSUES[type_])] if type_ in KNOWN_ISSUES else []
    return pytest.param(agent, make, type_, id=id, marks=marks)


CASES = ([_case("ops", _generic(t), t, t) for t in _TYPES]
         + [_case(kind, _from_builtin(kind, name), t, f"{kind}-{name}") for kind, name, t in _builtin_actuators()])


# -- the suite ----------------------------------------------------------------------------------

def test_every_actuator_type_has_a_scenario_and_a_declared_recovery():
    types = set(_TYPES) | {t for _, _, t in _builtin_actuators()}
    assert types == set(SCENARIOS) == set(RECOVERY), (
        f"say how to exercise {sorted(types ^ set(SCENARIOS))} (SCENARIOS) and how it recovers "
        "(RECOVERY) in tests/agents/test_actuator_suite.py")


class Spy:
    """Records what an actuator's ``run`` and ``recover`` returned."""

    def __init__(self, actuator: Actuator):
        self.runs: list[ActionResult] = []
        self.recovered: list[ActionResult | None] = []
        run, recover = actuator.run, actuator.recover

        def spy_run(ctx, params, key):
            self.runs.append(run(ctx, params, key))
            return self.runs[-1]

        def spy_recover(ctx, params, key):
            self.recovered.append(recover(ctx, params, key))
            return self.recovered[-1]

        actuator.run, actuator.recover = spy_run, spy_recover


def runtime(world: World, agent: str, made: Made) -> AgentRuntime:
    """One agent with this actuator and a rule that does what the message asks."""
    actuator, on_start = made

    def go(event, ctx):
        return Decision("act", "asked by the suite", [ActionRequest(actuator.name, event.payload["params"])])

    definition = AgentDefinition(agent, rules=[FunctionRule("go", "act.asked", go)], actuators=[actuator],
                                 talks_to=TALKS_TO[agent])
    definition.on_start = on_start
    return AgentRuntime([definition], world.url, services=world.services(), retry_backoff=0)


def sent_by_actions(store: StateStore) -> list[str]:
    return [m.key for m in store.messages(limit=10_000) if m.kind != "act.asked"]


@pytest.mark.parametrize(("agent", "make", "type_"), CASES)
def test_a_crash_after_the_effect_neither_loses_nor_repeats_it(agent, make, type_, tmp_path):
    world = World(tmp_path)
    scenario = SCENARIOS[type_]
    params = scenario.params(world)
    measure = (lambda: scenario.effect(world, params)) if scenario.effect else (lambda: None)
    before = measure()

    first = make(world)
    spy = Spy(first[0])
    rt = runtime(world, agent, first)
    rt.send(agent, "act.asked", {"params": params}, key="job-1")

    def crash(*args, **kwargs):
        raise Crash
    rt.store.finish_action = crash  # the process dies after the effect, before 'done'
    with pytest.raises(Crash):
        rt.run_once()
    [action] = world.store.actions()
    assert action.status == "started" and len(spy.runs) == 1
    after_run = measure()
    assert scenario.effect is None or after_run != before, "the action had no visible effect"

    again = make(world)  # the restarted process builds its actuators afresh
    respy = Spy(again[0])
    runtime(world, agent, again).run_once()
    [action] = world.store.actions()
    assert action.status == "done"
    assert measure() == after_run  # nothing repeated
    assert len(sent_by_actions(world.store)) == len(spy.runs[0].messages)  # its messages, once
    if RECOVERY[type_] == "finds":
        assert respy.recovered and respy.recovered[0] is not None and respy.runs == []
    else:
        assert respy.recovered == [None] and len(respy.runs) == 1
