"""docs/cli.md is current, every option spelling is the vocabulary's, and the root options work."""

from __future__ import annotations

import logging
from pathlib import Path

import typer
from typer.testing import CliRunner

from scanflow import __version__
from scanflow.cli import COMMANDS, app, load_command
from scanflow.cli.reference import reference

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
OLD_SPELLINGS = {"--db", "--state", "--poll", "--poll-interval", "--drift-window", "--load",
                 "--mnist"}
# old spellings of one command only: the name means something else elsewhere
OLD_IN = {"--status": ("scanflow", "graph")}


def _commands(command, path=("scanflow",)):
    """Every command under ``command`` (through Click's API: the root loads them lazily)."""
    yield path, command
    if hasattr(command, "commands"):
        ctx = command.make_context(" ".join(path), [], resilient_parsing=True)
        for name in command.list_commands(ctx):
            yield from _commands(command.get_command(ctx, name), (*path, name))


def test_the_root_help_lists_every_command_with_its_own_help_line():
    root = typer.main.get_command(app)
    ctx = root.make_context("scanflow", [], resilient_parsing=True)
    for name, _module, _how, line in COMMANDS:  # the lines `scanflow --help` shows without loading
        command = load_command(name)
        assert " ".join((command.help or "").split("\n\n")[0].split()) == line, name
        assert root.get_command(ctx, name).name == name
    assert root.list_commands(ctx) == [name for name, *_ in COMMANDS]


def test_docs_cli_md_is_current():
    assert reference(app) in DOCS.read_text(encoding="utf-8"), (
        "docs/cli.md is stale: run `make docs` (python -m scanflow.cli.reference docs/cli.md)")


def test_old_spellings_still_work_but_no_help_shows_them():
    seen = set()
    for path, command in _commands(typer.main.get_command(app)):
        for param in command.params:
            names = {o for o in getattr(param, "opts", [])
                     if o in OLD_SPELLINGS or OLD_IN.get(o) == path}
            if names:
                assert param.hidden, f"{' '.join(path)} shows {names}"
                seen |= names
    assert seen == OLD_SPELLINGS | set(OLD_IN)
    assert not any(f"`{old} " in DOCS.read_text() for old in OLD_SPELLINGS - {"--state"})


def _rows(options_only=True):
    """``(command, option names, value, meaning)`` of every option (and argument) row of the
    reference."""
    command = None
    for line in reference(app).splitlines():
        if line.startswith("### `"):
            command = line.strip("#` ")
        elif line.startswith("| `-" if options_only else "| `"):
            names, meaning = line[3:].split("` | ", 1)
            words = names.replace(",", " ").split()
            yield (command, [w for w in words if w.startswith("-")],
                   " ".join(w for w in words if not w.startswith("-")), meaning.rstrip(" |"))


def test_every_argument_and_option_says_what_it_means():
    assert [(c, names or value) for c, names, value, meaning in _rows(options_only=False)
            if not meaning or meaning.startswith("[default")] == []


def test_an_option_shared_by_commands_takes_one_kind_of_value():
    # the vocabulary's two documented narrowings: serve takes only a fitted detector file, and
    # the commands that write one file say FILE where the others say DIR
    narrower = {("scanflow serve", "--detector"), ("scanflow graph", "--output"),
                ("scanflow datasets corrupt", "--output")}
    kinds: dict[str, set[str]] = {}
    for command, names, value, _ in _rows():
        if (command, names[-1]) not in narrower:
            kinds.setdefault(names[-1], set()).add(value)
    assert {name: values for name, values in kinds.items() if len(values) > 1} == {}


def test_state_folder_is_state_dir_in_every_command_that_has_one():
    for path, command in _commands(typer.main.get_command(app)):
        for param in command.params:
            if param.param_type_name == "option" and not param.hidden and "state" in param.name:
                assert param.opts in (["--state-dir"], ["--state-url"]), (path, param.opts)


def test_version_and_log_level(monkeypatch):
    runner = CliRunner()
    assert runner.invoke(app, ["--version"]).output.strip() == f"scanflow {__version__}"
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    for args, level in ((["-v"], logging.INFO), (["-vv"], logging.DEBUG),
                        (["--log-level", "error"], logging.ERROR), ([], logging.WARNING)):
        runner.invoke(app, [*args, "datasets", "list", "--json"])
        assert logging.getLogger().level == level, args


def test_usage_errors_exit_with_2_on_stderr():
    result = CliRunner().invoke(app, ["check", "--data", "nothing-here.npy", "--detector", "ks",
                                      "--reference", "mnist:test"])
    assert result.exit_code == 2 and "error:" in result.stderr and "nothing-here.npy" in result.stderr
