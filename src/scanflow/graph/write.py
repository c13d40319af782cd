"""Write a graph to a file, choosing the format from the file's suffix."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .dot import render_dot, to_dot
from .mermaid import to_mermaid
from .model import build_graph

FORMATS = {
    ".dot": "dot", ".gv": "dot",
    ".mmd": "mermaid", ".mermaid": "mermaid",
    ".svg": "svg", ".png": "png", ".pdf": "pdf",
}


def write_graph(obj: Any, path: str | os.PathLike[str], statuses: dict[str, str] | None = None,
                workflow: str | None = None) -> Path:
    """Write ``obj``'s graph to ``path``: ``.dot``/``.gv`` and ``.mmd`` always work; ``.svg``,
    ``.png`` and ``.pdf`` need Graphviz. ``workflow`` draws one workflow of an application.
    """
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(
            f"cannot tell the graph format from {path.name!r}: end the file name with one of "
            + ", ".join(sorted(FORMATS))
        )
    if workflow is not None:
        obj = build_graph(obj, statuses, workflow=workflow)
    if fmt == "mermaid":
        data: bytes = to_mermaid(obj, statuses).encode()
    elif fmt == "dot":
        data = to_dot(obj, statuses).encode()
    else:
        data = render_dot(to_dot(obj, statuses), fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
