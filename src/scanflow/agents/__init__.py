"""Agents: supervisors made of sensors, rules and actuators, run crash-safe by :class:`AgentRuntime`.

>>> from scanflow.agents import AgentRuntime                       # doctest: +SKIP
>>> rt = AgentRuntime(app)                                          # doctest: +SKIP
>>> rt.start(); rt.trigger("tracker"); rt.history("tracker")        # doctest: +SKIP

Messages, decisions and actions live in the state database (:mod:`scanflow.agents.store`);
the built-in agents (tracker, checker, improver, planner) are in :mod:`scanflow.agents.builtin`;
:mod:`scanflow.agents.service` serves one agent as a FastAPI app.
"""

from .actuators import (
    ActionResult,
    Actuator,
    CallableActuator,
    OpenLabelingRequest,
    Promote,
    RequestApproval,
    Rollback,
    RunWorkflow,
    SendMessage,
)
from .agent import AgentDefinition, build_agent
from .config import AgentConfig, AgentConfigError, config_problems
from .context import AgentContext
from .episodes import Episode, EpisodeStore
from .kinds import agent_kinds, register_agent_kind
from .messages import MESSAGE_TYPES, message_type, validate_payload
from .rules import ActionRequest, Decision, Event, FunctionRule, Rule, ThresholdRule
from .runtime import AgentRuntime
from .schedule import Cron, Interval
from .sensors import (
    CronSensor,
    IntervalSensor,
    LabelsSensor,
    Observation,
    PredictionsSensor,
    RunsSensor,
    Sensor,
)
from .services import AgentServices
from .store import OutgoingMessage, StateStore, default_state_url, record_predictions

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
