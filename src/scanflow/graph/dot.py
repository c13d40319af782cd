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

from .model import build_graph, children
from .style import colours


class GraphvizNotFound(RuntimeError):
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


def to_dot(obj: Any, statuses: dict[str, str] | None = None, rankdir: str = "LR") -> str:
    """DOT text for an :class:`Application`, a :class:`Workflow` or a graph from ``build_graph``.

    ``statuses`` maps node ids (``"training/train"``, ``"agent:checker"``) to a status; those
    nodes are filled with the status colour and the status is shown in their tooltip.
    """
    g = _graph(obj, statuses)
    name = g.graph.get("name", "scanflow")
    lines = [
        f"digraph {_q(name)} {{",
        f'  graph [compound=true, rankdir={rankdir}, fontname="Helvetica", fontsize=12, '
        f'label={_q(name)}, labelloc=t, nodesep=0.3, ranksep=0.45];',
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9, color="#495057"];',
    ]

    def node_line(nid: str, indent: str) -> str:
        d = g.nodes[nid]
        fill, border = colours(d["kind"], d.get("status"))
        label = d["label"] + (f"\n{d['detail']}" if d.get("detail") else "")
        attrs = [f"label={_q(label)}", f"fillcolor={_q(fill)}", f"color={_q(border)}"]
        tooltip = f"{d['kind']} {nid}" + (f": {d['status']}" if d.get("status") else "")
        attrs.append(f"tooltip={_q(tooltip)}")
        if d["kind"] == "agent":
            attrs.append("shape=ellipse")
        elif d["kind"] == "service":
            attrs.append("shape=component")
        elif d["kind"] == "workflow":  # folded nested workflow
            attrs.append("shape=folder")
        if d.get("status") == "running":
            attrs.append("penwidth=2")
        return f"{indent}{_q(nid)} [{', '.join(attrs)}];"

    def cluster(cid: str, indent: str) -> None:
        d = g.nodes[cid]
        fill, border = colours("workflow", d.get("status"))
        lines.append(f"{indent}subgraph {_q('cluster_' + cid)} {{")
        label = d["label"] + (f" [{d['status']}]" if d.get("status") else "")
        lines.append(f'{indent}  label={_q(label)}; style="rounded,filled"; '
                     f"fillcolor={_q(fill)}; color={_q(border)};")
        members = children(g, cid)
        if not members:
            lines.append(f'{indent}  {_q(cid + "/.empty")} [label="(empty)", shape=plaintext, style=""];')
        for m in members:
            if _is_cluster(g, m):
                cluster(m, indent + "  ")
            else:
                lines.append(node_line(m, indent + "  "))
        lines.append(f"{indent}}}")

    top = children(g, None)
    for nid in top:
        if g.nodes[nid]["layer"] != "workflows":
            continue
        if _is_cluster(g, nid):
            cluster(nid, "  ")
        else:
            lines.append(node_line(nid, "  "))
    agents = [n for n in top if g.nodes[n]["layer"] == "agents"]
    if agents:
        lines.append(f"  subgraph {_q('cluster_agents')} {{")
        lines.append('    label="agents"; style="rounded,dashed"; color="#5f3dc4";')
        lines.extend(node_line(a, "    ") for a in agents)
        lines.append("  }")

    for u, v, kind in g.edges(keys=True):
        if kind == "contains":
            continue
        attrs = []
        src, dst = u, v
        if _is_cluster(g, u):
            src = _entry(g, u, last=True)
            attrs.append(f"ltail={_q('cluster_' + u)}")
        if _is_cluster(g, v):
            dst = _entry(g, v)
            attrs.append(f"lhead={_q('cluster_' + v)}")
        if kind == "supervises":
            attrs += ['style=dashed', 'color="#5f3dc4"', 'label="supervises"', "constraint=false"]
        elif kind == "talks_to":
            attrs += ['style=dotted', 'color="#5f3dc4"', 'label="talks to"']
        elif kind == "after":
            attrs += ['style=bold', 'label="after"']
        suffix = f" [{', '.join(attrs)}]" if attrs else ""
        lines.append(f"  {_q(src)} -> {_q(dst)}{suffix};")
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
