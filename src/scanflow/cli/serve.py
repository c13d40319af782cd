"""``scanflow serve APP``: the prediction API, dashboard, labeling UI and executor endpoint.

    scanflow serve APP [--model NAME] [--alias champion] [--detector FILE] [--host 127.0.0.1]
                       [--port 8000] [--token TOKEN] [--window 200] [--poll-every 2]
                       [--state-dir DIR] [--state-url URL] [--labels-url URL]
                       [--trust-type TYPE ...] [--trust-architecture pkg.mod:Class ...]
                       [--allow-pickle] [--backend local|ray] [--replicas N] [--address ADDR]

Serves the champion of the registered model, of any flavor (Scanflow's torch models,
scikit-learn, any MLflow pyfunc): it follows the alias and hot-swaps a newly promoted version,
checks each request against the model's input schema (table rows or images, see ``GET
/model``), flags each input against the detector, runs windowed drift checks in the background
and records every prediction for the agents. Loading runs nothing of the model file's choosing
unless trusted: ``--trust-type`` (a scikit-learn/skops type), ``--trust-architecture`` (a torch
class), ``--allow-pickle``, added to the service parameters ``trusted_types``,
``trusted_architectures``, ``allow_pickle``. Binding anything but 127.0.0.1 requires a token
(``--token`` or ``$SCANFLOW_TOKEN``). ``--backend ray`` serves the prediction API alone as
``--replicas`` Ray Serve replicas behind one endpoint (:mod:`scanflow.serve.ray_serving`).
Register with :func:`register`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from .common import AppArg, StateDirOpt, console, err, fail, load_application

DetectorOpt = Annotated[str | None, typer.Option(
    "--detector", metavar="FILE",
    help="fitted detector file (`scanflow check ... --save FILE`) for inline flags and drift "
         "[default: the service's `detector`, else <state>/detector.npz]")]
WindowOpt = Annotated[int | None, typer.Option(
    "--window", metavar="N", min=0,
    help="inputs per background drift check, 0: off [default: the service's `window`, else 200]")]
PollOpt = Annotated[float, typer.Option(
    "--poll-every", metavar="SECONDS", min=0.0,
    help="seconds between looks for a newly promoted model or detector")]
StateUrlOpt = Annotated[str | None, typer.Option(
    "--state-url", metavar="URL", help="state database [default: <state>/scanflow.db]")]
BackendOpt = Annotated[str, typer.Option(
    "--backend",
    help="local: one server with the dashboard and labeling UI; ray: the prediction API as "
         "Ray Serve replicas behind one endpoint")]
ReplicasOpt = Annotated[int | None, typer.Option(
    "--replicas", metavar="N", min=1,
    help="replicas of the prediction API with --backend ray [default: the service's `replicas`]")]
AddressOpt = Annotated[str | None, typer.Option(
    "--address",
    help="Ray cluster to join with --backend ray (ray://HEAD:10001, auto) [default: a local Ray "
         "on 127.0.0.1]")]
LabelsUrlOpt = Annotated[str | None, typer.Option(
    "--labels-url", metavar="URL", help="label store [default: <state>/labels.db]")]


def serve(
    app_path: AppArg,
    model: Annotated[str | None, typer.Option(help="registered model to serve [default: the app's predict service]")] = None,
    alias: Annotated[str | None, typer.Option(help="registry alias to follow")] = None,
    detector: DetectorOpt = None,
    host: Annotated[str, typer.Option(help="address to bind; anything but loopback needs --token")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    token: Annotated[str | None, typer.Option(envvar="SCANFLOW_TOKEN", help="access token (required off loopback)")] = None,
    window: WindowOpt = None,
    poll_every: PollOpt = 2.0,
    state_dir: StateDirOpt = None,
    state_url: StateUrlOpt = None,
    labels_url: LabelsUrlOpt = None,
    trust_type: Annotated[list[str] | None, typer.Option("--trust-type", help="trust this type when loading a scikit-learn (skops) model, e.g. sklearn.tree._tree.Tree; repeatable")] = None,
    trust_architecture: Annotated[list[str] | None, typer.Option("--trust-architecture", help="trust this torch class (pkg.module:Class) when loading a model; repeatable")] = None,
    allow_pickle: Annotated[bool, typer.Option("--allow-pickle", help="load models stored as pickles (runs code of the file's choosing: trusted sources only)")] = False,
    backend: BackendOpt = "local",
    replicas: ReplicasOpt = None,
    address: AddressOpt = None,
    drift_window: Annotated[int | None, typer.Option("--drift-window", hidden=True, help="deprecated: --window")] = None,
    poll: Annotated[float | None, typer.Option("--poll", hidden=True, help="deprecated: --poll-every")] = None,
) -> None:
    """Serve the champion model with inline checking, the dashboard and the labeling UI."""
    import uvicorn  # lazy: only this command serves

    from scanflow.serve.stack import ServeStack  # lazy: loads FastAPI, which other commands skip

    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    application = load_application(app_path, state_dir)
    token = _checked_token(host, token)
    if backend not in ("local", "ray"):
        fail(f"--backend {backend!r}: use local or ray")
    if backend == "ray":
        from .serve_replicas import serve_on_ray  # lazy: loads Ray Serve

        return serve_on_ray(application, model=model, alias=alias, detector=_detector_file(detector),
                            window=window if window is not None else drift_window,
                            poll_every=poll if poll is not None else poll_every, host=host,
                            port=port, token=token, state_url=state_url, replicas=replicas,
                            address=address, trusted_types=tuple(trust_type or ()),
                            trusted_architectures=tuple(trust_architecture or ()),
                            allow_pickle=allow_pickle)
    if replicas not in (None, 1) or address:
        fail("--replicas and --address serve on Ray: add --backend ray (pip install scanflow[ray])")
    try:
        stack = ServeStack(application, model_name=model, alias=alias,
                           detector_path=_detector_file(detector),
                           window=window if window is not None else drift_window,
                           poll_interval=poll if poll is not None else poll_every, token=token, state_url=state_url,
                           label_store_url=labels_url, trusted_types=trust_type or (),
                           trusted_architectures=trust_architecture or (),
                           allow_pickle=allow_pickle)
        stack.prediction.load()  # a detector that cannot check the model stops here
    except (ValueError, FileNotFoundError) as exc:
        fail(exc)
    _print_addresses(stack, application.name, f"http://{host}:{port}")
    uvicorn.run(stack.api, host=host, port=port, log_level="warning")


def _detector_file(detector: str | None) -> Path | None:
    """``--detector`` as a file; a registered detector's name has nothing fitted to serve."""
    if detector is None or Path(detector).suffix or Path(detector).exists():
        return None if detector is None else Path(detector)
    fail(f"--detector {detector!r}: serving needs a fitted detector file; fit one with "
         f"`scanflow check --reference REF --detector {detector} --save detector.npz`")


def _checked_token(host: str, token: str | None) -> str | None:
    """The access token; binding anything but loopback without one stops here."""
    from scanflow.security import InsecureBindError, check_bind  # lazy: loads FastAPI

    try:
        return check_bind(host, token)
    except InsecureBindError as exc:
        fail(exc)


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
