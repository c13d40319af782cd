"""``scanflow serve APP``: the prediction API, dashboard, labeling UI and executor endpoint.

    scanflow serve APP [--model NAME] [--alias champion] [--detector FILE] [--host 127.0.0.1]
                       [--port 8000] [--token TOKEN] [--drift-window 200] [--state-dir DIR]
                       [--trust-type TYPE ...] [--trust-architecture pkg.mod:Class ...]
                       [--allow-pickle]

Serves the champion of the registered model, of any flavor (Scanflow's torch models,
scikit-learn, any MLflow pyfunc): it follows the alias and hot-swaps a newly promoted version,
checks each request against the model's input schema (table rows or images, see ``GET
/model``), flags each input against the detector, runs windowed drift checks in the background
and records every prediction for the agents. Loading runs nothing of the model file's choosing
unless trusted: ``--trust-type`` (a scikit-learn/skops type), ``--trust-architecture`` (a torch
class), ``--allow-pickle``, added to the service parameters ``trusted_types``,
``trusted_architectures``, ``allow_pickle``. Binding anything but 127.0.0.1 requires a token
(``--token`` or ``$SCANFLOW_TOKEN``). Register with :func:`register`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from scanflow.app import SpecError, load_app

console = Console()
err = Console(stderr=True)


def serve(
    app_path: Annotated[str, typer.Argument(metavar="APP", help="scanflow.yaml, a Python file defining `app`, or their folder")],
    model: Annotated[str | None, typer.Option(help="registered model to serve (default: the app's predict service)")] = None,
    alias: Annotated[str | None, typer.Option(help="registry alias to follow")] = None,
    detector: Annotated[Path | None, typer.Option(help="fitted detector file (Detector.save) for inline flags and drift")] = None,
    host: Annotated[str, typer.Option(help="address to bind; anything but loopback needs --token")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    token: Annotated[str | None, typer.Option(envvar="SCANFLOW_TOKEN", help="access token (required off loopback)")] = None,
    drift_window: Annotated[int | None, typer.Option(help="inputs per background drift check (0: off)")] = None,
    poll: Annotated[float, typer.Option(help="seconds between checks for a new champion")] = 2.0,
    state_dir: Annotated[Path | None, typer.Option(help="state folder (default: the app's .scanflow or $SCANFLOW_HOME)")] = None,
    trust_type: Annotated[list[str] | None, typer.Option("--trust-type", help="trust this type when loading a scikit-learn (skops) model, e.g. sklearn.tree._tree.Tree; repeatable")] = None,
    trust_architecture: Annotated[list[str] | None, typer.Option("--trust-architecture", help="trust this torch class (pkg.module:Class) when loading a model; repeatable")] = None,
    allow_pickle: Annotated[bool, typer.Option("--allow-pickle", help="load models stored as pickles (runs code of the file's choosing: trusted sources only)")] = False,
) -> None:
    """Serve the champion model with inline checking, the dashboard and the labeling UI."""
    import uvicorn  # lazy: only this command serves

    from scanflow.serve.stack import ServeStack  # lazy: loads FastAPI, which other commands skip

    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    application = _load_application(app_path, state_dir)
    token = _checked_token(host, token)
    try:
        stack = ServeStack(application, model_name=model, alias=alias, detector_path=detector,
                           drift_window=drift_window, poll_interval=poll, token=token,
                           trusted_types=trust_type or (),
                           trusted_architectures=trust_architecture or (),
                           allow_pickle=allow_pickle)
        stack.prediction.load()  # a detector that cannot check the model stops here
    except (ValueError, FileNotFoundError) as exc:
        _fail(exc)
    _print_addresses(stack, application.name, f"http://{host}:{port}")
    uvicorn.run(stack.api, host=host, port=port, log_level="warning")


def _fail(exc: Exception) -> NoReturn:
    """Print the error and exit with code 2."""
    err.print(f"[red]error:[/] {exc}")
    raise typer.Exit(2) from None


def _load_application(app_path: str, state_dir: Path | None):
    """The application to serve, on ``state_dir`` when given."""
    try:
        application = load_app(app_path)
    except (FileNotFoundError, SpecError) as exc:
        _fail(exc)
    if state_dir is not None:
        application.state_dir = str(state_dir.resolve())
    return application


def _checked_token(host: str, token: str | None) -> str | None:
    """The access token; binding anything but loopback without one stops here."""
    from scanflow.security import InsecureBindError, check_bind  # lazy: loads FastAPI

    try:
        return check_bind(host, token)
    except InsecureBindError as exc:
        _fail(exc)


def _print_addresses(stack, app_name: str, base: str) -> None:
    """Where everything is served, what the served model takes, and what is missing."""
    from scanflow.serve.inputs import model_takes  # lazy: loads FastAPI

    console.print(f"Serving [bold]{stack.model_name}@{stack.alias}[/] of {app_name}")
    console.print(f"  prediction API  [cyan]{base}/predict[/]   docs [cyan]{base}/docs[/]")
    console.print(f"  dashboard       [cyan]{base}/dashboard[/]")
    console.print(f"  labeling        [cyan]{base}/label/[/]")
    console.print(f"  MLflow UI       [cyan]mlflow ui --backend-store-uri {stack.tracking_uri}[/]")
    if stack.slot.ready:
        served = stack.slot.get()
        console.print(f"  serving version {served.version} ({served.model.flavor}): takes "
                      f"{model_takes(served.model.schema)}; see [cyan]{base}/model[/]")
    else:
        err.print(f"[yellow]no model served yet[/]: {stack.slot.last_error_ or 'no version has the alias'}")
    if stack.detector is None:
        console.print("  [yellow]no detector[/]: answers carry no outlier flag (pass --detector FILE)")


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the root command."""
    app.command("serve")(serve)
