"""The containers of an application, described once for every export target.

Every executor (nested workflows expanded, ids as in ``scanflow run``), every service and every
agent becomes a :class:`Container`; a tracker container (an MLflow server on a volume) is added
unless the application points at a remote tracker. Compose, Swarm and Kubernetes exporters only
translate these descriptions into their own format, so the three exports agree on names,
images, commands, environment variables, resources and dependencies.

Inside an image the application folder is ``/app`` (the working directory, also on
``PYTHONPATH``), and ``/data`` is a volume shared by the nodes of a run
(``$SCANFLOW_OUTPUT_DIR`` is ``/data/outputs``, as a local run's shared output folder).
"""

from __future__ import annotations

import importlib.metadata
import json
import posixpath
from dataclasses import dataclass, field
from typing import Literal

from scanflow._version import __version__
from scanflow.app import Application, Executor, Resources, Service
from scanflow.app.plan import CALLABLE_SNIPPET, build_plan, param_env, param_flags

from .naming import dns_label

APP_DIR = "/app"
DATA_DIR = "/data"
OUTPUT_DIR = f"{DATA_DIR}/outputs"
TRACKER_NAME = "tracker"
TRACKER_PORT = 5000
TRACKER_DIR = "/mlflow"
# A Debian-based image pinned to a patch release; override with `base_image=`.
BASE_IMAGE = "python:3.11.11-slim-bookworm"
# Agents run in Scanflow's agent runtime; "{app}" and "{agent}" are filled in.
AGENT_COMMAND = ("scanflow", "agents", "run", "{app}", "--agent", "{agent}")

Kind = Literal["node", "service", "agent", "tracker"]


def _mlflow_version() -> str:
    try:
        return importlib.metadata.version("mlflow")
    except importlib.metadata.PackageNotFoundError:
        return "2.16.2"


@dataclass
class Container:
    """One container of an exported application (a batch node, a service, an agent, the tracker)."""

    name: str                        # unique DNS label: a compose service, a k8s object, a template
    kind: Kind
    ref: str                         # "training/load", "service:api", "agent:checker", "tracker"
    image: str
    command: list[str]               # the program (Docker ENTRYPOINT, k8s `command`)
    args: list[str] = field(default_factory=list)   # its arguments (Docker CMD, k8s `args`)
    env: dict[str, str] = field(default_factory=dict)
    cpu: float | None = None         # cores
    cpu_text: str | None = None      # as written (``"500m"``), for Kubernetes
    memory: int | None = None        # bytes
    memory_text: str | None = None   # as written (``"2Gi"``), for Kubernetes
    gpu: int | None = None
    depends_on: list[str] = field(default_factory=list)  # container names
    retries: int = 0
    retry_backoff: float = 1.0
    timeout: float | None = None
    port: int | None = None
    replicas: int = 1
    workflow: str | None = None      # root workflow of a batch node
    build: bool = True               # built by us (False: the user's `image:` is used as is)
    dockerfile: str | None = None    # the user's Dockerfile, relative to the application folder
    requirements: list[str] = field(default_factory=list)
    workdir: str = APP_DIR
    volumes: dict[str, str] = field(default_factory=dict)  # volume name -> mount path


@dataclass
class Deployment:
    """Everything an exporter needs: the containers and the shared settings."""

    app: Application
    namespace: str
    tracking_uri: str
    tracker: Container | None
    nodes: list[Container]
    services: list[Container]
    agents: list[Container]

    @property
    def containers(self) -> list[Container]:
        return [c for c in [self.tracker, *self.nodes, *self.services, *self.agents] if c is not None]

    def container(self, name: str) -> Container:
        for c in self.containers:
            if c.name == name:
                return c
        raise KeyError(name)


def entrypoint(spec: Executor | Service) -> tuple[list[str], list[str]]:
    """(program, arguments) of a node or service inside its container (paths relative to /app)."""
    if isinstance(spec, Service) and spec.command:
        return list(spec.command[:1]), list(spec.command[1:])
    kind, value = spec.entrypoint
    flags = [*spec.args, *param_flags(spec.parameters)]
    if kind == "script":
        path = posixpath.normpath(posixpath.join(spec.workdir or ".", value))
        if path.endswith(".py"):
            return ["python", path], flags
        if path.endswith(".sh"):
            return ["bash", path], flags
        return [f"./{path}" if "/" not in path else path], flags
    if kind == "module":
        return ["python", "-m", value], flags
    if kind == "callable":
        return ["python", "-c", CALLABLE_SNIPPET], [value, json.dumps(spec.parameters)]
    if spec.image:
        return [], flags  # the image's own entry point
    raise ValueError(f"{spec.name!r} has no script, module, callable, command or image to run")


def _resources(c: Container, res: Resources) -> None:
    c.cpu, c.memory, c.gpu = res.cpu_cores, res.memory_bytes, res.gpu or None
    c.cpu_text = None if res.cpu is None else str(res.cpu)
    c.memory_text = None if res.memory is None else str(res.memory)


class Namer:
    """Container names, checked for collisions (a service named like a node, for instance)."""

    def __init__(self) -> None:
        self.owner: dict[str, str] = {}

    def __call__(self, text: str, ref: str) -> str:
        name = dns_label(text)
        if name in self.owner:
            raise ValueError(
                f"{ref} and {self.owner[name]} would both be deployed as {name!r}: rename one of them"
            )
        self.owner[name] = ref
        return name


def build_deployment(app: Application, registry: str | None = None, tag: str = "latest",
                     tracker_image: str | None = None, namespace: str | None = None,
                     agent_command: tuple[str, ...] = AGENT_COMMAND) -> Deployment:
    """Describe every container of ``app`` (see the module docstring)."""
    build = _DeploymentBuilder(app, registry, tag)
    tracker = None if app.tracker.uri else build.tracker(tracker_image)
    nodes = build.nodes()
    services = build.services(nodes)
    agents = build.agents(agent_command)
    return Deployment(app=app, namespace=namespace or build.app_label,
                      tracking_uri=build.tracking_uri, tracker=tracker, nodes=nodes,
                      services=services, agents=agents)


class _DeploymentBuilder:
    """Builds the containers of one application: unique names, images, shared environment."""

    def __init__(self, app: Application, registry: str | None, tag: str) -> None:
        self.app, self.tag = app, tag
        self.prefix = f"{registry.rstrip('/')}/" if registry else ""
        self.app_label = dns_label(app.name)
        self.namer = Namer()
        self.tracking_uri = app.tracker.uri or f"http://{TRACKER_NAME}:{TRACKER_PORT}"
        self.after_tracker = [] if app.tracker.uri else [TRACKER_NAME]
        self.common = {"MLFLOW_TRACKING_URI": self.tracking_uri,
                       "MLFLOW_EXPERIMENT_NAME": app.tracker.experiment or app.name,
                       "SCANFLOW_APP": app.name}

    def image_of(self, name: str) -> str:
        return f"{self.prefix}{self.app_label}-{name}:{self.tag}"

    def tracker(self, image: str | None) -> Container:
        """The MLflow tracking server the application logs to (when it names none)."""
        self.namer(TRACKER_NAME, "the tracker")
        return Container(
            name=TRACKER_NAME, kind="tracker", ref="tracker",
            image=image or f"ghcr.io/mlflow/mlflow:v{_mlflow_version()}",
            command=["mlflow", "server"],
            args=["--host", "0.0.0.0", "--port", str(TRACKER_PORT),  # inside its container
                  "--backend-store-uri", f"sqlite:///{TRACKER_DIR}/mlflow.db",
                  "--artifacts-destination", f"{TRACKER_DIR}/artifacts", "--serve-artifacts",
                  "--allowed-hosts", f"{TRACKER_NAME},{TRACKER_NAME}:*,localhost,localhost:*,127.0.0.1:*"],
            port=TRACKER_PORT, build=False, workdir=TRACKER_DIR, volumes={"mlflow": TRACKER_DIR},
        )

    def nodes(self) -> list[Container]:
        """A container per workflow node, depending on the containers of its upstream nodes."""
        app, nodes, names = self.app, [], {}
        plan = build_plan(app) if app.workflows else None
        for planned in (plan.nodes.values() if plan else []):
            spec, workflow = planned.executor, planned.id.split("/", 1)[0]
            names[planned.id] = name = self.namer(planned.id, f"node {planned.id!r}")
            command, args = entrypoint(spec)
            env = {**self.common, "SCANFLOW_WORKFLOW": workflow, "SCANFLOW_NODE": planned.id,
                   "SCANFLOW_OUTPUT_DIR": OUTPUT_DIR, **param_env(spec.parameters), **spec.env}
            container = Container(
                name=name, kind="node", ref=planned.id, image=spec.image or self.image_of(name),
                command=command, args=args, env=env,
                depends_on=[names[d] for d in planned.deps] + self.after_tracker,
                retries=spec.retries, retry_backoff=spec.retry_backoff, timeout=spec.timeout,
                workflow=workflow, build=spec.image is None, dockerfile=spec.dockerfile,
                requirements=spec.requirement_list(app.root), workdir=APP_DIR,
                volumes={"data": DATA_DIR},
            )
            _resources(container, spec.resources)
            nodes.append(container)
        return nodes

    def services(self, nodes: list[Container]) -> list[Container]:
        """A container per service; a service after a workflow waits for its last nodes."""
        services = []
        for svc in self.app.services:
            name = self.namer(svc.name, f"service {svc.name!r}")
            command, args = entrypoint(svc)
            container = Container(
                name=name, kind="service", ref=f"service:{svc.name}",
                image=svc.image or self.image_of(name), command=command, args=args,
                env={**self.common, "SCANFLOW_SERVICE": svc.name, **param_env(svc.parameters),
                     **svc.env},
                depends_on=self._service_deps(svc.depends_on, nodes) + self.after_tracker,
                port=svc.port, replicas=svc.replicas, build=svc.image is None,
                dockerfile=svc.dockerfile, requirements=svc.requirement_list(self.app.root),
                volumes={"data": DATA_DIR},
            )
            _resources(container, svc.resources)
            services.append(container)
        return services

    def _service_deps(self, depends_on: list[str], nodes: list[Container]) -> list[str]:
        deps = []
        for up in depends_on:
            if any(s.name == up for s in self.app.services):
                deps.append(dns_label(up))
            else:  # a workflow: wait for its last nodes
                deps += [node.name for node in nodes if node.workflow == up and not any(
                    node.name in other.depends_on for other in nodes if other.workflow == up)]
        return deps

    def agents(self, agent_command: tuple[str, ...]) -> list[Container]:
        """A container per agent, running Scanflow's agent runtime."""
        agents = []
        for agent in self.app.agents:
            name = self.namer(f"agent-{agent.name}", f"agent {agent.name!r}")
            command = [part.format(app=APP_DIR, agent=agent.name) for part in agent_command]
            container = Container(
                name=name, kind="agent", ref=f"agent:{agent.name}",
                image=agent.image or self.image_of(name), command=command[:1], args=command[1:],
                env={**self.common, "SCANFLOW_AGENT": agent.name, **agent.env},
                depends_on=list(self.after_tracker), port=agent.port,
                build=agent.image is None, requirements=[], volumes={"data": DATA_DIR},
            )
            _resources(container, agent.resources)
            agents.append(container)
        return agents


def agent_requirement() -> str:
    """What an agent image installs to get Scanflow's agent runtime."""
    return f"scanflow=={__version__}"


__all__ = ["AGENT_COMMAND", "APP_DIR", "BASE_IMAGE", "Container", "DATA_DIR", "Deployment",
           "OUTPUT_DIR", "TRACKER_NAME", "TRACKER_PORT", "build_deployment", "entrypoint"]
