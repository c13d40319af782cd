"""The ``scanflow`` command (Typer + Rich). Each topic's commands live in their own module here;
this file only assembles them."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from .._version import __version__
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
    logs,
    models,
    run,
    serve,
)

app = typer.Typer(
    name="scanflow",
    help="Define, run, track, supervise and debug machine-learning workflows.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"scanflow {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="print the version and exit")] = False,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True,
                                         help="more log messages on stderr: -v info, -vv debug")] = 0,
    log_level: Annotated[logs.Level | None, typer.Option(
        "--log-level", case_sensitive=False, help="log level by name; wins over -v")] = None,
) -> None:
    """Define, run, track, supervise and debug machine-learning workflows."""
    logs.setup_logging(logs.level_for(verbose, log_level.value if log_level else None))


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
