"""The ``scanflow`` command (Typer + Rich). Each topic's commands live in their own module here;
this file only assembles them."""

from __future__ import annotations

import importlib
import sys
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from .._version import __version__
from . import exits, logs

# Every command: (name, module under scanflow.cli, how it is added, its help line). A module
# loads when its command runs (or shows its own --help): `scanflow --help`, `scanflow validate`
# and `scanflow run` do not pay for torch, SQLAlchemy or MLflow. How: "register" calls the
# module's register(app); "command" adds its function of that name; "group" adds its Typer `app`.
# Listed in the help's order: the main job, the workflow commands, then the rest by topic.
COMMANDS: list[tuple[str, str, str, str]] = [
    ("demo", "demo", "register", "Train, serve, stream shifting data and let the agents close the loop."),
    ("init", "run", "register", "Scaffold a runnable example application in DIR."),
    ("validate", "validate", "command", "Check an application: names, dependencies, cycles, files, resources, "
     "unknown keys, and every agent's config against its kind (unknown keys, types, missing settings)."),
    ("run", "run", "register", "Run the workflows of an application (live progress; prints how to resume "
     "on failure)."),
    ("runs", "run", "register", "List the runs of an application, or `runs show RUN_ID [APP]` for one run "
     "node by node."),
    ("wipe", "run", "register", "Delete the application's state folder: runs, logs, cache, isolated envs, "
     "local MLflow store."),
    ("graph", "graph", "command", "Draw the workflows, nested workflows, services and agents of an application."),
    ("check", "check", "command", "Check new data against reference data: drift, outliers, integrity."),
    ("serve", "serve", "register", "Serve the champion model with inline checking, the dashboard and the "
     "labeling UI."),
    ("datasets", "datasets", "group", "Datasets and MNIST-C corruptions."),
    ("label", "label", "group", "Label samples in the terminal or the browser; fill the queue; see progress."),
    ("models", "models", "group", "List registered models, promote a version, roll back the champion."),
    ("agents", "agents", "group", "Run and supervise the agents of an application."),
    ("episodes", "episodes", "group", "Drift episodes: what each shift cost in labels."),
    ("experiment", "experiment", "group", "Run the MNIST-C human-in-the-loop experiment end to end."),
    ("export", "export", "group", "Export an application: Dockerfiles, Docker Compose, Docker Swarm, "
     "Kubernetes + Argo."),
]
_BY_NAME = {name: (module, how, text) for name, module, how, text in COMMANDS}


def load_command(name: str) -> Any:
    """The Click command ``name``, importing its module."""
    module_name, how, _ = _BY_NAME[name]
    module = importlib.import_module(f"{__name__}.{module_name}")
    holder = typer.Typer()
    if how == "register":
        module.register(holder)
    elif how == "command":
        holder.command(name)(getattr(module, name))
    else:
        holder.add_typer(module.app, name=name)
    return typer.main.get_group(holder).commands[name]


class LazyGroup(TyperGroup):
    """The root group: a command's module loads when the command is used; the root's own help
    lists the commands from :data:`COMMANDS` without loading any."""

    def list_commands(self, ctx: Any) -> list[str]:
        return [*(n for n in self.commands if n not in _BY_NAME), *_BY_NAME]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in _BY_NAME and cmd_name not in self.commands:
            self.commands[cmd_name] = load_command(cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        missing = [n for n in _BY_NAME if n not in self.commands]
        for name in missing:  # stand-ins that carry only the help line
            self.commands[name] = TyperCommand(name=name, help=_BY_NAME[name][2])
        try:
            super().format_help(ctx, formatter)
        finally:
            for name in missing:
                del self.commands[name]


app = typer.Typer(
    cls=LazyGroup,
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


def main(argv: list[str] | None = None) -> None:
    """Run the command line; exit codes are those of :mod:`scanflow.cli.exits`."""
    sys.exit(exits.run_guarded(app, argv))
