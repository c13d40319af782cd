"""Graphviz rendering: DOT text (no dependency) and SVG/PNG/PDF through the ``dot`` program.

>>> from scanflow.app import Workflow, Executor
>>> wf = Workflow(name="w", nodes=[Executor(name="a", script="a.py"),
...                                Executor(name="b", script="b.py", depends_on=["a"])])
>>> print(to_dot(wf).splitlines()[0])
digraph "w" {
>>> '"w/a" -> "w/b"' in to_dot(wf)
True
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import networkx as nx

from scanflow.errors import ScanflowError

from .model import build_graph, children
from .style import colours


class GraphvizNotFound(ScanflowError, RuntimeError):
    """Graphviz's ``dot`` program is not installed (SVG, PNG and PDF need it)."""


def _q(text: Any) -> str:
    """A DOT double-quoted string."""
    s = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{s}"'


def _graph(obj: Any, statuses: dict[str, str] | None) -> nx.MultiDiGraph:
    if isinstance(obj, nx.MultiDiGraph):
        if statuses:
            obj = obj.copy()
            for nid, st in statuses.items():
                if nid in obj:
                    obj.nodes[nid]["status"] = str(st)
        return obj
    return build_graph(obj, statuses)


def _entry(g: nx.MultiDiGraph, nid: str, last: bool = False) -> str:
    """A leaf node to attach edges that point at (or leave) a cluster."""
    seen: set[str] = set()
    while g.nodes[nid]["kind"] == "workflow" and g.nodes[nid].get("expanded"):
        if nid in seen:
            break
        seen.add(nid)
        members = children(g, nid)
        if not members:
            return f"{nid}/.empty"
        deps = {(u, v) for u, v, k in g.edges(keys=True) if k == "dependency"}
        if last:
            ends = [m for m in members if not any(u == m and v in members for u, v in deps)]
        else:
            ends = [m for m in members if not any(v == m and u in members for u, v in deps)]
        nid = (ends or members)[-1 if last else 0]
    return nid


def _is_cluster(g: nx.MultiDiGraph, nid: str) -> bool:
    data = g.nodes[nid]
    return data["kind"] == "workflow" and bool(data.get("expanded"))


def _header(name: str, rankdir: str) -> list[str]:
    """The opening lines: the graph's name and the default graph, node and edge styles."""
    return [
        f"digraph {_q(name)} {{",
        f'  graph [compound=true, rankdir={rankdir}, fontname="Helvetica", fontsize=12, '
        f'label={_q(name)}, labelloc=t, nodesep=0.3, ranksep=0.45];',
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9, color="#495057"];',
    ]


_SHAPES = {"agent": "shape=ellipse", "service": "shape=component", "workflow": "shape=folder"}
# a "workflow" drawn as a node is a folded nested workflow


def _node_line(g: nx.MultiDiGraph, nid: str, indent: str) -> str:
    """One node: its label, status colours, tooltip and the shape of its kind."""
    data = g.nodes[nid]
    fill, border = colours(data["kind"], data.get("status"))
    label = data["label"] + (f"\n{data['detail']}" if data.get("detail") else "")
    attrs = [f"label={_q(label)}", f"fillcolor={_q(fill)}", f"color={_q(border)}"]
    tooltip = f"{data['kind']} {nid}" + (f": {data['status']}" if data.get("status") else "")
    attrs.append(f"tooltip={_q(tooltip)}")
    if data["kind"] in _SHAPES:
        attrs.append(_SHAPES[data["kind"]])
    if data.get("status") == "running":
        attrs.append("penwidth=2")
    return f"{indent}{_q(nid)} [{', '.join(attrs)}];"


def _cluster_lines(g: nx.MultiDiGraph, cid: str, indent: str) -> list[str]:
    """An expanded workflow as a cluster holding its members (nested clusters included)."""
    data = g.nodes[cid]
    fill, border = colours("workflow", data.get("status"))
    label = data["label"] + (f" [{data['status']}]" if data.get("status") else "")
    lines = [
        f"{indent}subgraph {_q('cluster_' + cid)} {{",
        f'{indent}  label={_q(label)}; style="rounded,filled"; '
        f"fillcolor={_q(fill)}; color={_q(border)};",
    ]
    members = children(g, cid)
    if not members:
        lines.append(f'{indent}  {_q(cid + "/.empty")} [label="(empty)", shape=plaintext, style=""];')
    for member in members:
        lines += _item_lines(g, member, indent + "  ")
    lines.append(f"{indent}}}")
    return lines


def _item_lines(g: nx.MultiDiGraph, nid: str, indent: str) -> list[str]:
    """A node, or a cluster when it is an expanded workflow."""
    if _is_cluster(g, nid):
        return _cluster_lines(g, nid, indent)
    return [_node_line(g, nid, indent)]


def _agent_lines(g: nx.MultiDiGraph, agents: list[str]) -> list[str]:
    """The agents, together in one dashed cluster (nothing when there is none)."""
    if not agents:
        return []
    return [
        f"  subgraph {_q('cluster_agents')} {{",
        '    label="agents"; style="rounded,dashed"; color="#5f3dc4";',
        *(_node_line(g, agent, "    ") for agent in agents),
        "  }",
    ]


_EDGE_STYLES = {
    "supervises": ['style=dashed', 'color="#5f3dc4"', 'label="supervises"', "constraint=false"],
    "talks_to": ['style=dotted', 'color="#5f3dc4"', 'label="talks to"'],
    "after": ['style=bold', 'label="after"'],
}


def _edge_line(g: nx.MultiDiGraph, u: str, v: str, kind: str) -> str:
    """One edge; an end that is a cluster is attached to one of its leaves (``ltail``/``lhead``)."""
    attrs = []
    src, dst = u, v
    if _is_cluster(g, u):
        src = _entry(g, u, last=True)
        attrs.append(f"ltail={_q('cluster_' + u)}")
    if _is_cluster(g, v):
        dst = _entry(g, v)
        attrs.append(f"lhead={_q('cluster_' + v)}")
    attrs += _EDGE_STYLES.get(kind, [])
    suffix = f" [{', '.join(attrs)}]" if attrs else ""
    return f"  {_q(src)} -> {_q(dst)}{suffix};"


def to_dot(obj: Any, statuses: dict[str, str] | None = None, rankdir: str = "LR") -> str:
    """DOT text for an :class:`Application`, a :class:`Workflow` or a graph from ``build_graph``.

    ``statuses`` maps node ids (``"training/train"``, ``"agent:checker"``) to a status; those
    nodes are filled with the status colour and the status is shown in their tooltip.
    """
    g = _graph(obj, statuses)
    lines = _header(g.graph.get("name", "scanflow"), rankdir)
    top = children(g, None)
    for nid in top:
        if g.nodes[nid]["layer"] == "workflows":
            lines += _item_lines(g, nid, "  ")
    lines += _agent_lines(g, [n for n in top if g.nodes[n]["layer"] == "agents"])
    lines += [_edge_line(g, u, v, kind) for u, v, kind in g.edges(keys=True) if kind != "contains"]
    lines.append("}")
    return "\n".join(lines) + "\n"


def find_dot(dot: str | None = None) -> str:
    """The path of Graphviz's ``dot``; raises :class:`GraphvizNotFound` with how to install it."""
    path = shutil.which(dot or "dot")
    if path is None:
        raise GraphvizNotFound(
            f"Graphviz program {dot or 'dot'!r} not found on PATH: install Graphviz "
            "(apt-get install graphviz, brew install graphviz or conda install graphviz), "
            "or write DOT (.dot) or Mermaid (.mmd) instead, which need nothing"
        )
    return path


def render_dot(dot_text: str, fmt: str = "svg", dot: str | None = None, timeout: float = 60) -> bytes:
    """Run Graphviz on DOT text and return the output (``fmt``: svg, png, pdf...)."""
    exe = find_dot(dot)
    proc = subprocess.run([exe, f"-T{fmt}"], input=dot_text.encode(), capture_output=True,
                          timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"Graphviz failed ({exe} -T{fmt}): {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def to_svg(obj: Any, statuses: dict[str, str] | None = None, rankdir: str = "LR",
           dot: str | None = None) -> str:
    """SVG text (needs Graphviz's ``dot``; :class:`GraphvizNotFound` says how to get it)."""
    return render_dot(to_dot(obj, statuses, rankdir), "svg", dot).decode()
