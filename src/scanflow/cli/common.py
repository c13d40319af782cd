"""What every command shares, so that one option means one thing everywhere: the consoles,
failing with the exit code of :mod:`scanflow.cli.exits`, the application argument, the state
folder, and loading an application.

The vocabulary (see ``docs/cli.md``): the application is the positional ``APP`` of every command
that works on one (``--app APP`` where the positional is something else, such as a run id);
``--state-dir DIR`` is its state folder, ``--state-url URL`` its state database and
``--labels-url URL`` its label store; ``--detector`` is a registered detector name or a fitted
detector file; ``--model`` a registered model name; ``--window`` a number of inputs per drift
check; ``--poll-every`` seconds between looks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from ..app import Application, SpecError, load_app
from .exits import PROBLEM, USAGE

__all__ = ["APP_HELP", "AppArg", "AppOpt", "StateDirOpt", "console", "err", "fail",
           "load_application"]

console = Console()
err = Console(stderr=True)

APP_HELP = "scanflow.yaml, a Python file defining `app`, or their folder"
AppArg = Annotated[str, typer.Argument(metavar="APP", help=APP_HELP)]
AppOpt = Annotated[str | None, typer.Option("--app", metavar="APP",
                                            help=f"the application: {APP_HELP} [default: .]")]
StateDirOpt = Annotated[Path | None, typer.Option(
    "--state-dir", metavar="DIR",
    help="state folder [default: the app's state_dir, $SCANFLOW_HOME, or .scanflow next to it]")]


def fail(message: object, code: int = USAGE) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code``."""
    err.print(f"[red]error:[/red] {escape(str(message))}", highlight=False)
    raise typer.Exit(code)


def print_problems(problems: list, where: str) -> None:
    """Every problem of a spec, one a line, on stderr."""
    err.print(f"[red]✘ {len(problems)} problem{'s' * (len(problems) != 1)} in "
              f"{escape(where)}:[/red]")
    for problem in problems:
        err.print(f"  {escape(str(problem))}", highlight=False)


def load_application(app_path: str, state_dir: Path | None = None) -> Application:
    """The application at ``app_path`` with its state folder settled: ``state_dir`` when given,
    else the spec's; the packaged demo applications keep theirs where ``scanflow demo`` does."""
    try:
        application = load_app(app_path)
    except FileNotFoundError as exc:
        fail(exc)
    except SpecError as exc:
        print_problems(exc.problems, app_path)
        raise typer.Exit(PROBLEM) from None
    if state_dir is not None:
        application.state_dir = str(Path(state_dir).resolve())
    elif (demo_state := _packaged_state_dir(application)) is not None:
        application.state_dir = str(demo_state)
    return application


def _packaged_state_dir(application: Application) -> Path | None:
    """The state folder ``scanflow demo`` uses, for an application inside the package."""
    package = Path(__file__).resolve().parents[1]
    if not Path(application.root).resolve().is_relative_to(package):
        return None  # not a packaged demo: do not load the demos to find out
    # lazy: scanflow.demo loads the demo's examples (numpy), which only its own folders need
    from ..demo import packaged_state_dir

    return packaged_state_dir(application)
