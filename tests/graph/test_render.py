import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from scanflow.app import Executor, Workflow
from scanflow.graph import GraphvizNotFound, build_graph, to_dot, to_mermaid, to_svg, write_graph
from scanflow.graph.style import STATUS_COLOURS

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz not installed")
SVG = "{http://www.w3.org/2000/svg}"


def svg_titles(svg: str) -> dict[str, ET.Element]:
    root = ET.fromstring(svg)
    return {g.find(f"{SVG}title").text: g for g in root.iter(f"{SVG}g") if g.find(f"{SVG}title") is not None}


@needs_dot
def test_graphviz_parses_the_dot_and_draws_every_node_and_cluster(app):
    titles = svg_titles(to_svg(app))
    g = build_graph(app)
    for nid, data in g.nodes(data=True):
        if data["kind"] == "workflow":
            assert f"cluster_{nid}" in titles
        else:
            assert nid in titles
    assert "cluster_agents" in titles
    assert "training/load->training/stats" in titles  # Graphviz titles edges "u->v"


@needs_dot
def test_status_colours_fill_the_nodes(app):
    svg = to_svg(app, statuses={"training/train": "failed", "training/load": "succeeded"})
    titles = svg_titles(svg)
    fill = {n: next(titles[n].iter(f"{SVG}path")).get("fill") for n in ("training/train", "training/load")}
    assert fill["training/train"] == STATUS_COLOURS["failed"][0]
    assert fill["training/load"] == STATUS_COLOURS["succeeded"][0]


@needs_dot
def test_quotes_and_backslashes_in_labels_are_escaped():
    wf = Workflow(name="w", nodes=[Executor(name="a", script='dir\\my "odd" script.py')])
    dot = to_dot(wf)
    proc = subprocess.run(["dot", "-Tsvg"], input=dot.encode(), capture_output=True)
    assert proc.returncode == 0, proc.stderr
    assert any('dir\\my "odd" script.py' in t for t in ET.fromstring(proc.stdout).itertext())


def test_dot_routes_edges_into_and_out_of_clusters(app):
    dot = to_dot(app)
    assert '"training/train" -> "training/evaluation/evaluate" [lhead="cluster_training/evaluation"]' in dot
    assert '"training/evaluation/score" -> "training/report" [ltail="cluster_training/evaluation"]' in dot


def test_mermaid_has_balanced_subgraphs_every_edge_and_status_classes(app):
    text = to_mermaid(app, statuses={"training/train": "running", "agent:checker": "failed"})
    lines = [ln.strip() for ln in text.splitlines()]
    assert lines[0] == "flowchart LR"
    assert sum(ln.startswith("subgraph ") for ln in lines) == sum(ln == "end" for ln in lines) == 4
    ids = dict(re.findall(r"^(n_\w+)[\[\(]+\"([^\"]*)", text, re.M))
    assert len(ids) == len(set(ids))
    edge_lines = [ln for ln in lines if re.match(r"^n_\w+ [-=.]+", ln)]
    g = build_graph(app)
    assert len(edge_lines) == sum(1 for *_, k in g.edges(keys=True) if k != "contains")
    assert "n_training_train --> n_training_evaluation" in lines
    assert "n_agent_checker -.->|talks to| n_agent_planner" in lines
    assert "class n_training_train st_running" in lines
    assert "class n_agent_checker st_failed" in lines


def test_mermaid_escapes_quotes_and_angle_brackets():
    wf = Workflow(name="w", nodes=[Executor(name="a", script='x "<b>".py')])
    text = to_mermaid(wf)
    assert 'x #quot;#lt;b#gt;#quot;.py' in text


def test_svg_without_graphviz_says_how_to_install_it(app, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(GraphvizNotFound, match="install Graphviz"):
        to_svg(app)
    assert write_graph(app, tmp_path / "g.mmd").read_text().startswith("flowchart")


@needs_dot
def test_applications_and_workflows_display_in_jupyter(app):
    svg = app._repr_svg_()
    assert "<svg" in svg and "training/load" in svg
    assert app._repr_html_() is None  # the SVG is enough
    assert "<svg" in app.workflow("training")._repr_svg_()


def test_jupyter_falls_back_to_mermaid_html_without_graphviz(app, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert app._repr_svg_() is None
    html = app._repr_html_()
    assert "flowchart LR" in html and "Graphviz" in html


@needs_dot
@pytest.mark.parametrize("suffix,start", [(".dot", b"digraph"), (".mmd", b"flowchart"),
                                          (".svg", b"<?xml"), (".png", b"\x89PNG")])
def test_write_graph_picks_the_format_from_the_suffix(app, tmp_path, suffix, start):
    path = write_graph(app, tmp_path / f"graph{suffix}")
    assert path.read_bytes().startswith(start)


def test_write_graph_rejects_an_unknown_suffix(app, tmp_path):
    with pytest.raises(ValueError, match=r"\.mmd"):
        write_graph(app, tmp_path / "graph.jpeg")
