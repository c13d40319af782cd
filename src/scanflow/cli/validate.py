"""``scanflow validate APP``: every problem of an application spec, one a line.

APP is an application file (``scanflow.yaml`` or a Python file defining ``app``) or the folder
that holds one. It loads the spec and the agents' config models only: no MLflow, no torch.
"""

from __future__ import annotations

import typer
from rich.markup import escape

from ..agents import config_problems
from ..app import Executor, SubWorkflow
from .common import AppArg, console, load_application, print_problems
from .exits import PROBLEM


def validate(app_path: AppArg = ".") -> None:
    """Check an application: names, dependencies, cycles, files, resources, unknown keys, and
    every agent's config against its kind (unknown keys, types, missing settings)."""
    application = load_application(app_path)
    problems = config_problems(application)
    if problems:
        print_problems(problems, f"the agents' config of {app_path}")
        raise typer.Exit(PROBLEM)
    nodes = sum(len(w.nodes) for w in application.workflows)
    console.print(f"[green]✔[/green] {escape(str(application.source or app_path))}: application "
                  f"[bold]{escape(application.name)}[/bold] is valid "
                  f"({len(application.workflows)} workflows, {nodes} nodes, {len(application.agents)} agents)")
    for wf in application.workflows:
        parts = []
        for node in wf.nodes:
            if isinstance(node, SubWorkflow):
                parts.append(f"{node.name} (workflow {node.workflow})")
            elif isinstance(node, Executor):
                parts.append(node.name)
        console.print(f"  {escape(wf.name)}: {escape(', '.join(parts))}", highlight=False)
