"""Graphs of applications: a networkx view of the multi-graph, rendered as DOT, SVG or Mermaid.

>>> from scanflow.app import Application, Workflow, Executor
>>> from scanflow.graph import build_graph, to_dot, to_mermaid
>>> app = Application(name="demo", workflows=[Workflow(name="w", nodes=[
...     Executor(name="a", script="a.py"), Executor(name="b", script="b.py", depends_on="a")])])
>>> list(build_graph(app).successors("w/a"))
['w/b']
>>> to_mermaid(app, statuses={"w/a": "succeeded"}).count("st_succeeded")
2

Importing this package makes applications and workflows display themselves in Jupyter.
"""

from scanflow.app import set_renderer

from .dot import GraphvizNotFound, find_dot, render_dot, to_dot, to_svg
from .jupyter import render_for_jupyter
from .mermaid import to_mermaid
from .model import (
    EDGE_KINDS,
    agent_id,
    build_graph,
    children,
    ordered_nodes,
    root_workflows,
    service_id,
)
from .write import FORMATS, write_graph

set_renderer(render_for_jupyter)

__all__ = [
    "EDGE_KINDS", "FORMATS", "GraphvizNotFound", "agent_id", "build_graph", "find_dot", "children",
    "ordered_nodes", "render_dot", "render_for_jupyter", "root_workflows", "service_id", "to_dot",
    "to_mermaid", "to_svg", "write_graph",
]
