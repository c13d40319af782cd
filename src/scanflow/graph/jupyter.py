"""Jupyter display of applications and workflows (installed by ``import scanflow.graph``).

The spec package (:mod:`scanflow.app`) cannot import this one, so
:func:`scanflow.app.set_renderer` takes a callback: ``render_for_jupyter(fmt, obj)`` returns SVG
when Graphviz is installed, and otherwise an HTML fallback (the Mermaid text, with how to get a
picture), so a notebook always shows something.
"""

from __future__ import annotations

import html
from typing import Any

from .dot import GraphvizNotFound, find_dot, to_svg
from .mermaid import to_mermaid


def render_for_jupyter(fmt: str, obj: Any) -> str | None:
    """``fmt`` is ``"svg"`` or ``"html"``; ``None`` lets Jupyter use the other one."""
    try:
        find_dot()
        has_dot = True
    except GraphvizNotFound:
        has_dot = False
    if fmt == "svg":
        return to_svg(obj) if has_dot else None
    if fmt == "html":
        if has_dot:
            return None  # the SVG is shown; no need to store the picture twice
        return (
            "<div><p><em>Install Graphviz (<code>dot</code>) to see this graph as a picture; "
            "its Mermaid text:</em></p><pre>" + html.escape(to_mermaid(obj)) + "</pre></div>"
        )
    return None
