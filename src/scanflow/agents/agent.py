"""An agent's parts (:class:`AgentDefinition`) and what they see while running (:class:`AgentContext`).

An agent is sensors + rules + actuators, with a name, the workflows it supervises and the
agents it talks to. :func:`build_agent` turns an ``Agent`` spec of the application into a
definition: built-in kinds (tracker, checker, improver, planner) come with their own parts,
configured by ``spec.config``; ``custom`` agents are assembled from the spec's ``sensors``,
``rules`` and ``actuators`` entries, or built by ``spec.callable`` (``pkg.mod:make_agent``).

Config values may be Python objects (callables, detectors) or import strings
``"pkg.module:attribute"``, resolved relative to the application folder.

>>> from scanflow.app import Agent
>>> d = build_agent(Agent(name="watch", sensors=[{"type": "interval", "every": 60, "name": "tick"}],
...     rules=[{"name": "r", "when": "sensor.tick", "if": "slot != 0", "then": ["note"]}],
...     actuators=[{"name": "note", "type": "message", "to": "watch", "kind": "note"}]))
>>> [s.name for s in d.sensors], [r.name for r in d.rules], list(d.actuators)
(['tick'], ['r'], ['note'])
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .actuators import Actuator, actuator_from_config
from .rules import Rule, rule_from_config
from .sensors import Sensor, sensor_from_config

if TYPE_CHECKING:
    from scanflow.app import Agent, Application

    from .store import StateStore

__all__ = ["AgentContext", "AgentDefinition", "build_agent", "register_agent_kind", "resolve"]


def resolve(value: Any, root: Any = None) -> Any:
    """``"pkg.module:attr"`` -> the attribute (importing the module); anything else unchanged."""
    if not isinstance(value, str) or ":" not in value or " " in value or "/" in value:
        return value
    module, _, attr = value.partition(":")
    if not module.replace(".", "").replace("_", "").isalnum() or not attr:
        return value
    if root is not None and str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        obj: Any = importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"cannot import {module!r} named in {value!r}: {exc} (is it on the "
                          "application folder or installed?)") from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ImportError(f"module {module!r} has no attribute {attr!r} (named in {value!r})") from None
    return obj


class AgentDefinition:
    """The parts of one agent. ``config`` holds its settings and injected callables."""

    def __init__(self, name: str, *, kind: str = "custom", sensors: Sequence[Sensor] = (),
                 rules: Sequence[Rule] = (), actuators: Sequence[Actuator] = (),
                 talks_to: Sequence[str] = (), supervises: Sequence[str] = (),
                 config: dict[str, Any] | None = None):
        self.name = name
        self.kind = kind
        self.sensors = list(sensors)
        self.rules = list(rules)
        self.actuators = {a.name: a for a in actuators}
        self.talks_to = list(talks_to)
        self.supervises = list(supervises)
        self.config = dict(config or {})
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


@dataclass
class AgentContext:
    """What sensors, rules and actuators of one agent see: its store, config, memory, app."""

    name: str
    kind: str
    store: StateStore
    config: dict[str, Any]
    app: Application | None = None
    talks_to: list[str] = field(default_factory=list)
    supervises: list[str] = field(default_factory=list)
    memory: dict[str, Any] = field(default_factory=dict)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def resolve(self, value: Any) -> Any:
        return resolve(value, self.app.root if self.app is not None else None)

    def setting(self, name: str, default: Any = None) -> Any:
        return self.config.get(name, default)

    def service(self, name: str) -> Callable[..., Any]:
        """The callable ``name`` from the config (object or import string), else the default
        adapter of :mod:`scanflow.agents.adapters` (which imports the heavy rooms lazily)."""
        if name not in self._cache:
            if self.config.get(name) is not None:
                self._cache[name] = self.resolve(self.config[name])
            else:
                from . import adapters

                factory = adapters.DEFAULTS.get(name)
                if factory is None:
                    raise KeyError(f"agent {self.name!r} needs a {name!r} callable: set "
                                   f"config.{name} to a function or 'pkg.module:function'")
                self._cache[name] = factory(self)
        return self._cache[name]


AgentFactory = Callable[["Agent", dict[str, Any]], AgentDefinition]
_KINDS: dict[str, AgentFactory] = {}


def register_agent_kind(kind: str, factory: AgentFactory) -> None:
    """Register ``factory(spec, config) -> AgentDefinition`` for agents of ``kind``."""
    _KINDS[kind] = factory


def build_agent(spec: Agent, config: dict[str, Any] | None = None, root: Any = None) -> AgentDefinition:
    """The definition of an ``Agent`` spec; ``config`` overrides ``spec.config`` (values may be
    Python objects, e.g. a fitted detector)."""
    from . import builtin  # noqa: F401 - registers the built-in kinds

    merged = {**spec.config, **(config or {})}
    if spec.callable:
        factory = resolve(spec.callable, root)
        definition = factory(spec, merged)
        if not isinstance(definition, AgentDefinition):
            raise TypeError(f"agent {spec.name!r}: {spec.callable} returned "
                            f"{type(definition).__name__}, not an AgentDefinition")
    elif spec.kind in _KINDS:
        definition = _KINDS[spec.kind](spec, merged)
    elif spec.kind == "custom":
        definition = AgentDefinition(spec.name, kind="custom", talks_to=spec.talks_to,
                                     supervises=spec.supervises, config=merged)
    else:  # pragma: no cover - the spec's Literal forbids it
        raise ValueError(f"agent {spec.name!r}: unknown kind {spec.kind!r}")
    # Entries written in the spec are added to (and may replace) the built-in parts.
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
    for rule in definition.rules:
        if hasattr(rule, "actions"):
            for act in rule.actions:
                if act.actuator not in definition.actuators:
                    known = ", ".join(definition.actuators) or "none"
                    raise ValueError(f"agent {spec.name!r}: rule {rule.name!r} uses actuator "
                                     f"{act.actuator!r}, which is not defined (actuators: {known})")
    return definition
