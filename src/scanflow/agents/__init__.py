"""Agents: supervisors made of sensors, rules and actuators, run crash-safe by :class:`AgentRuntime`.

>>> from scanflow.agents import AgentRuntime                       # doctest: +SKIP
>>> rt = AgentRuntime(app)                                          # doctest: +SKIP
>>> rt.start(); rt.trigger("tracker"); rt.history("tracker")        # doctest: +SKIP

Messages, decisions and actions live in the state database (:mod:`scanflow.agents.store`);
the built-in agents (tracker, checker, improver, planner) are in :mod:`scanflow.agents.builtin`;
:mod:`scanflow.agents.service` serves one agent as a FastAPI app.
"""

import importlib
from typing import Any

# Each public name, from its module on first use (PEP 562): `scanflow validate` reads the agents'
# configs without loading the runtime, its stores (SQLAlchemy) or the built-in agents.
_LAZY = {
    **dict.fromkeys(["ActionResult", "Actuator", "CallableActuator", "OpenLabelingRequest", "Promote", "RequestApproval", "Rollback", "RunWorkflow", "SendMessage"], "actuators"),
    **dict.fromkeys(["AgentDefinition", "build_agent"], "agent"),
    **dict.fromkeys(["AgentConfig", "AgentConfigError", "config_problems"], "config"),
    **dict.fromkeys(["AgentContext"], "context"),
    **dict.fromkeys(["Episode", "EpisodeStore"], "episodes"),
    **dict.fromkeys(["agent_kinds", "register_agent_kind"], "kinds"),
    **dict.fromkeys(["MESSAGE_TYPES", "message_type", "validate_payload"], "messages"),
    **dict.fromkeys(["ActionRequest", "Decision", "Event", "FunctionRule", "Rule", "ThresholdRule"], "rules"),
    **dict.fromkeys(["AgentRuntime"], "runtime"),
    **dict.fromkeys(["Cron", "Interval"], "schedule"),
    **dict.fromkeys(["CronSensor", "IntervalSensor", "LabelsSensor", "Observation", "PredictionsSensor", "RunsSensor", "Sensor"], "sensors"),
    **dict.fromkeys(["AgentServices"], "services"),
    **dict.fromkeys(["OutgoingMessage", "StateStore", "default_state_url", "record_predictions"], "store"),
}

__all__ = [
    "ActionRequest", "ActionResult", "Actuator", "AgentConfig", "AgentConfigError", "AgentContext",
    "AgentServices", "Episode", "EpisodeStore", "agent_kinds", "config_problems", "AgentDefinition", "AgentRuntime",
    "CallableActuator", "Cron", "CronSensor", "Decision", "Event", "FunctionRule", "Interval",
    "IntervalSensor", "LabelsSensor", "MESSAGE_TYPES", "Observation", "OpenLabelingRequest",
    "OutgoingMessage", "PredictionsSensor", "Promote", "RequestApproval", "Rollback", "Rule",
    "RunWorkflow", "RunsSensor", "SendMessage", "Sensor", "StateStore", "ThresholdRule",
    "build_agent", "default_state_url", "message_type", "record_predictions", "register_agent_kind",
    "validate_payload",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'scanflow.agents' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
