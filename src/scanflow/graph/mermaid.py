"""Mermaid ``flowchart`` text, for Markdown (GitHub, MkDocs) and the dashboard.

>>> from scanflow.app import Workflow, Executor
>>> wf = Workflow(name="w", nodes=[Executor(name="a", script="a.py"),
...                                Executor(name="b", script="b.py", depends_on=["a"])])
>>> text = to_mermaid(wf)
>>> text.splitlines()[0], "n_w_a --> n_w_b" in text
('flowchart LR', True)
"""

from __future__ import annotations

import re
from typing import Any

import networkx as nx

from .dot import _graph, _is_cluster
from .model import children
from .style import STATUS_COLOURS, UNKNOWN_STATUS, colours


def _label(text: str) -> str:
    """A quoted Mermaid label (entity codes keep quotes and angle brackets literal)."""
    for raw, code in (("&", "#amp;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        text = text.replace(raw, code)
    return text


class _Ids:
    """Mermaid ids are plain words: map qualified ids to unique ``n_...`` words."""

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}
        self.used: set[str] = set()

    def __call__(self, nid: str) -> str:
        if nid not in self.ids:
            base = "n_" + re.sub(r"[^A-Za-z0-9_]", "_", nid)
            word, i = base, 2
            while word in self.used:
                word, i = f"{base}_{i}", i + 1
            self.used.add(word)
            self.ids[nid] = word
        return self.ids[nid]


def to_mermaid(obj: Any, statuses: dict[str, str] | None = None, direction: str = "LR") -> str:
    """Mermaid flowchart text for an application, a workflow or a graph from ``build_graph``.

    Workflows are subgraphs, agents are rounded nodes in an ``agents`` subgraph, and nodes with
    a status get the ``classDef`` ``st_STATUS`` (``st_succeeded``, ``st_failed``...).
    """
    graph: nx.MultiDiGraph = _graph(obj, statuses)
    ids = _Ids()
    lines = [f"flowchart {direction}"]

    def shape(nid: str) -> str:
        attrs = graph.nodes[nid]
        label = _label(attrs["label"]) + (f"<br/><small>{_label(attrs['detail'])}</small>" if attrs.get("detail") else "")
        wrap = {"agent": ('(["', '"])'), "service": ('[["', '"]]'), "workflow": ('[/"', '"/]')}
        left, right = wrap.get(attrs["kind"], ('["', '"]'))
        return f"{ids(nid)}{left}{label}{right}"

    def block(nid: str, indent: str) -> None:
        attrs = graph.nodes[nid]
        lines.append(f'{indent}subgraph {ids(nid)}["{_label(attrs["label"])}"]')
        lines.append(f"{indent}  direction {direction}")
        members = children(graph, nid)
        if not members:
            lines.append(f'{indent}  {ids(nid + "/.empty")}["(empty)"]')
        for member in members:
            if _is_cluster(graph, member):
                block(member, indent + "  ")
            else:
                lines.append(f"{indent}  {shape(member)}")
        lines.append(f"{indent}end")

    top = children(graph, None)
    for nid in top:
        if graph.nodes[nid]["layer"] == "workflows":
            if _is_cluster(graph, nid):
                block(nid, "  ")
            else:
                lines.append(f"  {shape(nid)}")
    agents = [n for n in top if graph.nodes[n]["layer"] == "agents"]
    if agents:
        lines.append('  subgraph agents_layer["agents"]')
        lines.extend(f"    {shape(a)}" for a in agents)
        lines.append("  end")

    arrows = {"dependency": "-->", "after": "==>|after|", "supervises": "-.->|supervises|",
              "talks_to": "-.->|talks to|"}
    for u, v, kind in graph.edges(keys=True):
        if kind in arrows:
            lines.append(f"  {ids(u)} {arrows[kind]} {ids(v)}")

    by_status: dict[str, list[str]] = {}
    for nid, attrs in graph.nodes(data=True):
        if attrs.get("status"):
            by_status.setdefault(attrs["status"].lower(), []).append(ids(nid))
    for status, members in by_status.items():
        cls = re.sub(r"[^A-Za-z0-9_]", "_", status)
        fill, border = colours("", status) if status in STATUS_COLOURS else UNKNOWN_STATUS
        lines.append(f"  classDef st_{cls} fill:{fill},stroke:{border},stroke-width:2px")
        lines.append(f"  class {','.join(members)} st_{cls}")
    return "\n".join(lines) + "\n"
