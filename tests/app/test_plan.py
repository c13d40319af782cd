"""Flattening applications into node DAGs, and node command lines."""

import json
import sys

import pytest

from scanflow.app import Application, Executor, SubWorkflow, Workflow
from scanflow.app.plan import build_command, build_plan, param_env, param_flags, top_level_workflows


def _app():
    return Application(name="demo", workflows=[
        Workflow(name="training", nodes=[
            Executor(name="load", callable="m:f"),
            Executor(name="stats", callable="m:f", depends_on=["load"]),
            Executor(name="train", callable="m:f", depends_on=["load"]),
            SubWorkflow(name="evaluation", workflow="evaluation", depends_on=["train"]),
            Executor(name="register", callable="m:f", depends_on=["evaluation", "stats"]),
        ]),
        Workflow(name="evaluation", nodes=[
            Executor(name="score", callable="m:f"),
            Executor(name="plot", callable="m:f"),
            Executor(name="report", callable="m:f", depends_on=["score", "plot"]),
        ]),
    ])


def test_nested_workflow_is_expanded_between_its_upstream_and_downstream_nodes():
    plan = build_plan(_app())
    deps = {n.id: n.deps for n in plan.nodes.values()}
    assert deps["training/evaluation/score"] == ["training/train"]
    assert deps["training/evaluation/plot"] == ["training/train"]
    assert deps["training/evaluation/report"] == ["training/evaluation/plot", "training/evaluation/score"]
    assert deps["training/register"] == ["training/evaluation/report", "training/stats"]
    assert plan.nodes["training/evaluation/score"].groups == ["training/evaluation"]
    assert list(plan.groups) == ["training/evaluation"]


def test_nodes_come_in_a_topological_order():
    order = list(build_plan(_app()).nodes)
    for node in build_plan(_app()).nodes.values():
        for dep in node.deps:
            assert order.index(dep) < order.index(node.id)


def test_default_run_holds_only_the_top_level_workflows():
    assert top_level_workflows(_app()) == ["training"]
    assert build_plan(_app()).workflows == ["training"]
    assert list(build_plan(_app(), "evaluation").nodes) == [
        "evaluation/score", "evaluation/plot", "evaluation/report"]


def test_a_default_run_leaves_out_the_workflow_an_improver_runs_with_labeled_data():
    from scanflow.app import Agent

    step = [Executor(name="n", callable="m:f")]
    app = Application(name="x", workflows=[Workflow(name="training", nodes=step),
                                           Workflow(name="retrain", nodes=step)],
                      agents=[Agent(name="improver", kind="improver", config={"retrain_workflow": "retrain"})])
    assert build_plan(app).workflows == ["training"]
    assert build_plan(app, "retrain").workflows == ["retrain"]  # the improver names it
    assert top_level_workflows(app) == ["training", "retrain"]  # exported, e.g. to Argo


def test_top_level_workflows_follow_their_depends_on():
    app = Application(name="x", workflows=[
        Workflow(name="b", depends_on=["a"], nodes=[Executor(name="n", callable="m:f")]),
        Workflow(name="a", nodes=[Executor(name="n", callable="m:f")]),
    ])
    plan = build_plan(app)
    assert plan.workflows == ["a", "b"]
    assert plan.nodes["b/n"].deps == ["a/n"]
    assert set(plan.groups) == {"a", "b"}  # several top-level workflows: each is a group


def test_unknown_workflow_names_the_known_ones():
    with pytest.raises(KeyError, match="training"):
        build_plan(_app(), "trainig")


def test_parameters_become_flags_and_environment_variables():
    params = {"lr": 0.1, "fast": True, "layers": [1, 2], "skip": None, "batch-size": 8}
    assert param_flags(params) == ["--lr", "0.1", "--fast", "true", "--layers", "[1, 2]", "--batch-size", "8"]
    assert param_env(params) == {"SCANFLOW_PARAM_LR": "0.1", "SCANFLOW_PARAM_FAST": "true",
                                 "SCANFLOW_PARAM_LAYERS": "[1, 2]", "SCANFLOW_PARAM_BATCH_SIZE": "8"}


def test_commands_for_script_module_and_callable(tmp_path):
    app = Application(name="x")
    app.root = tmp_path
    script = Executor(name="s", script="train.py", args=["-v"], parameters={"epochs": 2})
    assert build_command(app, script, "py") == ["py", str(tmp_path / "train.py"), "-v", "--epochs", "2"]
    shell = Executor(name="s", script="run.sh", workdir="jobs")
    assert build_command(app, shell, "py") == ["bash", str(tmp_path / "jobs" / "run.sh")]
    module = Executor(name="m", module="pkg.job", parameters={"n": 1})
    assert build_command(app, module, "py") == ["py", "-m", "pkg.job", "--n", "1"]
    call = Executor(name="c", callable="pkg.mod:func", parameters={"n": 1})
    argv = build_command(app, call, sys.executable)
    assert argv[0] == sys.executable and argv[1] == "-c"
    assert argv[3:] == ["pkg.mod:func", json.dumps({"n": 1})]
