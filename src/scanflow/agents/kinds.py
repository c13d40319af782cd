"""The agent kinds: ``kind`` in the application file → the factory that builds the agent and the
pydantic model of its ``config``.

Built-in kinds (tracker, checker, improver, planner) register themselves when
:mod:`scanflow.agents.builtin` is imported; plugins call :func:`register_agent_kind`.

>>> from scanflow.agents.kinds import agent_kinds
>>> agent_kinds()
['checker', 'improver', 'planner', 'tracker']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scanflow.app import Agent

    from .agent import AgentDefinition
    from .config import AgentConfig

__all__ = ["AgentKind", "agent_kind", "agent_kinds", "register_agent_kind"]

AgentFactory = Callable[["Agent", Any], "AgentDefinition"]


@dataclass(frozen=True)
class AgentKind:
    """A kind of agent: ``factory(spec, config) -> AgentDefinition`` and its config model."""

    name: str
    factory: AgentFactory
    config: type[AgentConfig] | None = None


_KINDS: dict[str, AgentKind] = {}


def _load_builtin() -> None:
    # lazy: cycle, the built-in kinds import this module to register
    from . import builtin  # noqa: F401 - registers the built-in kinds


def register_agent_kind(kind: str, factory: AgentFactory, config: type[AgentConfig] | None = None) -> None:
    """Register ``factory(spec, config) -> AgentDefinition`` for agents of ``kind``; ``config``
    (a subclass of :class:`~scanflow.agents.config.AgentConfig`) validates their settings."""
    _KINDS[kind] = AgentKind(kind, factory, config)


def agent_kind(kind: str) -> AgentKind | None:
    _load_builtin()
    return _KINDS.get(kind)


def agent_kinds() -> list[str]:
    _load_builtin()
    return sorted(_KINDS)
