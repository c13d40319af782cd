"""The agents process of the crash test: run the four built-in agents until killed.

    python crash_agents.py STATE_DIR     (the ledger is STATE_DIR/../ledger.db)

Each effect takes a little time (``Registry(slow=...)``), so a SIGKILL at a random moment often
lands between an action's 'started' and 'done' commits.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from agent_fakes import Ledger, MeanShiftDetector, Registry, accuracy_gate, images  # noqa: E402

from scanflow.agents import AgentRuntime  # noqa: E402
from scanflow.app import Agent, Application  # noqa: E402


def build(state_dir: Path) -> AgentRuntime:
    app = Application(name="crash", state_dir=str(state_dir), agents=[
        Agent(name="tracker", kind="tracker", talks_to=["checker"], config={"batch_size": 50, "poll_every": 0.05}),
        Agent(name="checker", kind="checker", talks_to=["improver"], config={"settle": False}),
        Agent(name="improver", kind="improver", talks_to=["planner"],
              config={"first_round": 5, "round_labels": 5, "label_budget": 20, "zero_label": "off",
                      "poll_every": 0.05}),
        Agent(name="planner", kind="planner", config={"model": "clf", "watch_batches": 0}),
    ])
    app.root = state_dir.parent
    registry = Registry(Ledger(state_dir.parent / "ledger.db"), slow=0.03, rounds=4)
    return AgentRuntime(app, config={
        "checker": {"detector": MeanShiftDetector().fit(images(500, seed=1))},
        "improver": {"improvement": registry},
        "planner": {"gate": accuracy_gate},
    }, services={"registry": registry}, poll_interval=0.05, heartbeat_every=0.5)


if __name__ == "__main__":
    rt = build(Path(sys.argv[1]))
    print("agents running", flush=True)
    rt.run_forever()
