"""The built-in agents of the paper, each configured by its typed ``Agent.config``.

* **tracker** watches predictions (served traffic, or batch files in an inbox) and MLflow runs;
  counts over a window.
* **checker** runs a detector on new data, opens and joins drift episodes, settles them once a
  promoted model handles the shift.
* **improver** spends each episode's label budget in rounds and proposes candidates (zero-label
  first, then from the labels, by a built-in strategy or the application's retrain workflow).
* **planner** evaluation gate, promotion, rollback; asks a person when approval is required.

Each module's ``*Config`` model lists its keys, defaults and meaning (docs/agents.md too).
"""

from ..kinds import register_agent_kind
from .checker import CheckerConfig, checker_agent
from .improver import ImproverConfig, improver_agent
from .planner import PlannerConfig, planner_agent
from .tracker import TrackerConfig, tracker_agent

register_agent_kind("tracker", tracker_agent, TrackerConfig)
register_agent_kind("checker", checker_agent, CheckerConfig)
register_agent_kind("improver", improver_agent, ImproverConfig)
register_agent_kind("planner", planner_agent, PlannerConfig)

__all__ = ["CheckerConfig", "ImproverConfig", "PlannerConfig", "TrackerConfig", "checker_agent",
           "improver_agent", "planner_agent", "tracker_agent"]
