"""Formatting numbers in the reason sentences of the built-in agents."""

from __future__ import annotations


def fmt(x: float | None) -> str:
    """A number for a reason sentence: 0.31, 1e-09, 12.

    >>> fmt(0.3141), fmt(1e-9), fmt(None)
    ('0.314', '1e-09', 'n/a')
    """
    if x is None:
        return "n/a"
    if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e5):
        return f"{x:.2g}"
    return f"{x:.3g}"
