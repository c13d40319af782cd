"""The agent runtime: sensors -> rules -> actuators, messages between agents, control, recovery."""

from __future__ import annotations

import pytest

from scanflow.agents import (
    ActionRequest,
    AgentDefinition,
    AgentRuntime,
    CallableActuator,
    Decision,
    FunctionRule,
    IntervalSensor,
    PredictionsSensor,
    SendMessage,
)
from scanflow.app import Agent, Application

CALLS: list[tuple[str, dict]] = []


def record_call(params, key, ctx):
    CALLS.append((key, params))
    return {"seen": params.get("count")}


@pytest.fixture(autouse=True)
def _clear_calls():
    CALLS.clear()


def spec_app(tmp_path) -> Application:
    """Two custom agents written as in an application file: a watcher that tells a worker."""
    app = Application(name="custom", state_dir=str(tmp_path / "state"), agents=[
        Agent(name="watcher", talks_to=["worker"],
              sensors=[{"name": "predictions", "type": "predictions", "count": 10}],
              rules=[{"name": "busy", "when": "sensor.predictions", "if": "count >= 10",
                      "decision": "tell", "then": [{"actuator": "tell", "params": {"payload": {"n": 1}}}]}],
              actuators=[{"name": "tell", "type": "message", "to": "worker", "kind": "work"}]),
        Agent(name="worker",
              rules=[{"name": "do", "when": "work", "if": "n == 1", "decision": "work", "then": ["do"]}],
              actuators=[{"name": "do", "type": "callable", "callable": f"{__name__}:record_call"}]),
    ])
    app.root = tmp_path
    return app


def test_agents_from_the_application_file_sense_decide_message_and_act(tmp_path):
    rt = AgentRuntime(spec_app(tmp_path))
    rt.store.record_predictions("api", None, list(range(25)))
    rt.run_once()
    hist = rt.history()
    assert [(h["agent"], h["decision"], h["reason"]) for h in hist] == [
        ("watcher", "tell", "count=10 >= 10 -> tell"),
        ("watcher", "tell", "count=10 >= 10 -> tell"),
        ("worker", "work", "n=1 == 1 -> work"),
        ("worker", "work", "n=1 == 1 -> work"),
    ]
    assert len(CALLS) == 2 and len({k for k, _ in CALLS}) == 2
    assert rt.store.cursors("watcher") == {"predictions": 20}  # 5 left for the next batch


def test_running_again_repeats_nothing(tmp_path):
    rt = AgentRuntime(spec_app(tmp_path))
    rt.store.record_predictions("api", None, list(range(10)))
    rt.run_once()
    AgentRuntime(spec_app(tmp_path)).run_once()
    assert len(CALLS) == 1
    assert len(rt.history()) == 2


def test_a_trigger_fires_below_threshold_and_is_consumed_once(tmp_path):
    rt = AgentRuntime(spec_app(tmp_path))
    rt.store.record_predictions("api", None, [1, 2, 3])
    assert rt.run_once() == 0
    rt.trigger("watcher", "predictions")
    rt.run_once()
    [event] = rt.store.messages("watcher", limit=10)
    assert event.key.startswith("watcher/predictions/trigger-")
    assert event.payload["forced"] is True and event.payload["count"] == 3
    assert rt.run_once() == 0


def test_unknown_names_are_refused_with_the_known_ones(tmp_path):
    rt = AgentRuntime(spec_app(tmp_path))
    with pytest.raises(KeyError, match="agents: watcher, worker"):
        rt.trigger("nobody")
    with pytest.raises(KeyError, match=r"has no sensor 'tick' \(sensors: predictions\)"):
        rt.trigger("watcher", "tick")


def test_a_rule_naming_a_missing_actuator_is_a_spec_error(tmp_path):
    app = spec_app(tmp_path)
    app.agents[1].rules[0]["then"] = ["dance"]
    with pytest.raises(ValueError, match="rule 'do' uses actuator 'dance', which is not defined"):
        AgentRuntime(app)


def test_pause_is_persisted_and_resume_catches_up(tmp_path):
    rt = AgentRuntime(spec_app(tmp_path))
    rt.pause("worker")
    rt.store.record_predictions("api", None, list(range(10)))
    rt.run_once()
    assert CALLS == [] and rt.store.count_messages(["worker"]) == 1
    again = AgentRuntime(spec_app(tmp_path))  # a restart keeps the pause
    again.run_once()
    assert CALLS == []
    again.resume("worker")
    again.run_once()
    assert len(CALLS) == 1


def flaky_agent(fail_times: int, attempts: list[str]) -> AgentDefinition:
    def act(params, key, ctx):
        attempts.append(key)
        if len(attempts) <= fail_times:
            raise ConnectionError("registry unreachable")
        return "ok"
    return AgentDefinition(
        "flaky",
        rules=[FunctionRule("go", "job", lambda e, ctx: Decision("go", "asked", [ActionRequest("act")]))],
        actuators=[CallableActuator("act", act)])


def test_a_failing_action_is_retried_then_the_message_is_dead_lettered(tmp_path):
    attempts: list[str] = []
    rt = AgentRuntime([flaky_agent(99, attempts)], f"sqlite:///{tmp_path}/s.db", max_attempts=3,
                      retry_backoff=0)
    rt.send("flaky", "job", {}, key="job-1")
    for _ in range(3):
        rt.run_once()
    [msg] = rt.store.messages("flaky")
    assert msg.status == "failed" and "ConnectionError: registry unreachable" in msg.error
    assert len(attempts) == 3
    [h] = rt.history()
    assert h["actions"][0]["status"] == "failed"
    rt.store.retry_message(msg.id)  # the registry is back: put it in the inbox again
    attempts.clear()
    flaky = flaky_agent(0, attempts)
    AgentRuntime([flaky], rt.store.url).run_once()
    assert attempts == ["job-1/go/0-act"]
    assert rt.store.messages("flaky")[0].status == "handled"


def test_a_transient_failure_succeeds_on_the_next_step(tmp_path):
    attempts: list[str] = []
    rt = AgentRuntime([flaky_agent(1, attempts)], f"sqlite:///{tmp_path}/s.db", retry_backoff=0)
    rt.send("flaky", "job", {}, key="job-1")
    rt.run_once()
    rt.run_once()
    assert len(attempts) == 2
    assert rt.history()[0]["actions"][0]["status"] == "done"


def test_an_action_found_started_after_a_crash_is_rechecked_not_repeated(tmp_path):
    effects: list[str] = []

    def act(params, key, ctx):
        effects.append(key)
        return "did it"

    def check(params, key, ctx):
        return "already there" if key in effects else None

    def agent():
        return AgentDefinition("a", rules=[FunctionRule("go", "job", lambda e, c: Decision(
            "go", "asked", [ActionRequest("act")]))], actuators=[CallableActuator("act", act, check=check)])

    url = f"sqlite:///{tmp_path}/s.db"
    rt = AgentRuntime([agent()], url)
    rt.send("a", "job", {}, key="job-1")
    # What a crash between the effect and the 'done' commit leaves behind:
    rt.store.record_decision("job-1/go", "a", "job-1", "go", "go", "asked", {},
                             [{"actuator": "act", "params": {}}], {})
    rt.store.start_action("job-1/go/0-act", "a", "job-1/go", "act", {})
    effects.append("job-1/go/0-act")
    AgentRuntime([agent()], url).run_once()
    assert effects == ["job-1/go/0-act"]
    [action] = rt.store.actions()
    assert (action.status, action.result) == ("done", "already there")


def test_memory_persists_between_messages_and_restarts(tmp_path):
    def count(e, ctx):
        n = ctx.memory.get("n", 0) + 1
        return Decision("counted", f"message {n}", memory={"n": n})

    def agent():
        return AgentDefinition("c", rules=[FunctionRule("count", "*", count)])

    url = f"sqlite:///{tmp_path}/s.db"
    rt = AgentRuntime([agent()], url)
    rt.send("c", "x", key="1")
    rt.send("c", "x", key="2")
    rt.run_once()
    AgentRuntime([agent()], url).send("c", "x", key="3")
    again = AgentRuntime([agent()], url)
    again.run_once()
    assert [h["reason"] for h in again.history()] == ["message 1", "message 2", "message 3"]


def test_a_broken_sensor_does_not_stop_the_agent(tmp_path):
    class Broken(IntervalSensor):
        def poll(self, ctx, cursor, now, force):
            raise OSError("disk gone")

    seen = []
    agent = AgentDefinition("a", sensors=[Broken("tick", every=3600)], rules=[
        FunctionRule("r", "job", lambda e, c: seen.append(e.key) or Decision("ok", "job"))])
    rt = AgentRuntime([agent], f"sqlite:///{tmp_path}/s.db")
    rt.send("a", "job", key="j")
    rt.run_once()
    assert seen == ["j"] and "disk gone" in rt.errors["a"]


def test_background_runtime_reacts_to_predictions_and_stops_cleanly(tmp_path):
    heard = []
    watcher = AgentDefinition(
        "watcher", talks_to=["worker"], sensors=[PredictionsSensor(count=5, poll_every=0.02)],
        rules=[FunctionRule("fwd", "sensor.predictions", lambda e, c: Decision(
            "fwd", "5 new", [ActionRequest("tell", {"to": "worker", "kind": "work",
                                                   "payload": {"last": e.payload["last_id"]}})]))],
        actuators=[SendMessage("tell")])
    worker = AgentDefinition("worker", rules=[FunctionRule(
        "work", "work", lambda e, c: heard.append(e.payload["last"]) or Decision("work", "told"))])
    rt = AgentRuntime([watcher, worker], f"sqlite:///{tmp_path}/s.db", poll_interval=0.05)
    rt.start()
    try:
        rt.store.record_predictions("api", None, list(range(10)))
        assert wait_for(lambda: heard == [5, 10])
        assert rt.describe()[0]["alive"]
    finally:
        rt.stop()
    assert not rt.describe()[0]["alive"]


def test_run_until_returns_when_the_predicate_holds(tmp_path):
    rt = AgentRuntime(spec_app(tmp_path), poll_interval=0.05)
    rt.store.record_predictions("api", None, list(range(10)))
    assert rt.run_until(lambda r: len(CALLS) == 1 and r.idle(), timeout=20)
    assert not rt.run_until(lambda r: False, timeout=0.3)


def wait_for(predicate, timeout: float = 20.0) -> bool:
    import time

    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_a_failed_message_backs_off_before_its_retry(tmp_path):
    attempts: list[str] = []
    rt = AgentRuntime([flaky_agent(1, attempts)], f"sqlite:///{tmp_path}/s.db", retry_backoff=60)
    rt.send("flaky", "job", {}, key="job-1")
    rt.run_once()
    rt.run_once()
    assert len(attempts) == 1  # the retry waits for its backoff
    assert rt.store.messages("flaky")[0].status == "delivered"
