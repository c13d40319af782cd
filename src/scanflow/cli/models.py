"""``scanflow models``: the model registry: list versions and aliases, promote, roll back.

    scanflow models list [NAME]                     registered models (or one model's versions)
    scanflow models promote NAME VERSION            move the alias ``champion`` to VERSION
    scanflow models rollback NAME                   move ``champion`` back to the previous version

Where the registry is: ``--tracking-uri URI``, else the application's tracker (``--app DIR``,
default: the current folder if it holds a ``scanflow.yaml``), else ``$MLFLOW_TRACKING_URI``,
else ``.scanflow/mlflow.db``. These commands only call the helpers of :mod:`scanflow.track`.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from scanflow.track import get_alias_version, get_client
from scanflow.track import promote as track_promote
from scanflow.track import rollback as track_rollback
from scanflow.track import tracking_uri as default_uri
from scanflow.track.store import registry_uri

from .common import fail, load_application

app = typer.Typer(
    help="List registered models, promote a version, roll back the champion.", no_args_is_help=True
)
console = Console()

_URI = typer.Option(
    "--tracking-uri",
    help="MLflow tracking URI (default: the app's, or "
    "$MLFLOW_TRACKING_URI, or .scanflow/mlflow.db)",
)
_APP = typer.Option("--app", metavar="APP", help="the application whose tracker to use: scanflow.yaml, a Python file defining `app`, or their folder")


def _client(tracking_uri: str | None, app_path: str | None):
    """The registry client and tracking URI the options point at (see the module docstring)."""
    if tracking_uri:
        return get_client(tracking_uri), tracking_uri
    application = None
    if app_path is not None:
        application = load_application(app_path)
    uri = default_uri(application)
    return get_client(uri, registry_uri(application)), uri


def _model_exists(client, name: str) -> None:
    from mlflow.exceptions import MlflowException  # lazy: mlflow takes seconds to import

    try:
        client.get_registered_model(name)
    except MlflowException:
        names = [m.name for m in client.search_registered_models()]
        hint = f"; registered models: {', '.join(names)}" if names else "; none is registered yet"
        fail(f"no registered model named {name!r}{hint}")


@app.command("list")
def list_models(
    name: Annotated[
        str | None, typer.Argument(help="a registered model: list its versions")
    ] = None,
    tracking_uri: Annotated[str | None, _URI] = None,
    app_path: Annotated[str | None, _APP] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """List registered models with their aliases, or the versions of model NAME."""
    client, uri = _client(tracking_uri, app_path)
    if name is None:
        _print_models(_model_rows(client), uri, as_json)
    else:
        _model_exists(client, name)
        _print_versions(_version_rows(client, name), name, uri, as_json)


def _model_rows(client) -> list[dict]:
    """Every registered model: its name, latest version and aliases."""
    return [
        {
            "name": m.name,
            "latest": max((int(v.version) for v in m.latest_versions or []), default=None),
            "aliases": {a: int(v) for a, v in sorted((m.aliases or {}).items())},
        }
        for m in client.search_registered_models()
    ]


def _print_models(rows: list[dict], uri: str, as_json: bool) -> None:
    """The registered models as JSON or a table."""
    if as_json:
        print(json.dumps(rows))
        return
    table = Table(title=f"registered models ({uri})")
    for col in ("name", "latest version", "aliases"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["name"],
            str(r["latest"] or "-"),
            ", ".join(f"{a}→v{v}" for a, v in r["aliases"].items()) or "-",
        )
    console.print(table if rows else f"no registered model in {uri}")


def _version_rows(client, name: str) -> list[dict]:
    """The versions of model ``name``, oldest first, with their aliases, run and gate decision."""
    aliases: dict[str, list[str]] = {}
    for alias, version in (client.get_registered_model(name).aliases or {}).items():
        aliases.setdefault(str(version), []).append(alias)
    versions = sorted(
        client.search_model_versions(f"name = '{name}'"), key=lambda v: int(v.version)
    )
    return [
        {
            "version": int(v.version),
            "aliases": sorted(aliases.get(str(v.version), [])),
            "run_id": v.run_id,
            "created": v.creation_timestamp,
            "role": (v.tags or {}).get("scanflow.role", ""),
            "gate": (v.tags or {}).get("scanflow.gate.reason", ""),
        }
        for v in versions
    ]


def _print_versions(rows: list[dict], name: str, uri: str, as_json: bool) -> None:
    """The versions of one model as JSON or a table."""
    if as_json:
        print(json.dumps(rows))
        return
    table = Table(title=f"{name} ({uri})")
    for col in ("version", "aliases", "role", "run", "gate decision"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(
            str(r["version"]),
            ", ".join(r["aliases"]) or "-",
            r["role"] or "-",
            (r["run_id"] or "-")[:12],
            r["gate"] or "-",
        )
    console.print(table)


@app.command()
def promote(
    name: Annotated[str, typer.Argument(help="registered model name")],
    version: Annotated[int, typer.Argument(help="the version to make champion")],
    alias: Annotated[str, typer.Option(help="the alias to move")] = "champion",
    tracking_uri: Annotated[str | None, _URI] = None,
    app_path: Annotated[str | None, _APP] = None,
) -> None:
    """Point ALIAS (default champion) of model NAME at VERSION; the old one is kept for rollback."""
    from mlflow.exceptions import MlflowException  # lazy: mlflow takes seconds to import

    client, _ = _client(tracking_uri, app_path)
    _model_exists(client, name)
    try:
        client.get_model_version(name, str(version))
    except MlflowException:
        known = sorted(int(v.version) for v in client.search_model_versions(f"name = '{name}'"))
        fail(f"model {name!r} has no version {version}; versions: {known}")
    previous = track_promote(name, version, alias=alias, client=client)
    if previous == version:
        console.print(f"{name}: {alias} already is v{version}; nothing changed")
    else:
        console.print(
            f"{name}: {alias} → v{version}"
            + (
                f" (was v{previous}; `scanflow models rollback {name}` undoes it)"
                if previous is not None
                else ""
            )
        )


@app.command()
def rollback(
    name: Annotated[str, typer.Argument(help="registered model name")],
    alias: Annotated[str, typer.Option(help="the alias to move back")] = "champion",
    tracking_uri: Annotated[str | None, _URI] = None,
    app_path: Annotated[str | None, _APP] = None,
) -> None:
    """Move ALIAS (default champion) of model NAME back to the version it had before."""
    client, _ = _client(tracking_uri, app_path)
    _model_exists(client, name)
    current = get_alias_version(name, alias, client=client)
    try:
        target = track_rollback(name, alias=alias, client=client)
    except LookupError as exc:
        fail(f"{exc}: nothing to roll back (promote a version first)")
    console.print(f"{name}: {alias} v{current} → v{target} (rolled back)")
