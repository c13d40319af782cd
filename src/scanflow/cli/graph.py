"""``scanflow graph APP -o FILE``: draw an application's multi-graph (DOT, SVG, PNG, Mermaid).

Registered by the root app as ``app.command("graph")(graph)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from scanflow.graph import GraphvizNotFound, to_dot, write_graph
from scanflow.graph.model import build_graph

from .common import err, fail, load_application
from .exits import PROBLEM, USAGE


def graph(
    app_path: Annotated[Path, typer.Argument(metavar="APP", help="application folder, scanflow.yaml or app.py")] = Path("."),
    output: Annotated[Path | None, typer.Option("--output", "-o", metavar="FILE", help="FILE.svg, .png, .pdf (Graphviz), .dot or .mmd; omitted: DOT on stdout")] = None,
    workflow: Annotated[str | None, typer.Option("--workflow", "-w", help="draw only this workflow")] = None,
    status_file: Annotated[Path | None, typer.Option("--status-file", help="JSON file {node_id: status} to colour nodes")] = None,
    status: Annotated[Path | None, typer.Option("--status", hidden=True, help="deprecated: --status-file")] = None,
) -> None:
    """Draw the workflows, nested workflows, services and agents of an application."""
    application = load_application(str(app_path))
    status_file = status_file or status
    try:
        statuses = _read_statuses(status_file) if status_file else None
        if output is None:
            obj = build_graph(application, statuses, workflow=workflow) if workflow else application
            typer.echo(to_dot(obj, statuses), nl=False)
            return
        path = write_graph(application, output, statuses=statuses, workflow=workflow)
    except (FileNotFoundError, KeyError, ValueError) as exc:  # an option names what is not there
        fail(exc.args[0] if isinstance(exc, KeyError) and exc.args else exc, USAGE)
    except GraphvizNotFound as exc:
        fail(exc, PROBLEM)
    err.print(f"wrote {path}")


def _read_statuses(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"--status-file {path}: cannot read a JSON object ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f'--status-file {path}: expected a JSON object such as {{"training/train": "running"}}')
    return {str(k): str(v) for k, v in data.items()}
