"""The ``scanflow`` command (Typer + Rich). Each topic's commands live in their own module here;
this file only assembles them."""

from __future__ import annotations

import sys

import typer

from . import (
    agents,
    check,
    datasets,
    demo,
    episodes,
    exits,
    experiment,
    export,
    graph,
    label,
    models,
    run,
    serve,
)

app = typer.Typer(
    name="scanflow",
    help="Define, run, track, supervise and debug machine-learning workflows.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

# The main job first, then the workflow commands, then the rest by topic.
demo.register(app)
run.register(app)  # init, validate, run, runs, wipe
app.command("graph")(graph.graph)
app.command("check")(check.check)
serve.register(app)
app.add_typer(datasets.app, name="datasets")
app.add_typer(label.app, name="label")
app.add_typer(models.app, name="models")
app.add_typer(agents.app, name="agents")
app.add_typer(episodes.app, name="episodes")
app.add_typer(experiment.app, name="experiment")
app.add_typer(export.app, name="export")


def main(argv: list[str] | None = None) -> None:
    """Run the command line; exit codes are those of :mod:`scanflow.cli.exits`."""
    sys.exit(exits.run_guarded(app, argv))
