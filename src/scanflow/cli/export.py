"""``scanflow export compose|swarm|kubernetes|dockerfiles APP -o DIR``.

Registered by the root app as ``app.add_typer(export.app, name="export")``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from scanflow.deploy import ExportInvalid, export

from .common import err, fail, load_application
from .exits import PROBLEM

app = typer.Typer(help="Export an application: Dockerfiles, Docker Compose, Docker Swarm, Kubernetes + Argo.",
                  no_args_is_help=True)

AppArg = Annotated[Path, typer.Argument(metavar="APP", help="application folder, scanflow.yaml or app.py")]
OutOpt = Annotated[Path, typer.Option("--output", "-o", metavar="DIR", help="folder to write into (created if needed)")]
RegistryOpt = Annotated[str | None, typer.Option("--registry", help="image registry prefix, e.g. ghcr.io/me")]
TagOpt = Annotated[str, typer.Option("--tag", help="tag of the images Scanflow builds")]
BaseOpt = Annotated[str | None, typer.Option("--base-image", help="base image of generated Dockerfiles")]


def _run(target: str, app_path: Path, output: Path, **settings) -> None:
    application = load_application(str(app_path))
    try:
        files = export(application, target, output, **settings)
    except (FileNotFoundError, KeyError, ValueError, ExportInvalid) as exc:
        fail(exc.args[0] if isinstance(exc, KeyError) and exc.args else exc, PROBLEM)
    table = Table(title=f"{target} export of {application.name!r} in {output}")
    table.add_column("what")
    table.add_column("file")
    for what, path in files.items():
        table.add_row(what, str(path))
    err.print(table)


@app.command("compose")
def compose(app_path: AppArg, output: OutOpt = Path("deploy/compose"), registry: RegistryOpt = None,
            tag: TagOpt = "latest", base_image: BaseOpt = None) -> None:
    """docker-compose.yaml: a service per node, service and agent, plus an MLflow tracker."""
    _run("compose", app_path, output, registry=registry, tag=tag, base_image=base_image)


@app.command("swarm")
def swarm(app_path: AppArg, output: OutOpt = Path("deploy/swarm"), registry: RegistryOpt = None,
          tag: TagOpt = "latest", base_image: BaseOpt = None) -> None:
    """stack.yaml for `docker stack deploy`: replicas, placement, resources, restart policies."""
    _run("swarm", app_path, output, registry=registry, tag=tag, base_image=base_image)


@app.command("kubernetes")
def kubernetes(app_path: AppArg, output: OutOpt = Path("deploy/kubernetes"), registry: RegistryOpt = None,
               tag: TagOpt = "latest", base_image: BaseOpt = None,
               namespace: Annotated[str | None, typer.Option(help="namespace (default: the app name)")] = None,
               storage_class: Annotated[str | None, typer.Option(help="StorageClass of the volume claims")] = None) -> None:
    """Argo Workflows, Deployments + Services, tracker with a PVC, ConfigMap, Secret, Namespace."""
    _run("kubernetes", app_path, output, registry=registry, tag=tag, base_image=base_image,
         namespace=namespace, storage_class=storage_class)


@app.command("dockerfiles")
def dockerfiles(app_path: AppArg, output: OutOpt = Path("deploy/dockerfiles"), registry: RegistryOpt = None,
                tag: TagOpt = "latest", base_image: BaseOpt = None) -> None:
    """One Dockerfile per node, service and agent (pinned base, non-root user, entry point)."""
    _run("dockerfiles", app_path, output, registry=registry, tag=tag, base_image=base_image)
