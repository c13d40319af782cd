"""Every malformed spec gets one clear line per problem: where, what, and how to fix it."""

from __future__ import annotations

import pytest

from scanflow.app import Application, Executor, SpecError, Workflow, load_app


def _problems(folder) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_app(folder)
    lines = str(info.value).splitlines()
    assert len(lines) == len(info.value.problems)  # one line per problem
    return lines


def test_a_dependency_cycle_is_printed_node_by_node(write_app):
    folder = write_app("""
        name: x
        workflows:
          - name: main
            nodes:
              - {name: a, callable: "m:f", depends_on: [c]}
              - {name: b, callable: "m:f", depends_on: [a]}
              - {name: c, callable: "m:f", depends_on: [b]}
    """)
    [line] = _problems(folder)
    assert "dependency cycle c -> a -> b -> c" in line
    assert "workflows[0] (main)" in line and "remove one of these depends_on entries" in line
    assert line.startswith(str(folder / "scanflow.yaml"))


def test_a_node_depending_on_itself(write_app):
    folder = write_app("""
        name: x
        workflows:
          - name: main
            nodes:
              - {name: a, callable: "m:f", depends_on: [a]}
    """)
    [line] = _problems(folder)
    assert "node 'a' depends on itself" in line and "nodes[0] (a).depends_on" in line


def test_workflows_nesting_each_other_form_a_cycle(write_app):
    folder = write_app("""
        name: x
        workflows:
          - name: outer
            nodes: [{name: step, workflow: inner}]
          - name: inner
            nodes: [{name: back, workflow: outer}]
    """)
    [line] = _problems(folder)
    assert "workflow cycle" in line and "outer" in line and "inner" in line


def test_an_unknown_dependency_suggests_the_closest_name(write_app):
    folder = write_app("""
        name: x
        workflows:
          - name: main
            nodes:
              - {name: load, callable: "m:f"}
              - {name: train, callable: "m:f", depends_on: [laod]}
    """)
    [line] = _problems(folder)
    assert "workflows[0] (main).nodes[1] (train).depends_on: unknown dependency 'laod'" in line
    assert "did you mean 'load'?" in line


def test_an_unknown_dependency_without_a_close_match_lists_the_known_nodes(write_app):
    folder = write_app("""
        name: x
        workflows:
          - name: main
            nodes:
              - {name: load, callable: "m:f"}
              - {name: train, callable: "m:f", depends_on: [zzz]}
    """)
    [line] = _problems(folder)
    assert "unknown dependency 'zzz'" in line and "known nodes: load, train" in line


def test_an_unknown_nested_workflow_suggests_the_closest_name(write_app):
    folder = write_app("""
        name: x
        workflows:
          - name: main
            nodes: [{name: ev, workflow: evaluaton}]
          - name: evaluation
            nodes: [{name: e, callable: "m:f"}]
    """)
    [line] = _problems(folder)
    assert "unknown workflow 'evaluaton'" in line and "did you mean 'evaluation'?" in line


def test_duplicate_node_and_workflow_names(write_app):
    folder = write_app("""
        name: x
        workflows:
          - name: main
            nodes:
              - {name: a, callable: "m:f"}
              - {name: a, callable: "m:g"}
          - name: main
            nodes: []
    """)
    lines = _problems(folder)
    assert any("duplicate workflow name 'main'" in line and "unique name" in line for line in lines)
    assert any("workflows[0] (main).nodes: duplicate node name 'a'" in line for line in lines)


def test_a_missing_script_file_names_the_folder_searched(write_app):
    folder = write_app("""
        name: x
        workflows:
          - name: main
            nodes:
              - {name: train, script: trian.py}
    """, {"train.py": "print('hi')\n"})
    [line] = _problems(folder)
    assert "nodes[0] (train).script: script file 'trian.py' not found" in line
    assert f"looked in {folder}" in line and "relative to the application folder" in line


def test_a_missing_requirements_file(write_app):
    folder = write_app("""
        name: x
        workflows:
          - name: main
            nodes:
              - {name: train, callable: "m:f", requirements: reqs.txt}
    """)
    [line] = _problems(folder)
    assert "requirements file 'reqs.txt' not found" in line


@pytest.mark.parametrize(("field", "value", "message"), [
    ("cpu", "lots", "bad cpu quantity 'lots': use a number of cores (2, 0.5) or millicores ('500m')"),
    ("cpu", "-1", "bad cpu quantity '-1'"),
    ("memory", "2GB", "bad memory quantity '2GB': use bytes or a suffix such as '512Mi' or '2Gi'"),
    ("memory", "lots", "bad memory quantity 'lots'"),
])
def test_bad_resource_strings_name_the_field_and_the_expected_form(write_app, field, value, message):
    folder = write_app(f"""
        name: x
        workflows:
          - name: main
            nodes:
              - name: train
                callable: "m:f"
                resources: {{{field}: "{value}"}}
    """)
    [line] = _problems(folder)
    assert f"workflows[0] (main).nodes[0] (train).resources.{field}: {message}" in line
    assert line.startswith(f"{folder / 'scanflow.yaml'}:7:")  # file and line of the field


def test_a_negative_gpu_count(write_app):
    folder = write_app("""
        name: x
        workflows:
          - name: main
            nodes:
              - {name: train, callable: "m:f", resources: {gpu: -1}}
    """)
    [line] = _problems(folder)
    assert "resources.gpu" in line and "gpu must be 0 or more" in line


@pytest.mark.parametrize(("yaml_key", "where", "suggestion"), [
    ("depend_on: [a]", "nodes[1] (b).depend_on", "did you mean 'depends_on'?"),
    ("paramters: {x: 1}", "nodes[1] (b).paramters", "did you mean 'parameters'?"),
    ("retry: 2", "nodes[1] (b).retry", "did you mean 'retries'?"),
])
def test_unknown_node_keys_suggest_the_key_that_was_meant(write_app, yaml_key, where, suggestion):
    folder = write_app(f"""
        name: x
        workflows:
          - name: main
            nodes:
              - {{name: a, callable: "m:f"}}
              - {{name: b, callable: "m:f", {yaml_key}}}
    """)
    [line] = _problems(folder)
    assert f"workflows[0].{where}: unknown key" in line and suggestion in line
    assert line.startswith(f"{folder / 'scanflow.yaml'}:6:")


def test_unknown_keys_at_every_level(write_app):
    folder = write_app("""
        name: x
        worflows: []
        tracker: {url: http://x}
        agents:
          - {name: watch, kind: checker, supervise: [main]}
    """)
    lines = _problems(folder)
    assert any("worflows: unknown key 'worflows' (did you mean 'workflows'?)" in line for line in lines)
    assert any("tracker.url: unknown key 'url' (did you mean 'uri'?)" in line for line in lines)
    assert any("agents[0].supervise: unknown key" in line and "'supervises'" in line for line in lines)


def test_unknown_resource_keys_suggest_the_right_one(write_app):
    folder = write_app("""
        name: x
        workflows:
          - name: main
            nodes:
              - {name: a, callable: "m:f", resources: {cpus: 2}}
    """)
    [line] = _problems(folder)
    assert "resources.cpus: unknown key 'cpus' (did you mean 'cpu'?)" in line


def test_a_node_needs_exactly_one_entry_point(write_app):
    folder = write_app("""
        name: x
        workflows:
          - name: main
            nodes:
              - {name: a, script: a.py, module: pkg.a}
              - {name: b}
    """, {"a.py": ""})
    lines = _problems(folder)
    assert any("sets script and module" in line and "set exactly one" in line for line in lines)
    assert any("node 'b' sets none" in line for line in lines)


def test_a_bad_callable_says_how_to_write_it(write_app):
    folder = write_app("""
        name: x
        workflows:
          - name: main
            nodes: [{name: a, callable: "pkg.mod.func"}]
    """)
    [line] = _problems(folder)
    assert "bad callable 'pkg.mod.func': write it as 'package.module:function'" in line


def test_invalid_yaml_reports_the_line(write_app):
    folder = write_app("name: x\nworkflows:\n  - name: [unclosed\n")
    [line] = _problems(folder)
    assert "not valid YAML" in line
    assert line.startswith((f"{folder / 'scanflow.yaml'}:3:", f"{folder / 'scanflow.yaml'}:4:"))


def test_every_problem_is_reported_at_once(write_app):
    folder = write_app("""
        name: x
        workflows:
          - name: main
            nodes:
              - {name: a, script: missing.py, depends_on: [nope]}
              - {name: b, callable: "m:f", depends_on: [b]}
    """)
    assert len(_problems(folder)) == 3


def test_agents_must_supervise_known_workflows(write_app):
    folder = write_app("""
        name: x
        workflows:
          - name: training
            nodes: [{name: a, callable: "m:f"}]
        agents:
          - {name: checker, kind: checker, supervises: [trainig]}
    """)
    [line] = _problems(folder)
    assert "agents[0] (checker).supervises: unknown workflow or service 'trainig'" in line
    assert "did you mean 'training'?" in line


def test_specs_built_in_python_are_validated_the_same_way():
    app = Application(name="x", workflows=[Workflow(name="w", nodes=[
        Executor(name="a", callable="m:f", depends_on=["b"]),
        Executor(name="b", callable="m:f", depends_on=["a"])])])
    with pytest.raises(SpecError, match=r"dependency cycle (a -> b -> a|b -> a -> b)"):
        app.validate_spec()


def test_a_missing_application_folder_says_how_to_create_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="scanflow init"):
        load_app(tmp_path)


def test_a_service_of_zero_replicas_is_refused_naming_the_field(write_app):
    folder = write_app("""
        name: x
        services:
          - {name: predict, command: [scanflow, serve, .], port: 8000, replicas: 0}
    """)
    [line] = _problems(folder)
    assert "replicas" in line and "greater than or equal to 1" in line
