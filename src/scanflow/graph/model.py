"""The multi-graph of an application as a networkx graph, and the flat DAG of a workflow.

:func:`build_graph` gives one ``networkx.MultiDiGraph`` with two layers:

* the **workflows** layer: each root workflow is a cluster (a node of kind ``"workflow"``) that
  contains its executors; a nested workflow is a cluster inside its parent, expanded in place;
  services sit beside the workflows;
* the **agents** layer: one node per agent, with ``supervises`` edges to the workflows and
  services it watches and ``talks_to`` edges to the agents it messages.

Node ids are the qualified ids the scheduler uses (``"training/load"``,
``"training/evaluation/evaluate"``), so a ``{node_id: status}`` map from a run colours the right
nodes. Services and agents, which live outside workflows, are ``"service:NAME"`` and
``"agent:NAME"`` (``:`` cannot appear in a name, so ids never collide).

Edge kinds (the ``kind`` attribute, also the multigraph key): ``contains`` (cluster -> member),
``dependency`` (upstream -> downstream), ``after`` (workflow-level ``depends_on``),
``supervises`` and ``talks_to``.

>>> from scanflow.app import Application, Workflow, Executor, Agent
>>> app = Application(name="demo", workflows=[Workflow(name="training", nodes=[
...     Executor(name="load", script="load.py"),
...     Executor(name="train", script="train.py", depends_on=["load"])])],
...     agents=[Agent(name="checker", kind="checker", supervises=["training"])])
>>> g = build_graph(app)
>>> sorted(n for n, d in g.nodes(data=True) if d["kind"] == "executor")
['training/load', 'training/train']
>>> [(u, v) for u, v, k in g.edges(keys=True) if k in ("dependency", "supervises")]
[('training/load', 'training/train'), ('agent:checker', 'training')]
"""

from __future__ import annotations

from typing import Any

import networkx as nx

from scanflow.app import Agent, Application, Executor, Service, SubWorkflow, Workflow

EDGE_KINDS = ("contains", "dependency", "after", "supervises", "talks_to")


def service_id(name: str) -> str:
    return f"service:{name}"


def agent_id(name: str) -> str:
    return f"agent:{name}"


def root_workflows(app: Application) -> list[Workflow]:
    """Workflows that no other workflow nests: the ones that run (and render) on their own.

    A workflow used only as a node of another one is shown and exported inside its parent.
    """
    nested = {n.workflow for wf in app.workflows for n in wf.nodes if isinstance(n, SubWorkflow)}
    return [wf for wf in app.workflows if wf.name not in nested]


def ordered_nodes(wf: Workflow) -> list[Executor | SubWorkflow]:
    """The nodes of ``wf`` in a dependency order (ties keep the order they were written in)."""
    names = [n.name for n in wf.nodes]
    dag = nx.DiGraph()
    dag.add_nodes_from(names)
    for node in wf.nodes:
        for up in node.depends_on:
            if up not in dag:
                raise ValueError(
                    f"workflow {wf.name!r}: node {node.name!r} depends on unknown node {up!r} "
                    f"(nodes: {', '.join(names)})"
                )
            dag.add_edge(up, node.name)
    try:
        order = list(nx.lexicographical_topological_sort(dag, key=names.index))
    except nx.NetworkXUnfeasible:
        raise ValueError(
            f"workflow {wf.name!r} has a dependency cycle: run `scanflow validate` to see it"
        ) from None
    return [wf.node(name) for name in order]


def _detail(spec: Executor | Service) -> str:
    kind, value = spec.entrypoint
    parts = [{"script": value, "module": f"-m {value}", "callable": value}.get(kind, "")]
    if not value and isinstance(spec, Service) and spec.command:
        parts = [" ".join(spec.command)]
    if not value and spec.image:
        parts = [spec.image]
    res = spec.resources
    if res.cpu is not None:
        parts.append(f"cpu {res.cpu}")
    if res.memory is not None:
        parts.append(str(res.memory))
    if res.gpu:
        parts.append(f"gpu {res.gpu}")
    if isinstance(spec, Executor) and spec.retries:
        parts.append(f"retries {spec.retries}")
    if isinstance(spec, Service) and spec.port:
        parts.append(f":{spec.port}")
    return " · ".join(p for p in parts if p)


class _Builder:
    def __init__(self, app: Application | None):
        self.app = app
        self.g = nx.MultiDiGraph()

    def edge(self, u: str, v: str, kind: str, **attrs: Any) -> None:
        self.g.add_edge(u, v, key=kind, kind=kind, **attrs)

    def workflow(self, wf: Workflow, cid: str, parent: str | None, label: str, stack: tuple) -> None:
        self.g.add_node(cid, kind="workflow", name=wf.name, label=label, detail="",
                        parent=parent, layer="workflows", workflow=wf.name, expanded=True)
        if parent is not None:
            self.edge(parent, cid, "contains")
        for node in ordered_nodes(wf):
            nid = f"{cid}/{node.name}"
            if isinstance(node, SubWorkflow):
                known = self.app is not None and any(w.name == node.workflow for w in self.app.workflows)
                if known and node.workflow not in stack:
                    self.workflow(self.app.workflow(node.workflow), nid, cid,
                                  f"{node.name} (workflow {node.workflow})", (*stack, node.workflow))
                else:  # shown folded: a Workflow rendered alone cannot see its siblings
                    self.g.add_node(nid, kind="workflow", name=node.name, parent=cid,
                                    label=node.name, detail=f"workflow {node.workflow}",
                                    layer="workflows", workflow=node.workflow, expanded=False)
                    self.edge(cid, nid, "contains")
            else:
                self.g.add_node(nid, kind="executor", name=node.name, label=node.name,
                                detail=_detail(node), parent=cid, layer="workflows", spec=node)
                self.edge(cid, nid, "contains")
            for up in node.depends_on:
                self.edge(f"{cid}/{up}", nid, "dependency")


def build_graph(obj: Application | Workflow, statuses: dict[str, str] | None = None,
                workflow: str | None = None) -> nx.MultiDiGraph:
    """The multi-graph of an application (or of one workflow) as a ``networkx.MultiDiGraph``.

    ``statuses`` maps node ids to a status (``"running"``, ``"succeeded"``...); it is stored in
    the ``status`` attribute that the renderers colour by. ``workflow`` keeps only that workflow
    of an application (nested workflows still expanded), without services and agents.
    """
    if isinstance(obj, Workflow):
        builder = _Builder(None)
        builder.g.graph.update(name=obj.name, kind="workflow")
        builder.workflow(obj, obj.name, None, f"workflow {obj.name}", (obj.name,))
    elif isinstance(obj, Application) and workflow is not None:
        builder = _Builder(obj)
        wf = obj.workflow(workflow)
        builder.g.graph.update(name=f"{obj.name}: {wf.name}", kind="workflow")
        builder.workflow(wf, wf.name, None, f"workflow {wf.name}", (wf.name,))
    elif isinstance(obj, Application):
        builder = _Builder(obj)
        builder.g.graph.update(name=obj.name, kind="application")
        roots = root_workflows(obj)
        for wf in roots:
            builder.workflow(wf, wf.name, None, f"workflow {wf.name}", (wf.name,))
        root_names = {wf.name for wf in roots}
        for wf in roots:
            for up in wf.depends_on:
                if up in root_names:
                    builder.edge(up, wf.name, "after")
        for svc in obj.services:
            builder.g.add_node(service_id(svc.name), kind="service", name=svc.name, label=svc.name,
                               detail=_detail(svc), parent=None, layer="workflows", spec=svc)
        for svc in obj.services:
            for up in svc.depends_on:
                target = _target(obj, up, root_names)
                if target:
                    builder.edge(target, service_id(svc.name), "dependency")
        for agent in obj.agents:
            builder.g.add_node(agent_id(agent.name), kind="agent", name=agent.name, label=agent.name,
                               detail=f"{agent.kind} agent", parent=None, layer="agents", spec=agent)
        for agent in obj.agents:
            _agent_edges(builder, obj, agent, root_names)
    else:
        raise TypeError(f"build_graph takes an Application or a Workflow, not {type(obj).__name__}")
    for node_id, status in (statuses or {}).items():
        if node_id in builder.g:
            builder.g.nodes[node_id]["status"] = str(status)
    return builder.g


def _target(app: Application, name: str, root_names: set[str]) -> str | None:
    if any(s.name == name for s in app.services):
        return service_id(name)
    if name in root_names:
        return name
    return None


def _agent_edges(b: _Builder, app: Application, agent: Agent, root_names: set[str]) -> None:
    for target in agent.supervises:
        tid = _target(app, target, root_names)
        if tid is None and any(w.name == target for w in app.workflows):
            # A nested workflow: point at every place it is expanded.
            for nid, data in list(b.g.nodes(data=True)):
                if data["kind"] == "workflow" and data.get("workflow") == target and data["parent"]:
                    b.edge(agent_id(agent.name), nid, "supervises")
        elif tid is not None:
            b.edge(agent_id(agent.name), tid, "supervises")
    for other in agent.talks_to:
        if agent_id(other) in b.g:
            b.edge(agent_id(agent.name), agent_id(other), "talks_to")


def children(g: nx.MultiDiGraph, cluster: str | None) -> list[str]:
    """Members of a cluster (``None``: the top level), in insertion order."""
    return [n for n, d in g.nodes(data=True) if d.get("parent") == cluster]
