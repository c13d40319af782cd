"""Malformed and hostile spec files end in a SpecError that names the field, never in a raw
exception, a hang or exhausted memory (issue 14)."""

import textwrap

import pytest
import typer

from scanflow.app import SpecError, load_app, load_yaml
from scanflow.app.bounded_yaml import MAX_BYTES, MAX_DEPTH
from scanflow.cli.exits import INTERNAL_ERROR, PROBLEM, run_guarded

# 7 levels of 9-10 aliases: 395 bytes that expand to ~10^7 values under a plain loader.
ALIAS_BOMB = "\n".join([
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
    *(f"{n}: &{n} [{', '.join(['*' + p] * 9)}]" for p, n in zip("abcdef", "bcdefg", strict=True)),
    "name: x",
])


def _node(**fields) -> str:
    inner = ", ".join(f"{k}: {v}" for k, v in {"name": "n", "callable": "'m:f'", **fields}.items())
    return f"name: a\nworkflows:\n  - name: w\n    nodes:\n      - {{{inner}}}\n"


def _problems(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_yaml(text)
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize("key, value", [("workflows", "5"), ("agents", "true"), ("services", "100")])
def test_a_scalar_where_a_list_belongs_names_the_field(key, value):
    (problem,) = _problems(f"name: a\n{key}: {value}\n")
    assert problem.startswith(f"line 2: {key}:") and "write a list" in problem


def test_scalar_nodes_names_the_workflow():
    (problem,) = _problems("name: a\nworkflows:\n  - name: w\n    nodes: 5\n")
    assert "workflows[0] (w).nodes" in problem and "valid list" in problem


def test_a_scalar_where_a_mapping_belongs_names_the_field():
    (problem,) = _problems("name: a\ntracker: 5\n")
    assert "tracker" in problem and "write a mapping" in problem


def test_a_file_that_is_not_utf8_is_a_spec_error(tmp_path):
    (tmp_path / "scanflow.yaml").write_bytes(b"name: caf\xe9\n")
    with pytest.raises(SpecError, match="not UTF-8") as info:
        load_app(tmp_path)
    assert info.value.problems[0].file.endswith("scanflow.yaml")


def test_an_oversized_file_is_refused_unread(tmp_path):
    (tmp_path / "scanflow.yaml").write_bytes(b"name: a\n" + b"#" * MAX_BYTES)
    with pytest.raises(SpecError, match="bytes, more than"):
        load_app(tmp_path)


def test_deep_nesting_is_refused():
    (problem,) = _problems("name: a\ndescription: " + "[" * 500 + "]" * 500 + "\n")
    assert f"deeper than {MAX_DEPTH}" in problem


def test_a_self_referencing_alias_is_refused():
    (problem,) = _problems("name: a\ndescription: &x [*x]\n")
    assert "alias refers to the node that contains it" in problem


def test_an_alias_bomb_is_refused_before_it_expands():
    assert len(ALIAS_BOMB) < 400
    (problem,) = _problems(ALIAS_BOMB)
    assert "once aliases are followed" in problem


def test_a_few_aliases_still_work():
    app = load_yaml("name: a\nworkflows:\n  - name: w\n    nodes:\n"
                    "      - &n {name: n, callable: 'm:f', resources: {cpu: 1}}\n"
                    "      - {name: m, callable: 'm:f', depends_on: [n]}\n")
    assert [n.name for n in app.workflows[0].nodes] == ["n", "m"]


@pytest.mark.parametrize("memory", ["'1e100000000'", "'1e309'", "'99999999999999999999Ei'", ".inf", ".nan", "-1"])
def test_memory_quantities_are_bounded(memory):
    (problem,) = _problems(_node(resources=f"{{memory: {memory}}}"))
    assert "resources.memory: bad memory quantity" in problem


@pytest.mark.parametrize("cpu", [".nan", ".inf", "-.inf", "1" + "0" * 400, "'1e309'", "0"])
def test_cpu_quantities_are_finite_and_positive(cpu):
    (problem,) = _problems(_node(resources=f"{{cpu: {cpu}}}"))
    assert "resources.cpu: bad cpu quantity" in problem


def test_timeouts_are_finite():
    (problem,) = _problems(_node(timeout=".inf"))
    assert ".timeout:" in problem and "finite" in problem


def test_an_integer_of_thousands_of_digits_is_a_spec_error():
    (problem,) = _problems("name: a\nworkflows:\n  - name: w\n    max_parallel: " + "9" * 5000 + "\n")
    assert "a number is too long" in problem


@pytest.mark.parametrize("key", ["script", "requirements", "dockerfile", "workdir"])
def test_over_long_paths_are_spec_errors(key):
    text = _node(**{key: "x" * 300})
    if key == "script":
        text = text.replace("callable: 'm:f', ", "")
    (problem,) = _problems(text)
    assert f".{key}: bad path" in problem and "longer than 255 bytes" in problem


def test_an_over_long_path_in_a_python_spec_is_a_problem_not_an_oserror(tmp_path):
    # A spec built in Python skips the field check only if someone bypasses pydantic; the file
    # check must still answer with a problem.
    from scanflow.app import Application, Executor, Workflow
    from scanflow.app.validation import find_problems

    node = Executor.model_construct(name="n", script="x" * 300, module=None, callable=None,
                                    requirements=None, dockerfile=None, workdir=None)
    app = Application(name="a", workflows=[Workflow(name="w")])
    app.workflows[0].nodes.append(node)
    app.root = tmp_path
    assert any("script file" in p.message for p in find_problems(app))


def test_the_cli_tells_a_spec_problem_from_a_crash(tmp_path):
    (tmp_path / "scanflow.yaml").write_text("name: a\nworkflows: 5\n")
    from scanflow.cli import app as cli

    assert run_guarded(cli, ["validate", str(tmp_path)]) == PROBLEM

    crashing = typer.Typer()

    @crashing.command()
    def boom() -> None:
        raise TypeError("a bug")

    assert run_guarded(crashing, []) == INTERNAL_ERROR


def test_validate_prints_no_traceback_for_hostile_files(tmp_path, capsys):
    from scanflow.cli import app as cli

    for i, text in enumerate([ALIAS_BOMB, "name: a\ndescription: &x [*x]\n", textwrap.dedent("""
            name: a
            services: 100
        """)]):
        folder = tmp_path / str(i)
        folder.mkdir()
        (folder / "scanflow.yaml").write_text(text)
        assert run_guarded(cli, ["validate", str(folder)]) == PROBLEM
    assert "Traceback" not in capsys.readouterr().err


def test_a_control_character_is_a_spec_error():
    (problem,) = _problems("\x1fname: a\n")
    assert "not valid YAML" in problem and "special characters" in problem
