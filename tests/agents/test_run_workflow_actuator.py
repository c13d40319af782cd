"""The run_workflow actuator with the real scheduler: it runs a workflow, and after a crash it
finds the run it had started instead of starting another."""

from __future__ import annotations

from scanflow.agents import AgentRuntime
from scanflow.app import Agent, Application, Executor, Workflow

JOB = """\
from pathlib import Path
with open(Path(__file__).parent / "ran.txt", "a") as f:
    f.write("ran\\n")
"""


def make_app(tmp_path) -> Application:
    (tmp_path / "job.py").write_text(JOB)
    app = Application(
        name="rw", state_dir="state",
        workflows=[Workflow(name="retrain", nodes=[Executor(name="job", script="job.py", cache=False)])],
        agents=[Agent(name="ops",
                      rules=[{"name": "go", "when": "retrain.asked", "if": "n >= 1", "decision": "retrain",
                              "then": ["retrain"]}],
                      actuators=[{"name": "retrain", "type": "run_workflow", "workflow": "retrain"}])])
    app.root = tmp_path
    return app


def test_run_workflow_runs_once_and_a_restart_finds_the_run_instead_of_repeating_it(tmp_path):
    app = make_app(tmp_path)
    rt = AgentRuntime(app)
    rt.send("ops", "retrain.asked", {"n": 1}, key="ask-1")
    rt.run_once()
    [first] = rt.store.actions()
    assert first.status == "done" and first.result["status"] == "succeeded"
    assert (tmp_path / "ran.txt").read_text().count("ran") == 1

    # A crash after the run started but before 'done' leaves: the decision, the action
    # 'started' and the run id the actuator noted.
    rt.send("ops", "retrain.asked", {"n": 1}, key="ask-2")
    rt.store.record_decision("ask-2/go", "ops", "ask-2", "go", "retrain", "asked", {},
                             [{"actuator": "retrain", "params": {}}], {})
    rt.store.start_action("ask-2/go/0-retrain", "ops", "ask-2/go", "retrain", {})
    rt.store.note_action("ask-2/go/0-retrain", {"run_id": first.result["run_id"]})
    AgentRuntime(app).run_once()
    second = rt.store.action("ask-2/go/0-retrain")
    assert second.status == "done" and second.result["recovered"] is True
    assert (tmp_path / "ran.txt").read_text().count("ran") == 1
