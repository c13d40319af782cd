"""The built-in agents of the paper, each configured by its ``Agent.config``.

* **tracker** watches predictions (and optionally MLflow runs); counts over a window.
* **checker** runs a detector on new data and files informative samples for labeling.
* **improver** rules normal / alert / improve; starts the improvement strategy when labels arrive.
* **planner** evaluation gate, promotion, rollback; asks a person when approval is required.

Each module documents its config keys and defaults; heavy work (detector, selection, strategy,
gate, promotion) goes through callables with lazy defaults (:mod:`scanflow.agents.adapters`).
"""

from ..agent import register_agent_kind
from .checker import checker_agent
from .improver import improver_agent
from .planner import planner_agent
from .tracker import tracker_agent

register_agent_kind("tracker", tracker_agent)
register_agent_kind("checker", checker_agent)
register_agent_kind("improver", improver_agent)
register_agent_kind("planner", planner_agent)

__all__ = ["checker_agent", "improver_agent", "planner_agent", "tracker_agent"]
