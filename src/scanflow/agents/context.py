"""What sensors, rules and actuators of one agent see while it runs: :class:`AgentContext`.

The context carries the agent's identity, its typed configuration (the pydantic model of its
kind, or a plain dict for a custom agent), its memory, the state store, and the typed
:class:`~scanflow.agents.services.AgentServices` it talks to the rest of Scanflow through.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scanflow.app import Application

    from .services import AgentServices
    from .store import StateStore

__all__ = ["AgentContext", "resolve"]


def resolve(value: Any, root: Any = None) -> Any:
    """``"pkg.module:attr"`` -> the attribute (importing the module); anything else unchanged.

    >>> resolve("math:pi") > 3, resolve("not an import string")
    (True, 'not an import string')
    """
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


@dataclass
class AgentContext:
    """One agent's view while it runs (see the module docstring)."""

    name: str
    kind: str
    store: StateStore
    config: Any
    services: AgentServices | None = None
    app: Application | None = None
    talks_to: list[str] = field(default_factory=list)
    supervises: list[str] = field(default_factory=list)
    memory: dict[str, Any] = field(default_factory=dict)

    def resolve(self, value: Any) -> Any:
        """An import string named in the config, resolved relative to the application folder."""
        return resolve(value, self.app.root if self.app is not None else None)

    @property
    def root(self):
        """The application folder (relative paths in the config are read from it)."""
        return self.app.root if self.app is not None else None
