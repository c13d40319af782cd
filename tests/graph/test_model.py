import pytest

from scanflow.app import Executor, SubWorkflow, Workflow
from scanflow.graph import build_graph, ordered_nodes, root_workflows


def edges(g, kind):
    return {(u, v) for u, v, k in g.edges(keys=True) if k == kind}


def test_workflow_nodes_use_the_schedulers_qualified_ids(app):
    g = build_graph(app)
    executors = {n for n, d in g.nodes(data=True) if d["kind"] == "executor"}
    assert executors == {
        "training/load", "training/stats", "training/train", "training/report",
        "training/evaluation/evaluate", "training/evaluation/score", "monitoring/check",
    }


def test_a_nested_workflow_is_a_cluster_inside_its_parent_and_not_a_root(app):
    g = build_graph(app)
    assert [w.name for w in root_workflows(app)] == ["training", "monitoring"]
    assert g.nodes["training/evaluation"]["kind"] == "workflow"
    assert g.nodes["training/evaluation"]["parent"] == "training"
    assert g.nodes["training/evaluation/score"]["parent"] == "training/evaluation"
    assert "evaluation" not in g  # shown only where it is nested
    assert ("training", "training/evaluation") in edges(g, "contains")


def test_dependencies_and_workflow_order_are_edges(app):
    g = build_graph(app)
    assert edges(g, "dependency") >= {
        ("training/load", "training/stats"), ("training/train", "training/evaluation"),
        ("training/evaluation", "training/report"),
        ("training/evaluation/evaluate", "training/evaluation/score"),
        ("training", "service:api"),
    }
    assert edges(g, "after") == {("training", "monitoring")}


def test_agents_are_a_second_layer_linked_to_what_they_supervise(app):
    g = build_graph(app)
    assert {n for n, d in g.nodes(data=True) if d["layer"] == "agents"} == {"agent:checker", "agent:planner"}
    assert edges(g, "supervises") == {
        ("agent:checker", "training"), ("agent:checker", "service:api"),
        ("agent:planner", "training/evaluation"),  # a nested workflow: where it is expanded
    }
    assert edges(g, "talks_to") == {("agent:checker", "agent:planner")}


def test_statuses_are_stored_on_known_nodes_and_unknown_ids_ignored(app):
    g = build_graph(app, statuses={"training/train": "running", "nope/x": "failed"})
    assert g.nodes["training/train"]["status"] == "running"
    assert "status" not in g.nodes["training/load"]
    assert "nope/x" not in g


def test_a_workflow_alone_shows_nested_workflows_folded():
    wf = Workflow(name="w", nodes=[Executor(name="a", script="a.py"),
                                   SubWorkflow(name="sub", workflow="other", depends_on=["a"])])
    g = build_graph(wf)
    assert g.nodes["w/sub"]["expanded"] is False
    assert ("w/a", "w/sub") in edges(g, "dependency")


def test_one_workflow_of_an_application_can_be_selected(app):
    g = build_graph(app, workflow="training")
    assert "monitoring" not in g and "agent:checker" not in g
    assert "training/evaluation/score" in g


def test_build_graph_rejects_other_objects():
    with pytest.raises(TypeError, match="Application or a Workflow"):
        build_graph({"name": "x"})


def test_ordered_nodes_follow_dependencies_and_name_an_unknown_one():
    wf = Workflow(name="w", nodes=[Executor(name="b", script="b.py", depends_on="a"),
                                   Executor(name="a", script="a.py")])
    assert [n.name for n in ordered_nodes(wf)] == ["a", "b"]
    wf = Workflow(name="w", nodes=[Executor(name="a", script="a.py", depends_on=["trian"])])
    with pytest.raises(ValueError, match="unknown node 'trian'"):
        ordered_nodes(wf)
