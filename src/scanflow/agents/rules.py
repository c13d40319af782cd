"""Rules: decisions over what sensors and other agents report, each with its reason.

A rule listens to some message kinds (``on``) and returns a :class:`Decision` (or ``None`` when
it has nothing to say). A decision names what was decided, why (a sentence a person can read:
``"drift: 37/100 samples over threshold, p=1e-09 < 0.01 -> alert"``), the inputs it looked at,
the actions to take, and an optional update of the agent's memory. The runtime stores the
decision before acting on it; after a crash the stored decision is replayed, not re-decided.

>>> rule = rule_from_config({"name": "busy", "when": "sensor.predictions", "if": "count >= 50",
...                          "decision": "alert", "then": ["notify"]})
>>> d = rule.evaluate(Event(key="k", sender="a", kind="sensor.predictions", payload={"count": 80}), None)
>>> d.decision, d.reason, [a.actuator for a in d.actions]
('alert', 'count=80 >= 50 -> alert', ['notify'])
"""

from __future__ import annotations

import fnmatch
import operator
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .context import AgentContext

__all__ = [
    "ActionRequest",
    "Decision",
    "Event",
    "FunctionRule",
    "Rule",
    "ThresholdRule",
    "rule_from_config",
]


@dataclass
class Event:
    """What a rule sees: one message from a sensor (``sensor.<name>``) or another agent."""

    key: str
    sender: str
    kind: str
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass
class ActionRequest:
    """Ask the agent's actuator ``actuator`` to act with ``params`` (JSON data)."""

    actuator: str
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"actuator": self.actuator, "params": self.params}


@dataclass
class Decision:
    """The outcome of a rule: ``decision`` (e.g. normal/alert/improve/promote), ``reason`` and
    the ``actions`` to take; ``memory`` is merged into the agent's persistent memory.

    ``record=False`` marks a silent bookkeeping step (e.g. remembering the last value seen): only
    its memory update is kept, it is not stored in the history and may not act.
    """

    decision: str
    reason: str
    actions: list[ActionRequest] = field(default_factory=list)
    inputs: dict[str, Any] = field(default_factory=dict)
    memory: dict[str, Any] = field(default_factory=dict)
    record: bool = True


class Rule(ABC):
    """Base class: ``on`` lists message kinds (``fnmatch`` patterns, e.g. ``sensor.*``)."""

    def __init__(self, name: str, on: str | Sequence[str] = "*"):
        self.name = name
        self.on = (on,) if isinstance(on, str) else tuple(on)

    def matches(self, kind: str) -> bool:
        return any(fnmatch.fnmatchcase(kind, pattern) for pattern in self.on)

    @abstractmethod
    def evaluate(self, event: Event, ctx: AgentContext) -> Decision | None:
        """Implemented by every subclass."""

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "on": list(self.on), "type": type(self).__name__}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, on={list(self.on)})"


class FunctionRule(Rule):
    """A rule from a function ``fn(event, ctx) -> Decision | None``."""

    def __init__(self, name: str, on: str | Sequence[str], fn: Callable[[Event, Any], Decision | None]):
        super().__init__(name, on)
        self.fn = fn

    def evaluate(self, event, ctx):
        return self.fn(event, ctx)


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge, "<=": operator.le, "==": operator.eq, "!=": operator.ne,
    ">": operator.gt, "<": operator.lt,
}
_CONDITION = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(>=|<=|==|!=|>|<)\s*(.+?)\s*$")


def _lookup(payload: dict[str, Any], path: str) -> Any:
    value: Any = payload
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(path)
        value = value[part]
    return value


def _literal(text: str) -> Any:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("null", "none"):
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text.strip("'\"")


class ThresholdRule(Rule):
    """``if: "<payload field> <op> <value>"`` then ``decision`` with the given actions, else
    ``otherwise`` (no actions). Fields may be dotted (``window.outlier_rate``)."""

    def __init__(self, name: str, on: str | Sequence[str], condition: str, *, decision: str = "act",
                 otherwise: str | None = None, actions: Sequence[ActionRequest] = ()):
        super().__init__(name, on)
        m = _CONDITION.match(condition)
        if not m:
            raise ValueError(
                f"rule {name!r}: cannot read condition {condition!r}: write it as "
                "'FIELD OP VALUE', e.g. 'count >= 100' or 'window.outlier_rate > 0.2'")
        self.condition = condition
        self.field, self.op, self.value = m.group(1), m.group(2), _literal(m.group(3))
        self.decision = decision
        self.otherwise = otherwise
        self.actions = list(actions)

    def evaluate(self, event, ctx):
        try:
            value = _lookup(event.payload, self.field)
        except KeyError:
            return None
        inputs = {self.field: value}
        if _OPS[self.op](value, self.value):
            return Decision(self.decision, f"{self.field}={value} {self.op} {self.value} -> {self.decision}",
                            actions=[ActionRequest(a.actuator, dict(a.params)) for a in self.actions],
                            inputs=inputs)
        if self.otherwise:
            return Decision(self.otherwise,
                            f"{self.field}={value}, not {self.op} {self.value} -> {self.otherwise}",
                            inputs=inputs)
        return None


def rule_from_config(conf: dict[str, Any]) -> Rule:
    """Build a rule from an ``Agent.rules`` entry of the application file.

    Keys: ``name``, ``when`` (the message kinds it listens to; ``on`` is accepted too, but YAML
    reads a bare ``on`` as ``true``), ``if`` (a condition), ``decision``, ``otherwise``, ``then``
    (actuator names, or ``{actuator: NAME, params: {...}}`` entries).
    """
    name = conf.get("name") or "rule"
    if "if" not in conf:
        raise ValueError(f"rule {name!r} needs an 'if' condition, e.g. if: 'count >= 100'")
    then = conf.get("then") or []
    then = [then] if isinstance(then, (str, dict)) else then
    actions = [ActionRequest(t) if isinstance(t, str)
               else ActionRequest(t["actuator"], dict(t.get("params") or {})) for t in then]
    return ThresholdRule(name, conf.get("when", conf.get("on", "*")), str(conf["if"]),
                         decision=conf.get("decision", "act"), otherwise=conf.get("otherwise"),
                         actions=actions)
