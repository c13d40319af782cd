"""Typed agent configuration: one pydantic model per agent kind, checked before anything runs.

Each built-in kind declares its ``config`` keys as a subclass of :class:`AgentConfig` (defaults,
types, what they mean). An unknown key is an error naming it and the key that was probably
meant; a wrong type names the key and the expected type; what a kind needs to work (a detector
for the checker, training data for the improver's built-in strategies) is checked by
:meth:`AgentConfig.start_problems` when the agent is built — so a missing setting fails at
start-up, by name, not at the first drift. ``scanflow validate`` reports the same problems with
the file and line (:func:`config_problems`).

Values may also be Python objects (a fitted detector, a function) when the runtime is given
them from code: ``AgentRuntime(app, config={"checker": {"detector": det}})``.
"""

from __future__ import annotations

import difflib
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from scanflow.app import Problem
from scanflow.errors import ScanflowError

from .kinds import agent_kind

__all__ = ["AgentConfig", "AgentConfigError", "config_problems", "parse_config"]


class AgentConfigError(ScanflowError, ValueError):
    """An agent's ``config`` is invalid; one line per problem."""


class AgentConfig(BaseModel):
    """Base of the config models: unknown keys are refused with a did-you-mean."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, protected_namespaces=())

    kind: ClassVar[str] = ""

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            known = sorted(cls.model_fields)
            for key in data:
                if key not in cls.model_fields:
                    close = difflib.get_close_matches(str(key), known, n=1)
                    hint = f"did you mean {close[0]!r}? " if close else ""
                    raise ValueError(f"unknown config key {key!r}: {hint}known keys: {', '.join(known)}")
        return data

    def start_problems(self, app: Any) -> list[tuple[str, str, str]]:
        """What keeps an agent with this config from working: ``(key, message, fix)`` each."""
        return []


def _messages(exc: ValidationError) -> list[tuple[str, str]]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        out.append((loc, msg))
    return out


def parse_config(name: str, kind: str, model: type[AgentConfig], raw: dict[str, Any],
                 app: Any = None) -> AgentConfig:
    """``raw`` validated into ``model``; :class:`AgentConfigError` names every problem."""
    try:
        config = model.model_validate(dict(raw))
    except ValidationError as exc:
        lines = [f"agent {name!r} ({kind}): " + (f"config.{loc}: {msg}" if loc else msg)
                 for loc, msg in _messages(exc)]
        raise AgentConfigError("\n".join(lines)) from None
    problems = config.start_problems(app)
    if problems:
        raise AgentConfigError("\n".join(f"agent {name!r} ({kind}): config.{key}: {msg} ({fix})"
                                          for key, msg, fix in problems))
    return config


def config_problems(app: Any) -> list[Problem]:
    """Every problem of the agents' configs of ``app``, with file and line (for ``validate``)."""
    problems: list[Problem] = []
    file = str(app.source) if app.source else None
    for i, spec in enumerate(app.agents):
        kind = agent_kind(spec.kind)
        if kind is None or kind.config is None or spec.callable:
            continue
        where = f"agents[{i}] ({spec.name}).config"
        try:
            config = kind.config.model_validate(dict(spec.config))
        except ValidationError as exc:
            for loc, msg in _messages(exc):
                key = loc or _unknown_key(msg)
                path = ("agents", i, "config", *(key.split(".") if key else ()))
                problems.append(Problem(f"{where}.{key}" if key else where, msg, "",
                                        app.line_of(path), file))
            continue
        for key, msg, fix in config.start_problems(app):
            problems.append(Problem(f"{where}.{key}", msg, fix,
                                    app.line_of(("agents", i, "config", key)), file))
    return problems


def _unknown_key(message: str) -> str:
    if message.startswith("unknown config key "):
        return message.split("'")[1]
    return ""
