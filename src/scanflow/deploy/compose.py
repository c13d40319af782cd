"""Docker Compose and Docker Swarm exports.

``compose``: one service per node, service and agent, plus the MLflow tracker on a volume;
batch nodes start when their upstream nodes completed successfully
(``depends_on: {condition: service_completed_successfully}``), retries become
``restart: on-failure:N``, timeouts a ``timeout`` wrapper, resources ``deploy.resources``.

``swarm``: a stack file for ``docker stack deploy`` with replicas, placement constraints,
resources and restart policies. Swarm has no build step and ignores ``depends_on``: push the
images first (``docker compose -f docker-compose.yaml build && docker compose push``), and use
Kubernetes/Argo or the Ray backend when batch nodes must run in order.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import yaml

from scanflow._version import __version__
from scanflow.app import Application

from .containers import TRACKER_NAME, TRACKER_PORT, Container, Deployment
from .dockerfile import write_dockerfiles
from .exporter import Exporter, register_exporter
from .schemas import validate_compose

NETWORK = "scanflow"
KILL_AFTER = "30s"


def compose_memory(n_bytes: int) -> str:
    """Docker's memory notation, rounded up to whole MiB (``M`` is MiB for Docker)."""
    return f"{math.ceil(n_bytes / 2**20)}M"


def compose_cpus(cores: float) -> str:
    return f"{cores:g}"


def _command(c: Container) -> list[str]:
    if c.timeout and c.command:
        return ["timeout", f"--kill-after={KILL_AFTER}", f"{c.timeout:g}s", *c.command]
    return list(c.command)


def _resources(c: Container, swarm: bool) -> dict[str, Any]:
    limits: dict[str, Any] = {}
    reservations: dict[str, Any] = {}
    if c.cpu is not None:
        limits["cpus"] = reservations["cpus"] = compose_cpus(c.cpu)
    if c.memory is not None:
        limits["memory"] = reservations["memory"] = compose_memory(c.memory)
    if c.gpu:
        if swarm:  # Swarm schedules GPUs as generic resources advertised by the nodes
            reservations["generic_resources"] = [{"discrete_resource_spec": {"kind": "gpu", "value": c.gpu}}]
        else:
            reservations["devices"] = [{"driver": "nvidia", "count": c.gpu, "capabilities": ["gpu"]}]
    out: dict[str, Any] = {}
    if limits:
        out["limits"] = limits
    if reservations:
        out["reservations"] = reservations
    return out


def _service(c: Container, dep: Deployment, out_dir: Path, dockerfiles: dict[str, Path],
             swarm: bool) -> dict[str, Any]:
    svc: dict[str, Any] = {}
    if c.build and not swarm:
        root = dep.app.root.resolve()
        svc["build"] = {
            "context": os.path.relpath(root, out_dir.resolve()),
            "dockerfile": os.path.relpath(dockerfiles[c.name].resolve(), root),
        }
    svc["image"] = c.image
    command = _command(c)
    if command:
        svc["entrypoint"] = command
    svc["command"] = list(c.args)
    svc["environment"] = dict(c.env)
    svc["labels"] = {"io.scanflow.app": dep.app.name, "io.scanflow.kind": c.kind, "io.scanflow.ref": c.ref}
    svc["networks"] = [NETWORK]
    if c.volumes:
        svc["volumes"] = [f"{name}:{path}" for name, path in c.volumes.items()]
    if c.port:
        # Compose publishes on the loopback interface only; Swarm publishes through its ingress.
        svc["ports"] = [f"{c.port}:{c.port}" if swarm else f"127.0.0.1:{c.port}:{c.port}"]
    if c.depends_on:
        if swarm:
            svc["depends_on"] = list(c.depends_on)  # documents the order; Swarm ignores it
        else:
            svc["depends_on"] = {d: {"condition": _condition(dep.container(d))} for d in c.depends_on}
    if c.kind == "tracker":
        svc["healthcheck"] = {
            "test": ["CMD", "python", "-c",
                     f"import urllib.request; urllib.request.urlopen('http://localhost:{TRACKER_PORT}/health')"],
            "interval": "10s", "timeout": "5s", "retries": 5, "start_period": "20s",
        }
    deploy: dict[str, Any] = {}
    if swarm:
        deploy["mode"] = "replicated"
    if c.kind in ("service", "agent") and (swarm or c.replicas != 1):
        deploy["replicas"] = c.replicas
    resources = _resources(c, swarm)
    if resources:
        deploy["resources"] = resources
    if swarm:
        deploy["restart_policy"] = _swarm_restart(c)
        placement = _placement(c)
        if placement:
            deploy["placement"] = placement
    else:
        svc["restart"] = _compose_restart(c)
    if deploy:
        svc["deploy"] = deploy
    return svc


def _condition(upstream: Container) -> str:
    if upstream.kind == "node":
        return "service_completed_successfully"
    if upstream.kind == "tracker":
        return "service_healthy"
    return "service_started"


def _compose_restart(c: Container) -> str:
    if c.kind == "node":
        return f"on-failure:{c.retries}" if c.retries else "no"
    return "unless-stopped"


def _swarm_restart(c: Container) -> dict[str, Any]:
    if c.kind != "node":
        return {"condition": "any", "delay": "5s"}
    if not c.retries:
        return {"condition": "none"}
    return {"condition": "on-failure", "delay": f"{c.retry_backoff:g}s", "max_attempts": c.retries}


def _placement(c: Container) -> dict[str, Any]:
    placement: dict[str, Any] = {}
    if c.kind == "tracker":
        placement["constraints"] = ["node.role == manager"]  # its volume lives on one node
    elif c.gpu:
        placement["constraints"] = ["node.labels.scanflow.gpu == true"]
    if c.kind in ("service", "agent") and c.replicas > 1:
        placement["preferences"] = [{"spread": "node.hostname"}]
    return placement


def compose_document(dep: Deployment, out_dir: Path, dockerfiles: dict[str, Path],
                     swarm: bool = False) -> dict[str, Any]:
    """The compose (or stack) file as plain data."""
    doc: dict[str, Any] = {}
    if swarm:
        doc["version"] = "3.8"  # `docker stack deploy` wants a version; Compose ignores it
    doc["services"] = {c.name: _service(c, dep, out_dir, dockerfiles, swarm) for c in dep.containers}
    doc["networks"] = {NETWORK: {"driver": "overlay", "attachable": True} if swarm else {"driver": "bridge"}}
    volumes = {name for c in dep.containers for name in c.volumes}
    doc["volumes"] = {name: {} for name in sorted(volumes)}
    doc["x-scanflow"] = {"app": dep.app.name, "generator": f"scanflow {__version__}",
                         "tracking_uri": dep.tracking_uri, "target": "swarm" if swarm else "compose"}
    return doc


@register_exporter
class ComposeExporter(Exporter):
    """Write ``docker-compose.yaml`` and the Dockerfiles it builds.

    ``validate``: check the document against the Compose specification before writing it (when
    ``jsonschema`` is installed); the other settings are :class:`Exporter`'s.

    >>> from scanflow.app import Application, Workflow, Executor
    >>> app = Application(name="demo", workflows=[Workflow(name="w", nodes=[
    ...     Executor(name="a", script="a.py"), Executor(name="b", script="b.py", depends_on="a")])])
    >>> import tempfile; out = tempfile.mkdtemp()
    >>> files = ComposeExporter().export(app, out)
    >>> doc = yaml.safe_load(files["compose"].read_text())
    >>> doc["services"]["w-b"]["depends_on"]["w-a"]
    {'condition': 'service_completed_successfully'}
    """

    target = "compose"
    filename = "docker-compose.yaml"
    swarm = False

    def __init__(self, registry: str | None = None, tag: str = "latest", base_image: str | None = None,
                 tracker_image: str | None = None, validate: bool = True):
        super().__init__(registry=registry, tag=tag, base_image=base_image, tracker_image=tracker_image)
        self.validate = validate

    def export(self, app: Application, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
        """Write the files into ``out_dir``; returns ``{"compose": path, <container>: Dockerfile}``."""
        dep = self.deployment(app)  # bad input is refused before anything is written
        out = self.output_folder(out_dir)
        dockerfiles = write_dockerfiles(dep, out / "dockerfiles", self.dockerfile_base)
        doc = compose_document(dep, out, dockerfiles, swarm=self.swarm)
        if self.validate:
            validate_compose(doc)
        path = out / self.filename
        header = (f"# Generated by scanflow {__version__} from application {app.name!r} ({self.target}).\n"
                  + self.usage() + "\n")
        path.write_text(header + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=120))
        return {self.target: path, **dockerfiles}

    def usage(self) -> str:
        return ("# Run: docker compose -f docker-compose.yaml up --build\n"
                f"# MLflow UI: http://127.0.0.1:{TRACKER_PORT} (tracker service '{TRACKER_NAME}')")


@register_exporter
class SwarmExporter(ComposeExporter):
    """Write ``stack.yaml`` for ``docker stack deploy`` (images must be pushed to ``registry``)."""

    target = "swarm"
    filename = "stack.yaml"
    swarm = True

    def usage(self) -> str:
        return ("# Build and push the images first (docker-compose.yaml from `scanflow export compose`),\n"
                "# then: docker stack deploy -c stack.yaml <stack name>")
