import json
import shutil

import pytest
import typer
from typer.testing import CliRunner

from scanflow.cli.graph import graph

cli = typer.Typer()
cli.command("graph")(graph)
cli.command("noop")(lambda: None)  # two commands keep `graph` a subcommand, as in the root app
runner = CliRunner()


@pytest.mark.parametrize("name,start", [("g.dot", "digraph"), ("g.mmd", "flowchart")])
def test_graph_command_writes_dot_and_mermaid(app_dir, tmp_path, name, start):
    out = tmp_path / "out" / name
    result = runner.invoke(cli, ["graph", str(app_dir), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith(start)
    assert "training/evaluation/evaluate" in out.read_text() or "n_training_evaluation_evaluate" in out.read_text()


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz not installed")
def test_graph_command_writes_svg_coloured_by_a_status_file(app_dir, tmp_path):
    status = tmp_path / "status.json"
    status.write_text(json.dumps({"training/train": "failed"}))
    out = tmp_path / "g.svg"
    result = runner.invoke(cli, ["graph", str(app_dir), "-o", str(out), "--status-file", str(status)])
    assert result.exit_code == 0, result.output
    assert "#ffc9c9" in out.read_text()


def test_graph_command_prints_one_workflow_as_dot(app_dir):
    result = runner.invoke(cli, ["graph", str(app_dir), "--workflow", "monitoring"])
    assert result.exit_code == 0, result.output
    assert '"monitoring/check"' in result.stdout and "training/load" not in result.stdout


def test_graph_command_reports_an_unknown_workflow_and_a_bad_suffix_as_usage_errors(app_dir, tmp_path):
    result = runner.invoke(cli, ["graph", str(app_dir), "-w", "trainig"])
    assert result.exit_code == 2
    assert "no workflow 'trainig'" in result.stderr
    result = runner.invoke(cli, ["graph", str(app_dir), "-o", str(tmp_path / "g.jpeg")])
    assert result.exit_code == 2 and ".svg" in result.stderr


def test_graph_command_reports_a_missing_application_as_a_usage_error(tmp_path):
    result = runner.invoke(cli, ["graph", str(tmp_path)])
    assert result.exit_code == 2 and "no application" in result.stderr
