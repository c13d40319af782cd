"""An agent's parts: :class:`AgentDefinition`, and :func:`build_agent` from an ``Agent`` spec.

An agent is sensors + rules + actuators, with a name, the workflows it supervises and the
agents it talks to. :func:`build_agent` turns an ``Agent`` spec of the application into a
definition: built-in kinds (tracker, checker, improver, planner; :mod:`scanflow.agents.kinds`)
come with their own parts, configured by ``spec.config`` validated against the kind's typed
config model (:mod:`scanflow.agents.config`); ``custom`` agents are assembled from the spec's
``sensors``, ``rules`` and ``actuators`` entries, or built by ``spec.callable``
(``pkg.mod:make_agent``).

Config values may be Python objects (a fitted detector, a function) or import strings
``"pkg.module:attribute"``, resolved relative to the application folder.

>>> from scanflow.app import Agent
>>> d = build_agent(Agent(name="watch", sensors=[{"type": "interval", "every": 60, "name": "tick"}],
...     rules=[{"name": "r", "when": "sensor.tick", "if": "slot != 0", "then": ["note"]}],
...     actuators=[{"name": "note", "type": "message", "to": "watch", "kind": "note"}]))
>>> [s.name for s in d.sensors], [r.name for r in d.rules], list(d.actuators)
(['tick'], ['r'], ['note'])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .actuators import Actuator, actuator_from_config
from .config import parse_config
from .context import resolve
from .kinds import agent_kind
from .rules import Rule, rule_from_config
from .sensors import Sensor, sensor_from_config

if TYPE_CHECKING:
    from scanflow.app import Agent

__all__ = ["AgentDefinition", "build_agent"]


class AgentDefinition:
    """The parts of one agent. ``config`` holds its settings and injected callables."""

    def __init__(self, name: str, *, kind: str = "custom", sensors: Sequence[Sensor] = (),
                 rules: Sequence[Rule] = (), actuators: Sequence[Actuator] = (),
                 talks_to: Sequence[str] = (), supervises: Sequence[str] = (),
                 config: Any = None):
        self.name = name
        self.kind = kind
        self.sensors = list(sensors)
        self.rules = list(rules)
        self.actuators = {a.name: a for a in actuators}
        self.talks_to = list(talks_to)
        self.supervises = list(supervises)
        self.config = config if config is not None else {}
        self.on_start: Any = None  # fn(ctx) called once when the runtime builds the context
        names = [s.name for s in self.sensors]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"agent {name!r} has several sensors named {sorted(dupes)}: rename them")

    def sensor(self, name: str) -> Sensor:
        for s in self.sensors:
            if s.name == name:
                return s
        known = ", ".join(s.name for s in self.sensors) or "none"
        raise KeyError(f"agent {self.name!r} has no sensor {name!r} (sensors: {known})")

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name, "kind": self.kind, "supervises": self.supervises,
            "talks_to": self.talks_to, "sensors": [s.info() for s in self.sensors],
            "rules": [r.info() for r in self.rules],
            "actuators": [a.info() for a in self.actuators.values()],
        }

    def __repr__(self) -> str:
        return (f"AgentDefinition({self.name!r}, kind={self.kind!r}, sensors={len(self.sensors)}, "
                f"rules={len(self.rules)}, actuators={len(self.actuators)})")


def _kind_definition(spec: Agent, merged: dict[str, Any], root: Any, app: Any) -> AgentDefinition:
    if spec.callable:
        definition = resolve(spec.callable, root)(spec, merged)
        if not isinstance(definition, AgentDefinition):
            raise TypeError(f"agent {spec.name!r}: {spec.callable} returned "
                            f"{type(definition).__name__}, not an AgentDefinition")
        return definition
    kind = agent_kind(spec.kind)
    if kind is not None:
        config = parse_config(spec.name, spec.kind, kind.config, merged, app) if kind.config else merged
        return kind.factory(spec, config)
    if spec.kind == "custom":
        return AgentDefinition(spec.name, kind="custom", talks_to=spec.talks_to,
                               supervises=spec.supervises, config=merged)
    raise ValueError(f"agent {spec.name!r}: unknown kind {spec.kind!r}")  # pragma: no cover


def _add_spec_parts(spec: Agent, definition: AgentDefinition) -> None:
    """Sensors, rules and actuators written in the spec join (and may replace) the kind's."""
    try:
        for conf in spec.sensors:
            s = sensor_from_config(conf)
            definition.sensors = [x for x in definition.sensors if x.name != s.name] + [s]
        for conf in spec.rules:
            r = rule_from_config(conf)
            definition.rules = [x for x in definition.rules if x.name != r.name] + [r]
        for conf in spec.actuators:
            a = actuator_from_config(conf)
            definition.actuators[a.name] = a
    except ValueError as exc:
        raise ValueError(f"agent {spec.name!r}: {exc}") from None


def build_agent(spec: Agent, config: dict[str, Any] | None = None, root: Any = None,
                app: Any = None) -> AgentDefinition:
    """The definition of an ``Agent`` spec; ``config`` overrides ``spec.config`` (values may be
    Python objects, e.g. a fitted detector). A built-in kind's config is validated here."""
    definition = _kind_definition(spec, {**spec.config, **(config or {})}, root, app)
    _add_spec_parts(spec, definition)
    for rule in definition.rules:
        for act in getattr(rule, "actions", ()):
            if act.actuator not in definition.actuators:
                known = ", ".join(definition.actuators) or "none"
                raise ValueError(f"agent {spec.name!r}: rule {rule.name!r} uses actuator "
                                 f"{act.actuator!r}, which is not defined (actuators: {known})")
    return definition
