"""YAML round trips without loss, and applications defined in Python files."""

from __future__ import annotations

import pytest

from scanflow.app import (
    Agent,
    Application,
    Executor,
    Resources,
    SpecError,
    SubWorkflow,
    TrackerSettings,
    Workflow,
    dump_yaml,
    load_app,
    load_yaml,
)


def _rich_app() -> Application:
    return Application(
        name="mnist", description="everything set at least once", state_dir="state",
        tracker=TrackerSettings(uri="http://127.0.0.1:5000", experiment="digits"),
        workflows=[
            Workflow(name="training", max_parallel=2, nodes=[
                Executor(name="load", script="load.py", parameters={"limit": 5000, "ratio": 0.5,
                                                                    "fast": True, "layers": [1, 2], "tag": None}),
                Executor(name="train", module="pkg.train", depends_on=["load"], retries=2, retry_backoff=0.5,
                         timeout=600, cache=False, isolated=True, requirements=["numpy"], env={"SEED": "1"},
                         resources=Resources(cpu="500m", memory="2Gi", gpu=1), outputs=["model"],
                         inputs=["data/raw.csv"], args=["--verbose"]),
                SubWorkflow(name="evaluation", workflow="evaluation", depends_on=["train"]),
            ]),
            Workflow(name="evaluation", nodes=[Executor(name="evaluate", callable="pkg.ev:run")]),
        ],
        agents=[Agent(name="checker", kind="checker", supervises=["training"], config={"threshold": 0.1})],
    )


def test_yaml_round_trip_is_lossless():
    app = _rich_app()
    text = dump_yaml(app)
    again = load_yaml(text)
    assert again == app
    assert dump_yaml(again) == text


def test_dumped_yaml_uses_the_design_key_names_and_omits_defaults():
    text = dump_yaml(_rich_app())
    for key in ("workflows:", "nodes:", "depends_on:", "parameters:", "resources:", "retries:",
                "workflow: evaluation", "script: load.py", "agents:", "supervises:"):
        assert key in text
    assert "cache: true" not in text and "retries: 0" not in text


def test_a_file_round_trip_keeps_the_root_and_the_source(tmp_path):
    app = _rich_app()
    app.state_dir = None
    (tmp_path / "load.py").write_text("")
    app.save(tmp_path / "scanflow.yaml")
    loaded = load_app(tmp_path, validate=False)
    assert loaded.to_dict() == app.to_dict()  # (== also compares where each was loaded from)
    assert loaded.root == tmp_path.resolve() and loaded.source == (tmp_path / "scanflow.yaml").resolve()
    assert loaded.state_path == tmp_path.resolve() / ".scanflow"


def test_an_application_can_be_a_python_file_defining_app(tmp_path):
    (tmp_path / "train.py").write_text("print('train')\n")
    (tmp_path / "app.py").write_text(
        "from scanflow.app import Application, Executor, Workflow\n"
        "app = Application(name='py', workflows=[Workflow(name='main', nodes=[\n"
        "    Executor(name='train', script='train.py', parameters={'epochs': 2})])])\n")
    app = load_app(tmp_path)  # the folder: finds app.py
    assert app.name == "py" and app.root == tmp_path.resolve()
    assert app.source == (tmp_path / "app.py").resolve()
    assert app.workflow("main").node("train").parameters == {"epochs": 2}
    assert load_app(tmp_path / "app.py").to_dict() == app.to_dict()
    assert load_yaml(app.to_yaml()).to_dict() == app.to_dict()  # and it can be exported as YAML


def test_a_python_file_is_validated_like_yaml(tmp_path):
    (tmp_path / "app.py").write_text(
        "from scanflow.app import Application, Executor, Workflow\n"
        "app = Application(name='py', workflows=[Workflow(name='main', nodes=[\n"
        "    Executor(name='train', script='missing.py')])])\n")
    with pytest.raises(SpecError, match="script file 'missing.py' not found") as info:
        load_app(tmp_path)
    assert str(info.value).startswith(str(tmp_path / "app.py"))


def test_a_python_file_without_app_says_what_to_add(tmp_path):
    (tmp_path / "app.py").write_text("x = 1\n")
    with pytest.raises(SpecError, match="add `app = Application"):
        load_app(tmp_path / "app.py")


def test_the_mnist_example_is_valid_and_uses_the_design_keys():
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "examples" / "mnist"
    app = load_app(folder)
    training = app.workflow("training")
    assert [n.name for n in training.nodes] == ["load", "preprocess", "stats", "train", "evaluation", "register"]
    assert isinstance(training.node("evaluation"), SubWorkflow)
    assert training.node("stats").depends_on == training.node("preprocess").depends_on == ["load"]
