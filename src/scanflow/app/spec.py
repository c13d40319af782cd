"""The multi-graph model: an Application holds workflows (DAGs of nodes), services and agents.

Specs are plain pydantic models. They hold what the user wrote and nothing learned; structural
checks that need the whole application (cycles, unknown names, missing files) live in
:mod:`scanflow.app.validation`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    field_validator,
    model_validator,
)

from .resources import parse_cpu, parse_memory

MAX_PATH = 4096  # bytes, Linux's PATH_MAX
MAX_PATH_PART = 255  # bytes, the longest file name most file systems allow

ParamValue = str | int | float | bool | None | list[Any]


def check_path(value: str) -> str:
    """``value`` if the operating system can take it as a path; else a ``ValueError`` that
    says why (so a bad path is a spec problem, not an ``OSError`` later)."""
    if "\x00" in value:
        raise ValueError("bad path: it contains a NUL character")
    if len(value.encode("utf-8", "surrogatepass")) > MAX_PATH:
        raise ValueError(f"bad path: longer than {MAX_PATH} bytes")
    long = next((p for p in value.replace("\\", "/").split("/") if len(p.encode("utf-8", "surrogatepass")) > MAX_PATH_PART), None)
    if long is not None:
        raise ValueError(f"bad path: the name {long[:24]!r}... is longer than {MAX_PATH_PART} bytes "
                         "(shorten it)")
    return value


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, populate_by_name=True,
                              allow_inf_nan=False)

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain data, without the fields left at their defaults."""
        return self.model_dump(mode="json", exclude_defaults=True, by_alias=True)


class Resources(_Spec):
    """What a node asks for: ``cpu`` in cores or millicores, ``memory`` as ``512Mi``/``2Gi``."""

    cpu: str | int | float | None = None
    memory: str | int | None = None
    gpu: int | None = None

    # Before the type check, so that `.nan`, `.inf` or a huge number gets the quantity's message.
    @field_validator("cpu", mode="before")
    @classmethod
    def _cpu(cls, v: Any) -> Any:
        if v is not None:
            parse_cpu(v)
        return v

    @field_validator("memory", mode="before")
    @classmethod
    def _memory(cls, v: Any) -> Any:
        if v is not None:
            parse_memory(v)
        return v

    @field_validator("gpu")
    @classmethod
    def _gpu(cls, v: int | None) -> int | None:
        if v is not None and v < 0:
            raise ValueError("gpu must be 0 or more")
        return v

    @property
    def cpu_cores(self) -> float | None:
        return None if self.cpu is None else parse_cpu(self.cpu)

    @property
    def memory_bytes(self) -> int | None:
        return None if self.memory is None else parse_memory(self.memory)


class Dependency(_Spec):
    """An edge ``upstream -> downstream``, optionally carrying named artifacts."""

    upstream: str
    downstream: str
    artifacts: list[str] = Field(default_factory=list)


class Node(_Spec):
    """What every workflow node has: a name and the nodes it waits for."""

    name: str
    depends_on: list[str] = Field(default_factory=list)
    description: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v or not v.replace("-", "_").replace(".", "_").isidentifier():
            raise ValueError(
                f"bad name {v!r}: use letters, digits, '-', '_' or '.', starting with a letter"
            )
        return v

    @field_validator("depends_on", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @property
    def kind(self) -> str:
        return "node"


class _Runnable(_Spec):
    """The parts shared by batch executors and long-running services."""

    script: str | None = None
    module: str | None = None
    callable: str | None = Field(default=None, description="'package.module:function'")
    args: list[str] = Field(default_factory=list)
    parameters: dict[str, ParamValue] = Field(default_factory=dict)
    env: dict[str, str] = Field(default_factory=dict)
    requirements: list[str] | str | None = None
    image: str | None = None
    dockerfile: str | None = None
    resources: Resources = Field(default_factory=Resources)
    workdir: str | None = None
    isolated: bool = False

    @field_validator("script", "dockerfile", "workdir")
    @classmethod
    def _paths(cls, v: str | None) -> str | None:
        return None if v is None else check_path(v)

    @field_validator("requirements")
    @classmethod
    def _requirements_file(cls, v: list[str] | str | None) -> list[str] | str | None:
        return check_path(v) if isinstance(v, str) else v

    @field_validator("env", mode="before")
    @classmethod
    def _env_strings(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {str(k): str(val) for k, val in v.items()}
        return v

    @field_validator("callable")
    @classmethod
    def _callable(cls, v: str | None) -> str | None:
        if v is not None:
            mod, sep, func = v.partition(":")
            if not sep or not mod or not func:
                raise ValueError(f"bad callable {v!r}: write it as 'package.module:function'")
        return v

    @property
    def entrypoint(self) -> tuple[str, str]:
        """``("script"|"module"|"callable", value)``."""
        for key in ("script", "module", "callable"):
            value = getattr(self, key)
            if value:
                return key, value
        return "none", ""

    def requirement_list(self, root: Path | None = None) -> list[str]:
        """Requirements as a list, reading a requirements file relative to ``root``."""
        if self.requirements is None:
            return []
        if isinstance(self.requirements, list):
            return list(self.requirements)
        path = Path(self.requirements)
        if root is not None and not path.is_absolute():
            path = root / path
        lines = path.read_text().splitlines()
        return [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]


class Executor(_Runnable, Node):
    """A batch node: a script, a ``python -m`` module or an importable callable.

    Parameters are passed as ``--name value`` flags and as ``SCANFLOW_PARAM_NAME`` variables.

    >>> Executor(name="train", script="train.py", parameters={"epochs": 2}).kind
    'executor'
    """

    retries: int = Field(default=0, ge=0)
    retry_backoff: float = Field(default=1.0, ge=0, description="seconds; doubles per attempt")
    timeout: float | None = Field(default=None, gt=0, description="seconds")
    cache: bool = True
    outputs: list[str] = Field(default_factory=list, description="files the node produces")
    inputs: list[str] = Field(default_factory=list, description="files the node reads")

    @model_validator(mode="after")
    def _one_entrypoint(self) -> Executor:
        given = [k for k in ("script", "module", "callable") if getattr(self, k)]
        if len(given) != 1:
            what = "none" if not given else " and ".join(given)
            raise ValueError(
                f"node {self.name!r} sets {what} of script/module/callable: set exactly one "
                "(a nested workflow uses 'workflow: NAME' instead)"
            )
        return self

    @property
    def kind(self) -> str:
        return "executor"


class SubWorkflow(Node):
    """A node that runs a whole other workflow of the application."""

    workflow: str

    @property
    def kind(self) -> str:
        return "workflow"


def _node_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "SubWorkflow" if "workflow" in value else "Executor"
    return "SubWorkflow" if isinstance(value, SubWorkflow) else "Executor"


# A node with `workflow:` is a nested workflow; anything else is an executor.
AnyNode = Annotated[
    Annotated[Executor, Tag("Executor")] | Annotated[SubWorkflow, Tag("SubWorkflow")],
    Discriminator(_node_kind),
]


class Workflow(_Spec):
    """A DAG of nodes; independent branches run in parallel up to ``max_parallel``."""

    name: str
    nodes: list[AnyNode] = Field(default_factory=list)
    depends_on: list[str] = Field(default_factory=list, description="workflows to run first")
    max_parallel: int | None = Field(default=None, ge=1)
    description: str | None = None

    @field_validator("depends_on", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    def node(self, name: str) -> Executor | SubWorkflow:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"workflow {self.name!r} has no node {name!r}")

    def add(self, node: Executor | SubWorkflow) -> Workflow:
        """Append a node and return the workflow (for chaining)."""
        self.nodes = [*self.nodes, node]
        return self

    @property
    def dependencies(self) -> list[Dependency]:
        return [Dependency(upstream=up, downstream=n.name) for n in self.nodes for up in n.depends_on]

    def _repr_svg_(self) -> str | None:
        return _render("svg", self)

    def _repr_html_(self) -> str | None:
        return _render("html", self)


class Service(_Runnable):
    """A long-running node: a prediction API, a labeling UI, an agent process."""

    name: str
    port: int | None = Field(default=None, ge=1, le=65535)
    replicas: int = Field(default=1, ge=1, description=(
        "copies serving behind one endpoint: Ray Serve replicas (`scanflow serve --backend ray`), "
        "Deployment replicas in the Kubernetes export, swarm replicas"))
    command: list[str] = Field(default_factory=list)
    depends_on: list[str] = Field(default_factory=list)

    @property
    def kind(self) -> str:
        return "service"


AgentKind = Literal["tracker", "checker", "improver", "planner", "custom"]


class Agent(_Spec):
    """A supervisor of workflows, made of sensors, rules and actuators (runtime: scanflow.agents)."""

    name: str
    kind: AgentKind = "custom"
    supervises: list[str] = Field(default_factory=list, description="workflows or services")
    talks_to: list[str] = Field(default_factory=list, description="agents it sends messages to")
    sensors: list[dict[str, Any]] = Field(default_factory=list)
    rules: list[dict[str, Any]] = Field(default_factory=list)
    actuators: list[dict[str, Any]] = Field(default_factory=list)
    config: dict[str, Any] = Field(default_factory=dict)
    callable: str | None = None
    image: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    resources: Resources = Field(default_factory=Resources)
    env: dict[str, str] = Field(default_factory=dict)

    @field_validator("supervises", "talks_to", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


class TrackerSettings(_Spec):
    """Where metadata goes. ``uri`` unset: SQLite + artifact folder in the state directory."""

    uri: str | None = None
    experiment: str | None = None
    artifact_location: str | None = None
    registry_uri: str | None = None


class Application(_Spec):
    """One project: workflows, services, agents and tracker settings.

    >>> app = Application(name="demo", workflows=[
    ...     Workflow(name="training", nodes=[Executor(name="train", callable="math:floor")])])
    >>> [w.name for w in app.workflows]
    ['training']
    """

    name: str
    description: str | None = None
    workflows: list[Workflow] = Field(default_factory=list)
    services: list[Service] = Field(default_factory=list)
    agents: list[Agent] = Field(default_factory=list)
    tracker: TrackerSettings = Field(default_factory=TrackerSettings)
    state_dir: str | None = None
    _root: Path | None = PrivateAttr(default=None)
    _source: Path | None = PrivateAttr(default=None)
    _lines: dict[tuple, int] = PrivateAttr(default_factory=dict)

    @field_validator("state_dir")
    @classmethod
    def _state_dir(cls, v: str | None) -> str | None:
        return None if v is None else check_path(v)

    @property
    def root(self) -> Path:
        """The application folder: where relative paths (scripts, requirements) resolve."""
        return self._root if self._root is not None else Path.cwd()

    @root.setter
    def root(self, value: str | os.PathLike[str]) -> None:
        self._root = Path(value).resolve()

    @property
    def source(self) -> Path | None:
        """The file this application was loaded from, if any."""
        return self._source

    def __eq__(self, other: object) -> bool:
        """Equal specs (where each was read from, line by line, does not count)."""
        if not isinstance(other, Application):
            return NotImplemented
        mine = {k: v for k, v in (self.__pydantic_private__ or {}).items() if k != "_lines"}
        theirs = {k: v for k, v in (other.__pydantic_private__ or {}).items() if k != "_lines"}
        return self.__dict__ == other.__dict__ and mine == theirs

    __hash__ = None  # type: ignore[assignment]  # mutable, like every pydantic model

    def line_of(self, path: tuple) -> int | None:
        """The line of the application file where ``path`` (keys and list indices, e.g.
        ``("agents", 1, "config", "budget")``) is written, or of its nearest written parent."""
        for n in range(len(path), 0, -1):
            if path[:n] in self._lines:
                return self._lines[path[:n]]
        return None

    @property
    def state_path(self) -> Path:
        """``state_dir``, else ``$SCANFLOW_HOME``, else ``.scanflow/`` next to the app file."""
        if self.state_dir:
            path = Path(os.path.expanduser(self.state_dir))
            return path if path.is_absolute() else self.root / path
        if os.environ.get("SCANFLOW_HOME"):
            return Path(os.environ["SCANFLOW_HOME"]).expanduser().resolve()
        return self.root / ".scanflow"

    def workflow(self, name: str) -> Workflow:
        for wf in self.workflows:
            if wf.name == name:
                return wf
        known = ", ".join(w.name for w in self.workflows) or "none"
        raise KeyError(f"application {self.name!r} has no workflow {name!r} (workflows: {known})")

    def agent(self, name: str) -> Agent:
        for agent in self.agents:
            if agent.name == name:
                return agent
        raise KeyError(f"application {self.name!r} has no agent {name!r}")

    def iter_executors(self) -> Iterator[tuple[Workflow, Executor]]:
        for wf in self.workflows:
            for node in wf.nodes:
                if isinstance(node, Executor):
                    yield wf, node

    def validate_spec(self, check_files: bool = True) -> None:
        """Raise :class:`SpecError` listing every structural problem (cycles, unknown names...)."""
        # lazy: cycle, .validation imports this module
        from .validation import check_application

        check_application(self, check_files=check_files)

    def to_yaml(self) -> str:
        # lazy: cycle, .yaml_io imports this module
        from .yaml_io import dump_yaml

        return dump_yaml(self)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the application as YAML."""
        path = Path(path)
        path.write_text(self.to_yaml())
        return path

    def _repr_svg_(self) -> str | None:
        return _render("svg", self)

    def _repr_html_(self) -> str | None:
        return _render("html", self)


# Rendering lives in scanflow.graph, a package in a higher layer: it registers itself here (a callback, so that
# the spec imports nothing else of Scanflow).
_renderer: Callable[[str, Any], str | None] | None = None


def set_renderer(fn: Callable[[str, Any], str | None] | None) -> None:
    """Install the function that renders specs for Jupyter (``fn(fmt, obj) -> str``)."""
    global _renderer
    _renderer = fn


def _render(fmt: str, obj: Any) -> str | None:
    return _renderer(fmt, obj) if _renderer is not None else None
