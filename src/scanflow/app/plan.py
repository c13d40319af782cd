"""From an application to a flat DAG of executor nodes, and from a node to its command line.

Nested workflows are expanded in place: the nodes of ``evaluation`` nested under ``training``
get ids ``training/evaluation/<node>``, wait for what the nesting node waits for, and the
nodes downstream of the nesting node wait for the nested workflow's last nodes. Every
nesting node is a *group* (an MLflow run that holds the nested node runs).

>>> from scanflow.app import Application, Workflow, Executor, SubWorkflow
>>> app = Application(name="demo", workflows=[
...     Workflow(name="main", nodes=[
...         Executor(name="a", callable="m:f"),
...         SubWorkflow(name="sub", workflow="inner", depends_on=["a"]),
...         Executor(name="z", callable="m:f", depends_on=["sub"])]),
...     Workflow(name="inner", nodes=[Executor(name="b", callable="m:f")])])
>>> plan = build_plan(app)
>>> [(n.id, n.deps) for n in plan.nodes.values()]
[('main/a', []), ('main/sub/b', ['main/a']), ('main/z', ['main/sub/b'])]
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .dag import topological_order
from .spec import Application, Executor, SubWorkflow, Workflow

# Runs ``pkg.mod:func`` with the JSON parameters as keyword arguments. A JSON-serialisable
# return value is written to $SCANFLOW_NODE_DIR/result.json.
CALLABLE_SNIPPET = """\
import importlib, json, os, sys
module, _, attr = sys.argv[1].partition(":")
fn = importlib.import_module(module)
for part in attr.split("."):
    fn = getattr(fn, part)
result = fn(**json.loads(sys.argv[2]))
if result is not None:
    try:
        text = json.dumps(result)
    except (TypeError, ValueError):
        text = json.dumps(repr(result))
    with open(os.path.join(os.environ.get("SCANFLOW_NODE_DIR", "."), "result.json"), "w") as f:
        f.write(text)
"""


@dataclass
class PlannedNode:
    """One executor node of a run, with its upstream executor ids and enclosing groups."""

    id: str
    executor: Executor
    workflow: str
    deps: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)  # enclosing group ids, outermost first

    @property
    def name(self) -> str:
        return self.executor.name


@dataclass
class PlannedGroup:
    """A nested workflow (or a top-level one when a run holds several)."""

    id: str
    workflow: str
    parent: str | None = None


@dataclass
class Plan:
    nodes: dict[str, PlannedNode]            # in a topological order
    groups: dict[str, PlannedGroup]          # parents before children
    workflows: list[str]                     # the top-level workflows of the run


def top_level_workflows(app: Application) -> list[str]:
    """Workflows that no other workflow nests: what ``scanflow run`` runs by default."""
    nested = {n.workflow for wf in app.workflows for n in wf.nodes if isinstance(n, SubWorkflow)}
    return [wf.name for wf in app.workflows if wf.name not in nested]


def on_demand_workflows(app: Application) -> set[str]:
    """Workflows an agent runs when it needs them (an improver's ``retrain_workflow``, given the
    labeled data at run time): a plain ``scanflow run`` leaves them out."""
    return {a.config["retrain_workflow"] for a in app.agents if a.config.get("retrain_workflow")}


def build_plan(app: Application, workflow: str | None = None) -> Plan:
    """Flatten ``workflow`` (default: every top-level workflow, in ``depends_on`` order, but the
    :func:`on_demand_workflows` no other one depends on)."""
    if not app.workflows:
        raise ValueError(f"application {app.name!r} has no workflows: add one under `workflows:`")
    if workflow is not None:
        app.workflow(workflow)  # KeyError naming the known workflows
        roots = [workflow]
    else:
        roots = top_level_workflows(app)
        needed = {up for wf in roots for up in app.workflow(wf).depends_on}
        roots = [wf for wf in roots if wf not in on_demand_workflows(app) or wf in needed] or roots
        if not roots:
            raise ValueError("every workflow is nested in another one: nothing to run at the top level")
        roots = topological_order(roots, [(up, wf) for wf in roots for up in app.workflow(wf).depends_on])

    nodes: dict[str, PlannedNode] = {}
    groups: dict[str, PlannedGroup] = {}
    exits: dict[str, list[str]] = {}
    for name in roots:
        wf = app.workflow(name)
        entry = sorted({e for up in wf.depends_on if up in exits for e in exits[up]})
        group_chain: list[str] = []
        if len(roots) > 1:
            groups[name] = PlannedGroup(name, name)
            group_chain = [name]
        exits[name] = _expand(app, wf, name, entry, group_chain, nodes, groups, stack=[name])
    return Plan(nodes, groups, roots)


def _expand(app: Application, wf: Workflow, prefix: str, entry: list[str], chain: list[str],
            nodes: dict[str, PlannedNode], groups: dict[str, PlannedGroup], stack: list[str]) -> list[str]:
    """Add ``wf``'s nodes under ``prefix``; return the ids that mark ``wf`` as finished."""
    names = [n.name for n in wf.nodes]
    done: dict[str, list[str]] = {}
    for name in topological_order(names, [(up, n.name) for n in wf.nodes for up in n.depends_on]):
        node = wf.node(name)
        deps = sorted({d for up in node.depends_on for d in done.get(up, [])}) if node.depends_on else list(entry)
        node_id = f"{prefix}/{name}"
        if isinstance(node, SubWorkflow):
            if node.workflow in stack:
                raise ValueError(f"workflow {node.workflow!r} nests itself through {' -> '.join(stack)}")
            groups[node_id] = PlannedGroup(node_id, node.workflow, chain[-1] if chain else None)
            inner = app.workflow(node.workflow)
            done[name] = _expand(app, inner, node_id, deps, [*chain, node_id], nodes, groups,
                                 [*stack, node.workflow]) or deps
        else:
            nodes[node_id] = PlannedNode(node_id, node, wf.name, deps, list(chain))
            done[name] = [node_id]
    upstream = {up for n in wf.nodes for up in n.depends_on}
    leaves = [n for n in names if n not in upstream]
    return sorted({d for leaf in leaves for d in done[leaf]})


def param_flags(parameters: dict[str, Any]) -> list[str]:
    """``{"lr": 0.1, "fast": True, "layers": [1, 2]}`` -> ``--lr 0.1 --fast true --layers [1, 2]``.

    ``None`` values are left out; lists and dicts are passed as JSON.
    """
    flags: list[str] = []
    for key, value in parameters.items():
        if value is None:
            continue
        flags += [f"--{key}", param_text(value)]
    return flags


def param_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def param_env(parameters: dict[str, Any]) -> dict[str, str]:
    """``SCANFLOW_PARAM_<NAME>`` variables (upper case; ``-`` and ``.`` become ``_``)."""
    return {
        "SCANFLOW_PARAM_" + key.upper().replace("-", "_").replace(".", "_"): param_text(value)
        for key, value in parameters.items() if value is not None
    }


def script_path(app: Application, executor: Executor) -> Path:
    return (app.root / (executor.workdir or "") / str(executor.script)).resolve()


def build_command(app: Application, executor: Executor, python: str) -> list[str]:
    """The argv of one node: ``python script.py ARGS --k v``, ``python -m mod ...`` or a callable."""
    kind, value = executor.entrypoint
    flags = [*executor.args, *param_flags(executor.parameters)]
    if kind == "script":
        path = script_path(app, executor)
        if path.suffix == ".py":
            return [python, str(path), *flags]
        if path.suffix == ".sh":
            return ["bash", str(path), *flags]
        return [str(path), *flags]
    if kind == "module":
        return [python, "-m", value, *flags]
    if kind == "callable":
        return [python, "-c", CALLABLE_SNIPPET, value, json.dumps(executor.parameters)]
    raise ValueError(f"node {executor.name!r} has no script, module or callable")
