"""Reading a built-in agent's ``config``: defaults, and a clear error for unknown keys."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


def settings(agent: str, kind: str, config: dict[str, Any], defaults: dict[str, Any],
             callables: Iterable[str] = ()) -> dict[str, Any]:
    """``defaults`` updated with ``config``; unknown keys raise ValueError naming the fix."""
    known = set(defaults) | set(callables)
    for key in config:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(f"agent {agent!r} ({kind}): unknown config key {key!r}: {hint}"
                             f"known keys: {', '.join(sorted(known))}")
    return {**defaults, **config}


def fmt(x: float | None) -> str:
    """A number for a reason sentence: 0.31, 1e-09, 12."""
    if x is None:
        return "n/a"
    if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e5):
        return f"{x:.2g}"
    return f"{x:.3g}"
